/**
 * Reads the configured initial-data source (DATA_SOURCE=LOCAL_FILE|API|NONE) and applies it to a new
 * store. Log lines are the old workers' (operators grep for them: "Loading initial data from ...",
 * "Loaded N companies", "Data consistency validation passed", the statistics block, "Data file not
 * found: ..., starting with empty data", "API request timed out after 30 seconds", "Invalid JSON in data
 * file: ..."). Any failure is one log line and the documented fallback: nothing is loaded, the service
 * starts with what the store holds.
 *
 * "A new store" = never initialised: the load writes a marker with the records (GalleryStore
 * `bulkLoad(..., { markInitialised })`), so a store whose companies were all deleted stays empty after
 * a restart. A store without the marker but with data (written before markers existed, or by the API
 * while no initial data was configured) counts as initialised too.
 */
import { readFile } from "node:fs/promises";
import {
  type EngineInfo,
  type Gallery,
  type GalleryStore,
  initialDataLogLines,
  type InitialDataReport,
  parseInitialDataText,
  type ParseOptions,
} from "../core/internal.ts";
import { dataFilePath, type ServiceConfig } from "./config.ts";

export type Log = (level: "info" | "warn" | "error", message: string) => void;

type SourceConfig = Pick<ServiceConfig, "dataSource" | "dataFile" | "dataDir" | "apiUrl" | "apiTimeout" | "initialDataModel">;

export interface SourceText {
  /** e.g. "LOCAL_FILE ./data/initial_db.json", "API http://...", "NONE" */
  source: string;
  /** "Loading initial data from local file: ./data/initial_db.json" (the old workers' first line). */
  loading?: string;
  text?: string;
  /** Why there is no text, in the old workers' words. */
  error?: string;
  /** A missing file is a warning in the old system (an empty start is what was asked for); the rest are errors. */
  errorLevel?: "warn" | "error";
}

/** Fetches the source text; never throws (failures come back as `error`). */
export async function readInitialDataSource(config: SourceConfig): Promise<SourceText> {
  if (config.dataSource === "LOCAL_FILE") {
    const path = dataFilePath(config as ServiceConfig);
    const base = { source: `LOCAL_FILE ${path}`, loading: `Loading initial data from local file: ${path}` };
    try {
      return { ...base, text: await readFile(path, "utf8") };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return { ...base, error: `Data file not found: ${path}`, errorLevel: "warn" };
      return { ...base, error: `Cannot read data file ${path}: ${(error as Error).message}`, errorLevel: "error" };
    }
  }
  if (config.dataSource === "API") {
    const url = config.apiUrl!;
    const base = { source: `API ${url}`, loading: `Loading initial data from API: ${url}` };
    try {
      const response = await fetch(url, {
        signal: AbortSignal.timeout(config.apiTimeout * 1000),
        headers: { accept: "application/json" },
      });
      if (!response.ok) {
        return { ...base, error: `API request failed: HTTP ${response.status} ${response.statusText}`.trimEnd(), errorLevel: "error" };
      }
      return { ...base, text: await response.text() };
    } catch (error) {
      const name = (error as Error).name;
      if (name === "TimeoutError" || name === "AbortError") {
        return { ...base, error: `API request timed out after ${config.apiTimeout} seconds (API_TIMEOUT)`, errorLevel: "error" };
      }
      return { ...base, error: `API request failed: ${(error as Error).message}`, errorLevel: "error" };
    }
  }
  return { source: "NONE" };
}

export interface LoadedSource extends SourceText {
  report?: InitialDataReport;
}

