/** facegate core: runtime-free schemas, errors, the FaceApi interface, the gallery and the store contract. */
export * from "./errors.ts";
export * from "./schemas.ts";
export * from "./api.ts";
export * from "./events.ts";
export type * from "./store.ts";
export type { Awaitable } from "./util.ts";
