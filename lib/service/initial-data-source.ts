/**
 * Reads the configured initial-data source (DATA_SOURCE=LOCAL_FILE|API|NONE) and applies it to an
 * empty store. Any failure (missing file, invalid JSON, API down, API_TIMEOUT) is one clear log line and
 * the documented fallback: nothing is loaded, the service starts with what the store holds.
 */
import { readFile } from "node:fs/promises";
import type { Gallery } from "../core/gallery.ts";
import {
  formatInitialDataStats,
  parseInitialDataText,
  type InitialDataReport,
  type ParseOptions,
} from "../core/initial-data.ts";
import type { EngineInfo } from "../core/schemas.ts";
import type { GalleryStore } from "../core/store.ts";
import { dataFilePath, type ServiceConfig } from "./config.ts";

export type Log = (level: "info" | "warn" | "error", message: string) => void;

export interface SourceText {
  /** e.g. "LOCAL_FILE ./data/initial_data.json" */
  source: string;
  text?: string;
  error?: string;
}

/** Fetches the source text; never throws (failures come back as `error`). */
export async function readInitialDataSource(
  config: Pick<ServiceConfig, "dataSource" | "dataFile" | "dataDir" | "apiUrl" | "apiTimeout">,
): Promise<SourceText> {
  if (config.dataSource === "LOCAL_FILE") {
    const path = dataFilePath(config as ServiceConfig);
    const source = `LOCAL_FILE ${path}`;
    try {
      return { source, text: await readFile(path, "utf8") };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return { source, error: code === "ENOENT" ? `file not found: ${path}` : `cannot read ${path}: ${(error as Error).message}` };
    }
  }
  if (config.dataSource === "API") {
    const url = config.apiUrl!;
    const source = `API ${url}`;
    try {
      const response = await fetch(url, {
        signal: AbortSignal.timeout(config.apiTimeout * 1000),
        headers: { accept: "application/json" },
      });
      if (!response.ok) return { source, error: `API answered HTTP ${response.status} ${response.statusText}` };
      return { source, text: await response.text() };
    } catch (error) {
      const name = (error as Error).name;
      if (name === "TimeoutError" || name === "AbortError") {
        return { source, error: `API did not answer within API_TIMEOUT=${config.apiTimeout} s` };
      }
      return { source, error: `API unreachable: ${(error as Error).message}` };
    }
  }
  return { source: "NONE" };
}

export interface LoadedSource extends SourceText {
  report?: InitialDataReport;
}

/** Reads and validates the source (no store involved): what check-data prints. */
export async function loadInitialData(
  config: Pick<ServiceConfig, "dataSource" | "dataFile" | "dataDir" | "apiUrl" | "apiTimeout">,
  options: ParseOptions = {},
): Promise<LoadedSource> {
  const src = await readInitialDataSource(config);
  if (src.error || src.text === undefined) return src;
  const report = parseInitialDataText(src.text, options);
  return { ...src, report, ...(report.errors.length > 0 ? { error: report.errors.join("; ") } : {}) };
}

export interface InitialDataOutcome {
  source: string;
  applied: boolean;
  /** Why nothing was applied (NONE, store not empty, error text). */
  reason?: string;
  report?: InitialDataReport;
  /** Store revision after the load. */
  revision?: number;
}

/**
 * Applies the configured source to the store if the store is empty (no companies); a non-empty store
 * wins, so a restart never re-imports over later changes.
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
  if (gallery.stats().companies > 0) {
    const reason = "the store already holds data; initial data is applied to an empty store only";
    log("info", `[initial-data] ${config.dataSource}: skipped: ${reason}`);
    return { source: config.dataSource, applied: false, reason };
  }
  const loaded = await loadInitialData(config, { expectedDim: engineInfo.embeddingDim, engineModel: engineInfo.modelId });
  if (loaded.error || !loaded.report) {
    const reason = loaded.error ?? "no data";
    log("error", `[initial-data] ${loaded.source}: ${reason}; starting without initial data (the store is kept as it is)`);
    return { source: loaded.source, applied: false, reason, report: loaded.report };
  }
  const report = loaded.report;
  log("info", formatInitialDataStats(report, loaded.source));
  for (const w of report.warnings) log("warn", `[initial-data] ${w}`);
  let revision: number;
  if (store.bulkLoad) revision = (await store.bulkLoad(report.data)).revision;
  else {
    revision = await store.revision();
    for (const c of report.data.companies) revision = (await store.createCompany(c)).revision;
    for (const u of report.data.users) revision = (await store.createUser(u.companyId, u.userId)).revision;
    for (const f of report.data.faces) revision = (await store.addFace(f)).revision;
  }
  return { source: loaded.source, applied: true, report, revision };
}
