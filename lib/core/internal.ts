/**
 * facegate core, friend face: everything the other parts of facegate (engine, service, nats,
 * server), their tests and the benchmarks may use, the search kernels and the WebAssembly module
 * included. Not a package export: applications use mod.ts (nats.js keeps the same split as
 * internal_mod.ts / mod.ts). Runtime-free like every module it lists.
 */
export * from "./mod.ts";
export * from "./api.ts";
export * from "./company-index.ts";
export * from "./embedding-parts.ts";
export * from "./errors.ts";
export * from "./event-feed.ts";
export * from "./event-ids.ts";
export * from "./event-log.ts";
export * from "./events.ts";
export * from "./gallery.ts";
export * from "./initial-data-common.ts";
export * from "./initial-data-old.ts";
export * from "./idempotency.ts";
export * from "./initial-data.ts";
export * from "./initial-data-model.ts";
export * from "./int8-kernel.ts";
export * from "./listing.ts";
export * from "./memory-event-store.ts";
export * from "./memory-store.ts";
export * from "./schemas.ts";
export * from "./search-kernel.ts";
export * from "./store.ts";
export * from "./user-profile.ts";
export * from "./util.ts";
export * from "./vectors.ts";
export * from "./wasm-simd.ts";
