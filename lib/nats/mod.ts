/**
 * facegate/nats: scale-out over NATS.
 *
 *   // gateway / backend
 *   const client = await FaceClient.connect({ servers: process.env.NATS_URL });
 *   const who = await client.recognizeFace({ companyId: "acme", image: jpegBytes });
 *
 *   // worker (see server/compose/worker.ts for the whole stack)
 *   const store = await KvGalleryStore.open({ nc, bucket: "facegate" });
 *   const service = await LocalFaceService.create({ store });
 *   const worker = await FaceWorker.start({ nc, api: service, concurrency: 2 });
 */
export { FaceClient, type FaceClientOptions, type FaceClientConnectOptions, type WorkerSummary } from "./client.ts";
export { FaceWorker, type FaceWorkerOptions } from "./worker.ts";
export { ShardedFaceClient, connectFaceApi, isNoResponders, type ShardedFaceClientConnectOptions } from "./sharded-client.ts";
export { ShardMap, PlacementSchema, type Placement, type ShardMapOptions } from "./shard-map.ts";
export { ShardGuard, MOVE_RETRY_AFTER_SECONDS } from "./shard-guard.ts";
export { moveCompany, type MoveCompanyOptions, type MoveReport } from "./shard-move.ts";
export {
  DEFAULT_SHARD,
  hashShard,
  loadShardConfig,
  shardBucket,
  shardMapBucket,
  shardPrefix,
  type ShardConfig,
} from "./shards.ts";
export { KvGalleryStore, type KvGalleryStoreOptions } from "./kv-store.ts";
export { KvIdempotencyStore, DEFAULT_IDEMPOTENCY_BUCKET, DEFAULT_IDEMPOTENCY_TTL_MS, type KvIdempotencyStoreOptions } from "./idempotency.ts";
export { NatsEventLog, fromStreamEvent, toStreamEvent, type NatsEventLogOptions } from "./event-log.ts";
export { NatsEventSink, consumeEvents, ensureEventStream, eventSubject, type NatsEventSinkOptions, type ConsumeEventsOptions } from "./events.ts";
export {
  NatsConfigSchema,
  DEFAULT_MARKER_RETENTION_MS,
  loadNatsConfig,
  parseNatsConfig,
  connectionOptions,
  type NatsConfig,
  type NatsConfigInput,
} from "./config.ts";
export {
  SUBJECT_PREFIX,
  QUEUE_GROUP,
  STATS_SUBJECT,
  OPERATION_SPECS,
  WorkerStatsSchema,
  subjectFor,
  type WorkerStats,
} from "./protocol.ts";
export { encodeId, decodeId, companyKey, userKey, faceKey, parseKey } from "./keys.ts";
export { startNatsServer, freePort, type NatsServer, type NatsServerOptions } from "./server-process.ts";
export { startNatsCluster, type NatsCluster, type NatsClusterOptions } from "./nats-cluster.ts";
