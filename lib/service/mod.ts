/**
 * facegate/service: the operations of the old system in-process.
 *
 *   const service = await LocalFaceService.create();   // engine + SQLite store in DATA_DIR, initial data
 *   await service.createCompany({ companyId: "acme" });
 */
export { LocalFaceService, largestFace, type LocalFaceServiceOptions } from "./service.ts";
export {
  DEFAULT_FPIR_TARGET,
  ServiceConfigSchema,
  databasePath,
  dataFilePath,
  loadServiceConfig,
  parseServiceConfig,
  type ServiceConfig,
  type ServiceConfigInput,
} from "./config.ts";
export {
  CalibrationSchema,
  DEFAULT_PAIR_THRESHOLD,
  ThresholdPolicy,
  expectedFpir,
  farAt,
  farFromFpir,
  findCalibration,
  fpirFromFar,
  frrAt,
  loadCalibration,
  shippedCalibrationPath,
  thresholdForFpir,
  type Calibration,
  type CompanyOperatingSettings,
  type OperatingPointInForce,
  type ThresholdSource,
} from "./operating-point.ts";
export { ScanPool, sharedScanPool } from "./scan-pool.ts";
export { withIdempotency, withMemoryIdempotency, requestHash, IDEMPOTENT_WRITES, type GalleryProbe, type IdempotencyOptions, type IdempotentWrite } from "./idempotency.ts";
export { SqliteGalleryStore, type SqliteGalleryStoreOptions } from "./sqlite-store.ts";
export { SqliteEventStore, eventStoreFor } from "./sqlite-events.ts";
export {
  applyInitialData,
  loadInitialData,
  readInitialDataSource,
  type InitialDataOutcome,
  type LoadedSource,
  type SourceText,
} from "./initial-data-source.ts";
export { checkData, type CheckDataResult } from "./check-data.ts";
export { exportStore } from "./export-data.ts";
