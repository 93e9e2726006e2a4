/** What a composition (embedded or gateway) hands to the server: the FaceApi and its integration. */
import type { FaceApi } from "../../lib/core/mod.ts";
import type { Integration, IntegrationConfig, IntegrationOutput } from "../integration/mod.ts";
import type { Logger } from "../observe/logger.ts";

export type ClosableApi = FaceApi & { close(): Promise<void> };

export interface Composition {
  api: ClosableApi;
  /** The event log, its recorder and the webhooks. */
  integration: Integration;
}

export interface ComposeOptions {
  env: Record<string, string | undefined>;
  /** EVENTS_* and WEBHOOK_* settings (checked before listening). */
  integrationConfig: IntegrationConfig | undefined;
  logger: Logger;
  /** Where recorded events also go (MQTT: server/integration/site.ts). */
  outputs?: IntegrationOutput[];
}
