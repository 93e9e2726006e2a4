/** facegate core: runtime-free schemas, errors, the FaceApi interface, the gallery and the store contract. */
export * from "./errors.ts";
export * from "./schemas.ts";
export * from "./api.ts";
export * from "./events.ts";
export * from "./vectors.ts";
export type * from "./store.ts";
export type { Awaitable } from "./util.ts";
export * from "./gallery.ts";
export * from "./search-kernel.ts";
export * from "./int8-kernel.ts";
export { simdKernels } from "./wasm-simd.ts";
export * from "./memory-store.ts";
export * from "./initial-data.ts";
