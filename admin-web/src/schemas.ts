/**
 * The answers the console reads, checked at the boundary. Unknown extra fields pass (servers add
 * fields); where a part of the API is still young (operating point) the schema accepts the
 * shapes it may take and normalises them.
 */
import { z } from "zod";

const Box = z.array(z.number()).length(4);

/** GET /v1/me: the key's reach; `scopes` (company or "*" → recognize | enroll | manage | admin) where the server has scopes. */
export const WhoAmI = z.object({
  key_id: z.string(),
  /** Servers before 2026-12 do not send it (they are never asked without a key). */
  auth_mode: z.enum(["keys", "open"]).optional(),
  admin: z.boolean(),
  companies: z.array(z.string()),
  scopes: z.record(z.string(), z.string()).optional(),
});
export type WhoAmI = z.infer<typeof WhoAmI>;

export const CompaniesPage = z.object({
  companies: z.array(z.object({ company_id: z.string(), users: z.number(), faces: z.number() })),
  total: z.number().optional(),
  next_cursor: z.string().nullable().optional(),
});
export type CompanySummary = z.infer<typeof CompaniesPage>["companies"][number];

export const UserInfo = z.object({ user_id: z.string(), name: z.string().optional(), face_ids: z.array(z.string()) });
export const UsersPage = z.object({
  users: z.array(z.object({ user_id: z.string(), name: z.string().optional(), faces: z.number() })),
  total: z.number().optional(),
  next_cursor: z.string().nullable().optional(),
});
export type UserSummary = z.infer<typeof UsersPage>["users"][number];

export const Stats = z.object({
  companies: z.record(z.string(), z.object({ users: z.number(), faces: z.number() })).optional(),
  /** The old system's per-company counts ({users, faces} per company id). */
  cache_info: z.record(z.string(), z.unknown()).optional(),
  /** Everything else (store, models, and in NATS mode `workers`). */
  server_info: z.record(z.string(), z.unknown()).optional(),
});

export const FaceIds = z.object({ face_ids: z.array(z.string()) });
export const Deleted = z.object({ deleted: z.boolean() });
export const CompanyCreated = z.object({ company_id: z.string(), created: z.boolean() });
export const Enrolled = z.object({
  face_id: z.string(),
  bbox: Box.nullable().optional(),
  detection_score: z.number().optional(),
  faces_found: z.number().optional(),
});
export const Detected = z.object({ faces_count: z.number(), bboxes: z.array(Box), scores: z.array(z.number()).optional() });

export const EventItem = z.object({
  id: z.string(),
  user_id: z.string(),
  name: z.string().optional(),
  confidence: z.number(),
  threshold: z.number().nullable().optional(),
  kiosk_id: z.string().nullable().optional(),
  source: z.string().optional(),
  at: z.string(),
  frames: z.number().nullable().optional(),
});
export type EventItem = z.infer<typeof EventItem>;
export const EventsPage = z.object({ events: z.array(EventItem), next_cursor: z.string().nullable().optional() });

export const Health = z.object({
  status: z.string(),
  response_time_ms: z.number().optional(),
  worker_info: z.object({ worker_id: z.string(), uptime_seconds: z.number().optional(), tasks_processed: z.number().optional() }).partial().optional(),
  engine: z.record(z.string(), z.unknown()).optional(),
  store: z.record(z.string(), z.unknown()).optional(),
});
export type Health = z.infer<typeof Health>;

/** NATS mode: /v1/stats `server_info.workers`, one entry per worker that answered. */
export const WorkerList = z.array(
  z.object({
    worker_id: z.string(),
    status: z.string().optional(),
    draining: z.boolean().optional(),
    in_flight: z.number().optional(),
    backlog: z.number().optional(),
    processed: z.number().optional(),
    failed: z.number().optional(),
    revision: z.number().optional(),
    uptime_seconds: z.number().optional(),
  }),
);

