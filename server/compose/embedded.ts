/**
 * Embedded mode (the default): LocalFaceService (ONNX engine + SQLite in DATA_DIR) in this process;
 * the event log and the webhook outbox live in the gallery's database (memory with STORE=memory).
 */
import { availableParallelism } from "node:os";
import { eventStoreFor, LocalFaceService, withMemoryIdempotency } from "../../lib/service/mod.ts";
import { forgetDeletedCompanies, Integration } from "../integration/mod.ts";
import type { ComposeOptions, Composition } from "./composition.ts";

export async function composeEmbedded({ env: processEnv, integrationConfig, logger, outputs }: ComposeOptions): Promise<Composition> {
  // Inference in worker threads by default (one per core): onnxruntime-node's run() blocks the
  // calling thread, and the event loop must stay free for HTTP and kiosk WebSockets.
  const env = { FACE_ENGINE_WORKERS: String(availableParallelism()), ...processEnv };
  const service = await LocalFaceService.create({ env, log: (level, message) => logger[level](message) });
  try {
    const events = eventStoreFor(service.store);
    const integration = new Integration({
      log: events,
      outbox: events,
      outputs,
      config: integrationConfig,
      defaultThreshold: (companyId) => service.operatingPoint(companyId).threshold,
      logger: (level, msg, fields) => logger[level](msg, fields),
    });
    // a deleted company's events and webhook go with it
    await forgetDeletedCompanies(service.store, integration, (msg, fields) => logger.warn(msg, fields));
    // Writes with an Idempotency-Key run once (one process: the records live in memory, bounded).
    return { api: withMemoryIdempotency(service), integration };
  } catch (error) {
    await service.close().catch(() => undefined);
    throw error;
  }
}
