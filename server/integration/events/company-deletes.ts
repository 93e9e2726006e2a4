/**
 * When a company is deleted, whatever path deleted it (HTTP, CLI, a NATS client), its events and
 * webhook are removed: embedded from the gallery store's change feed (NATS mode:
 * ./company-deletes-nats.ts).
 */
import type { GalleryStore } from "../../../lib/core/mod.ts";
import type { Integration } from "../integration.ts";

type Warn = (msg: string, fields?: Record<string, unknown>) => void;

export function forget(integration: Integration, companyId: string, warn?: Warn): void {
  integration.forgetCompany(companyId).catch((error: unknown) => warn?.("events: could not forget a deleted company", { company: companyId, error: String(error) }));
}

/** Embedded: follows the store's change feed; returns the unsubscribe. */
export async function forgetDeletedCompanies(store: GalleryStore, integration: Integration, warn?: Warn): Promise<() => void> {
  return store.watch((e) => {
    if (e.type === "company.delete") forget(integration, e.companyId, warn);
  });
}
