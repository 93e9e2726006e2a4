/** The event log, attendance, live feed, webhooks and list routes: what a backend integrates with. */
import { FaceError } from "../../lib/core/mod.ts";
import type { Integration } from "../integration/mod.ts";
import { eventRoutes } from "./events/routes.ts";
import { listingRoutes } from "./listing/routes.ts";
import type { AnyRoute } from "./routes.ts";
import { webhookRoutes } from "./webhooks/routes.ts";

export type IntegrationSource = Integration | (() => Integration | undefined) | undefined;

/** Every integration route; the event and webhook routes answer 503 until `source` has one. */
export function integrationRoutes(source: IntegrationSource): AnyRoute[] {
  const get = (): Integration => {
    const i = typeof source === "function" ? source() : source;
    if (!i) throw new FaceError("UNAVAILABLE", "the event log is not available (the server is starting, or runs without one)");
    return i;
  };
  return [
    ...listingRoutes(),
    ...eventRoutes(() => get()),
    ...webhookRoutes(() => {
      const i = get();
      if (!i.webhookAdmin || !i.deliverer) throw new FaceError("UNAVAILABLE", "webhooks need a durable outbox, which this server does not have");
      const deliverer = i.deliverer;
      return { admin: i.webhookAdmin, kick: () => deliverer.kick(), destinations: i.destinations };
    }),
  ];
}
