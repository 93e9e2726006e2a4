/**
 * The messages between the engine pool (worker-pool.ts) and its worker threads (engine-worker.ts).
 * Messages: { id, op: "init" | "detect" | "embed" | "analyze" | "dispose", ... }.
 */
import type { EngineConfigInput } from "./config.ts";

export type WorkerRequest =
  | { id: number; op: "init"; config: Partial<EngineConfigInput> }
  | { id: number; op: "detect"; image: unknown; options?: unknown }
  | { id: number; op: "embed"; image: unknown; face: unknown }
  | { id: number; op: "analyze"; image: unknown; options?: unknown }
  | { id: number; op: "dispose" };

export type WorkerReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { code: string; message: string; name: string } };
