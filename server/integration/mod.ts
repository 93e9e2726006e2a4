/** The integration a backend builds on: the event log and its recorder, webhooks and their delivery. */
export { Integration, type IntegrationOptions, type IntegrationOutput } from "./integration.ts";
export { DEFAULT_INTEGRATION_CONFIG, loadIntegrationConfig, type IntegrationConfig } from "./config.ts";
export { EventRecorder, fromKioskEvent } from "./events/recorder.ts";
export { forgetDeletedCompanies } from "./events/company-deletes.ts";
export type { DecisionTiming, KioskSignal, NotLiveEvent } from "./signals.ts";
export { loadSiteConfig, SiteOutputs, type SiteConfig } from "./site.ts";