/** One point of the calibration: threshold, per-comparison false accepts, false rejects, and FPIR for this company when given. */
export interface CurvePoint {
  threshold: number;
  far: number;
  frr: number | null;
  fpir: number | null;
}

export interface OperatingPoint {
  gallerySize: number;
  threshold: number;
  source: string;
  fpirTarget: number | null;
  expectedFpir: number | null;
  expectedFnir: number | null;
  /** The company has its own setting (PUT with both null returns it to the defaults). */
  hasSetting: boolean;
  calibrationSource: string | null;
  curve: CurvePoint[];
  bounds: { threshold: [number, number]; fpirTarget: [number, number] };
  raw: Record<string, unknown>;
}

const num = z.number();
const numOrNull = z.number().nullable().optional();
const PointObject = z.object({
  threshold: num,
  far: num,
  frr: numOrNull,
  fpir: numOrNull,
  expected_fpir: numOrNull,
});
const ArraysCurve = z.object({
  thresholds: z.array(num),
  far: z.array(num),
  frr: z.array(num).optional(),
  fpir: z.array(num).optional(),
});
const Range = z.union([z.tuple([num, num]), z.object({ min: num, max: num }).transform((r): [number, number] => [r.min, r.max])]);

/**
 * GET/PUT /v1/companies/:company/operating-point: `users` (the gallery size N), the threshold in
 * force and its source, the target, expected FPIR/FRR, bounds, and the calibration curve (FAR, FRR
 * and the FPIR expected at this company's size, per threshold). `gallery_size` and flat curves are
 * read as well.
 */
export const OperatingPointBody = z
  .object({
    users: num.optional(),
    gallery_size: num.optional(),
    threshold: num,
    source: z.string().optional(),
    fpir_target: numOrNull,
    expected_fpir: numOrNull,
    expected_fnir: numOrNull,
    expected_frr: numOrNull,
    settings: z.object({ fpir_target: num.optional(), threshold: num.optional() }).nullable().optional(),
    curve: z.union([z.array(PointObject), ArraysCurve]).optional(),
    calibration: z
      .union([z.array(PointObject), ArraysCurve, z.object({ curve: z.union([z.array(PointObject), ArraysCurve]), source: z.string().optional(), model: z.string().optional() }).loose()])
      .nullable()
      .optional(),
    points: z.array(PointObject).optional(),
    bounds: z
      .object({ threshold: Range.optional(), fpir_target: Range.optional() })
      .optional(),
  })
  .loose()
  .transform((b): OperatingPoint => {
    const cal = b.calibration && !Array.isArray(b.calibration) && "curve" in b.calibration ? b.calibration.curve : b.calibration;
    const source = b.curve ?? cal ?? b.points ?? [];
    const curve: CurvePoint[] = Array.isArray(source)
      ? source.map((p) => ({ threshold: p.threshold, far: p.far, frr: p.frr ?? null, fpir: p.fpir ?? p.expected_fpir ?? null }))
      : source.thresholds.map((t, i) => ({ threshold: t, far: source.far[i], frr: source.frr?.[i] ?? null, fpir: source.fpir?.[i] ?? null }));
    curve.sort((a, b2) => a.threshold - b2.threshold);
    return {
      gallerySize: b.users ?? b.gallery_size ?? 0,
      threshold: b.threshold,
      source: b.source ?? "",
      fpirTarget: b.fpir_target ?? null,
      expectedFpir: b.expected_fpir ?? null,
      expectedFnir: b.expected_fnir ?? b.expected_frr ?? null,
      hasSetting: !!b.settings && (b.settings.fpir_target !== undefined || b.settings.threshold !== undefined),
      calibrationSource: b.calibration && !Array.isArray(b.calibration) && "curve" in b.calibration ? (b.calibration.source ?? null) : null,
      curve,
      bounds: {
        threshold: b.bounds?.threshold ?? [0.3, 0.99],
        fpirTarget: b.bounds?.fpir_target ?? [1e-4, 0.1],
      },
      raw: b as Record<string, unknown>,
    };
  });
