/**
 * Status of a service: cache statistics (with each company's operating point) and health. Functions
 * of what the service holds, so the service class only composes them.
 */
import type { CacheStats, EngineCheck, EngineInfo, Gallery, GalleryStore, Health } from "../core/internal.ts";

export interface StatusSource {
  gallery: Gallery;
  store: GalleryStore;
  engineInfo: EngineInfo;
  /** The engine probe (cached); health is degraded when it fails. */
  engineCheck?: () => Promise<EngineCheck>;
  workerId: string;
  uptimeSeconds: number;
  tasks: number;
  /** FACE_RECOGNITION_THRESHOLD when set explicitly, else null (thresholds are per company). */
  explicitThreshold: number | null;
  /** Per company: the threshold in force and the false-positive identification rate expected at it. */
  operatingPoint(companyId: string): { threshold: number; source: string; expectedFpir: number | null };
}

/** Which companies the per-company maps hold: all, none (totals only), or one. */
export type StatsScope = { detail?: "totals" | "companies"; companyId?: string };

export function cacheStats(s: StatusSource, scope: StatsScope = {}): CacheStats {
  const g = s.gallery.stats();
  const companies: CacheStats["companies"] = {};
  const operatingPoints: Record<string, { threshold: number; source: string; expectedFpir: number | null }> = {};
  const mapped =
    scope.companyId !== undefined
      ? Object.entries(g.perCompany).filter(([id]) => id === scope.companyId)
      : scope.detail === "totals"
        ? []
        : Object.entries(g.perCompany);
  for (const [id, c] of mapped) {
    companies[id] = { users: c.users, faces: c.faces };
    operatingPoints[id] = s.operatingPoint(id);
  }
  return {
    companiesCount: g.companies,
    usersCount: g.users,
    facesCount: g.faces,
    embeddingsCount: g.embeddings,
    uptimeSeconds: s.uptimeSeconds,
    totalTasksProcessed: s.tasks,
    workerId: s.workerId,
    revision: g.revision,
    companies,
    cacheInfo: {
      store: s.store.kind,
      memoryBytes: g.bytes,
      recognitionThreshold: s.explicitThreshold,
      model: s.engineInfo.modelId,
      models: Object.fromEntries(mapped.map(([id, c]) => [id, c.model])),
      operatingPoints,
      skippedEvents: s.gallery.skipped,
    },
  };
}

export async function health(s: StatusSource): Promise<Health> {
  const t0 = performance.now();
  let storeRevision = -1;
  let storeError: string | undefined;
  try {
    storeRevision = await s.store.revision();
  } catch (error) {
    storeError = (error as Error).message;
  }
  const engineCheck = await s.engineCheck?.();
  const status: Health["status"] = storeError || (engineCheck && !engineCheck.ok) ? "degraded" : "ok";
  return {
    status,
    responseTimeMs: performance.now() - t0,
    workerInfo: { workerId: s.workerId, uptimeSeconds: s.uptimeSeconds, tasksProcessed: s.tasks },
    engine: s.engineInfo,
    ...(engineCheck ? { engineCheck } : {}),
    store: {
      kind: s.store.kind,
      revision: Math.max(0, storeRevision),
      galleryRevision: s.gallery.revision,
      ...(storeError ? { error: storeError } : {}),
    },
  };
}