/** Reads and validates the source (no store involved): what check-data prints. */
export async function loadInitialData(config: SourceConfig, options: ParseOptions = {}): Promise<LoadedSource> {
  const src = await readInitialDataSource(config);
  if (src.error || src.text === undefined) return src;
  const report = parseInitialDataText(src.text, options);
  if (report.errors.length === 0) return { ...src, report };
  // the old workers' words for a file that is not JSON; ours for JSON of the wrong shape
  const what = config.dataSource === "API" ? "from API" : "in data file";
  // a refusal is its own message (the three ways out), not "invalid data"
  if (report.errorCode) return { ...src, report, error: report.errors.join("; "), errorLevel: "error" };
  const error = report.errors
    .map((e) => (e.startsWith("invalid JSON: ") ? `Invalid JSON ${what}: ${e.slice("invalid JSON: ".length)}` : `Invalid initial data ${what}: ${e}`))
    .join("; ");
  return { ...src, report, error, errorLevel: "error" };
}

/** Every line the old workers logged for a source (loading, counts, consistency, statistics). */
export function sourceLogLines(loaded: LoadedSource): Array<{ level: "info" | "warn" | "error"; message: string }> {
  const lines: Array<{ level: "info" | "warn" | "error"; message: string }> = [];
  if (loaded.loading) lines.push({ level: "info", message: loaded.loading });
  if (loaded.error || !loaded.report) {
    lines.push({ level: loaded.errorLevel ?? "error", message: `${loaded.error ?? "no data"}, starting with empty data` });
    return lines;
  }
  const report = initialDataLogLines(loaded.report);
  // the old API loader said so between the counts and the consistency check
  const counts = report.findIndex((l) => l.message.startsWith("Loaded ") && l.message.endsWith(" embeddings"));
  if (loaded.source.startsWith("API ")) report.splice(counts + 1, 0, { level: "info", message: "Successfully loaded data from API" });
  return [...lines, ...report];
}

export interface InitialDataOutcome {
  source: string;
  applied: boolean;
  /** Why nothing was applied (NONE, store initialised, error text). */
  reason?: string;
  report?: InitialDataReport;
  /** Store revision after the load. */
  revision?: number;
}

/**
 * Applies the configured source once per store: never to a store that was initialised before (the
 * marker) or holds data, so a restart never re-imports over later changes, deletions included.
 */
export async function applyInitialData(args: {
  config: ServiceConfig;
  store: GalleryStore;
  gallery: Gallery;
  engineInfo: EngineInfo;
  log: Log;
}): Promise<InitialDataOutcome> {
  const { config, store, gallery, engineInfo, log } = args;
  if (config.dataSource === "NONE") return { source: "NONE", applied: false, reason: "DATA_SOURCE=NONE" };
  const initialised = (await store.isInitialised?.()) ?? false;
  if (initialised || gallery.stats().companies > 0) {
    const reason = initialised
      ? "the store was initialised before (its data may have been changed or deleted since); initial data is applied once"
      : "the store already holds data; initial data is applied to a new store only";
    log("info", `Initial data (${config.dataSource}) skipped: ${reason}`);
    return { source: config.dataSource, applied: false, reason };
  }
  const loaded = await loadInitialData(config, {
    expectedDim: engineInfo.embeddingDim,
    engineModel: engineInfo.modelId,
    declaredModel: config.initialDataModel,
    servedModels: (engineInfo.parts ?? []).map((p) => ({ model: p.modelId, dim: p.dim })),
  });
  for (const line of sourceLogLines(loaded)) log(line.level, line.message);
  if (loaded.error || !loaded.report) {
    return { source: loaded.source, applied: false, reason: loaded.error ?? "no data", report: loaded.report };
  }
  const report = loaded.report;
  let revision: number;
  if (store.bulkLoad) revision = (await store.bulkLoad(report.data, { markInitialised: true })).revision;
  else {
    revision = await store.revision();
    for (const c of report.data.companies) revision = (await store.createCompany(c)).revision;
    for (const u of report.data.users) revision = (await store.createUser(u.companyId, u.userId)).revision;
    for (const f of report.data.faces) revision = (await store.addFace(f)).revision;
  }
  return { source: loaded.source, applied: true, report, revision };
}
