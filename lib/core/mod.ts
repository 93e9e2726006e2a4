/** facegate core: runtime-free schemas, errors, the FaceApi interface, the gallery and the store contract. */
export * from "./errors.ts";
export * from "./schemas.ts";
export * from "./api.ts";
export {
  CompanySummarySchema,
  DEFAULT_LIST_LIMIT,
  ListCompaniesRequestSchema,
  ListCompaniesResultSchema,
  ListUsersRequestSchema,
  ListUsersResultSchema,
  pageOf,
  UserSummarySchema,
  type ListCompaniesRequest,
  type ListCompaniesResult,
  type ListUsersRequest,
  type ListUsersResult,
} from "./listing.ts";
export * from "./events.ts";
export {
  decodeCursor,
  deliveryKey,
  encodeCursor,
  EventFeed,
  eventIdTime,
  EventOrderSchema,
  EventRecordSchema,
  EventSourceSchema,
  eventToWire,
  IdCursorAnySchema,
  IdCursorSchema,
  MemoryEventStore,
  newEventId,
  NewEventSchema,
  WebhookConfigSchema,
  webhookPayload,
  type Delivery,
  type EventListener,
  type EventLog,
  type EventPage,
  type EventQuery,
  type EventRecord,
  type EventStore,
  type NewEvent,
  type WebhookConfig,
  type WebhookOutbox,
  type WebhookStatus,
} from "./event-log.ts";
export * from "./vectors.ts";
export type * from "./store.ts";
export type { Awaitable } from "./util.ts";
export * from "./gallery.ts";
export * from "./search-kernel.ts";
export * from "./int8-kernel.ts";
export { simdKernels } from "./wasm-simd.ts";
export * from "./memory-store.ts";
export * from "./initial-data.ts";
