/**
 * `facegate migrate <initial_db.json> <photos>`: re-enrolls the old system's people from their
 * original photos with this engine, through any FaceApi (a running server over HTTP, or the store
 * in-process). The old ids are kept; the old entries' extra fields become the name and metadata.
 *
 * The journal (one JSON line per finished face, fsynced) makes it resumable and crash-safe: a re-run
 * skips every face with a final outcome; a face written to the gallery but not yet to the journal
 * (a crash in between) is answered FACE_EXISTS by the server and counted as already there, never
 * enrolled twice. Missing photos and transient errors are tried again by the next run.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { FaceError, type FaceApi } from "../../lib/core/mod.ts";
import { enrollOne } from "../desk/enroll-one.ts";
import type { MigrateJob, MigratePlan } from "./migrate-plan.ts";

export type MigrateOutcome =
  | "enrolled"
  /** The gallery had the face already (enrolled by an earlier run, or by someone else). */
  | "already"
  /** Refused by the enrollment quality gate (FACE_QUALITY, FACE_TOO_SMALL, MULTIPLE_FACES): `reason` says why. */
  | "quality"
  | "no_face"
  | "invalid_image"
  | "photo_missing"
  /** The company holds faces of another model (loaded old vectors): delete them, or the company, first. */
  | "model_mismatch"
  | "failed";

/** Outcomes a re-run does not try again (the photo and the gate would say the same). */
const FINAL: ReadonlySet<MigrateOutcome> = new Set(["enrolled", "already", "quality", "no_face", "invalid_image"]);

export interface JournalEntry {
  company: string;
  user: string;
  face: string;
  outcome: MigrateOutcome;
  code?: string;
  reason?: string;
  at: string;
}

const key = (c: string, u: string, f: string) => `${c}\u0000${u}\u0000${f}`;

/** Append-only JSON lines, each fsynced before the next face: what is in it is done. */
export class Journal {
  private readonly fd: number;
  readonly done = new Map<string, JournalEntry>();

  constructor(readonly path: string) {
    if (existsSync(path)) {
      for (const line of readFileSync(path, "utf8").split("\n")) {
        if (line.trim() === "") continue;
        try {
          const e = JSON.parse(line) as JournalEntry;
          if (typeof e.company === "string" && typeof e.user === "string" && typeof e.face === "string") this.done.set(key(e.company, e.user, e.face), e);
        } catch {
          // a line torn by a crash: that face is simply done again (the gallery answers FACE_EXISTS if it got there)
        }
      }
    }
    this.fd = openSync(path, "a");
    // a torn last line must not swallow the next entry
    writeSync(this.fd, "");
  }

  /** The final outcome recorded for the face, or undefined (never done, or to be tried again). */
  final(job: MigrateJob): JournalEntry | undefined {
    const e = this.done.get(key(job.companyId, job.userId, job.faceId));
    return e && FINAL.has(e.outcome) ? e : undefined;
  }

  write(entry: JournalEntry): void {
    writeSync(this.fd, `\n${JSON.stringify(entry)}`);
    fsyncSync(this.fd);
    this.done.set(key(entry.company, entry.user, entry.face), entry);
  }

  close(): void {
    writeSync(this.fd, "\n");
    closeSync(this.fd);
  }
}

export interface MigrateReport {
  faces: number;
  /** Counts per outcome of this run; `skipped`: final in the journal already. */
  counts: Record<MigrateOutcome | "skipped", number>;
  /** Every face not enrolled (this run or before), with the reason. */
  problems: Array<{ company: string; user: string; face: string; outcome: MigrateOutcome; code?: string; reason?: string; photo?: string | null }>;
  usersWithoutFaces: MigratePlan["usersWithoutFaces"];
  warnings: string[];
  /** Set when a fatal error stopped the run (re-run to go on). */
  stopped?: { code: string; message: string };
}

export interface MigrateProgress {
  done: number;
  total: number;
  user: string;
  file: string;
}

export interface MigrateOptions {
  /** Users enrolled at once (each user's faces in order). Default 2. */
  concurrency?: number;
  onProgress?: (p: MigrateProgress) => void;
  readPhoto?: (path: string) => Uint8Array | null;
}

function readPhotoFile(path: string): Uint8Array | null {
  try {
    return new Uint8Array(readFileSync(path));
  } catch {
    return null;
  }
}

/** Runs the plan; never throws for a face (each has an outcome); a fatal error stops it (`stopped`). */
export async function runMigration(api: FaceApi, plan: MigratePlan, journal: Journal, options: MigrateOptions = {}): Promise<MigrateReport> {
  const counts: MigrateReport["counts"] = {
    enrolled: 0,
    already: 0,
    quality: 0,
    no_face: 0,
    invalid_image: 0,
    photo_missing: 0,
    model_mismatch: 0,
    failed: 0,
    skipped: 0,
  };
  const report: MigrateReport = { faces: plan.jobs.length, counts, problems: [], usersWithoutFaces: plan.usersWithoutFaces, warnings: plan.warnings };
  const read = options.readPhoto ?? readPhotoFile;
  for (const companyId of plan.companies) await api.createCompany({ companyId });

  const byUser = new Map<string, MigrateJob[]>();
  for (const job of plan.jobs) {
    const k = `${job.companyId}\u0000${job.userId}`;
    byUser.set(k, [...(byUser.get(k) ?? []), job]);
  }
  let done = 0;
  const tick = (job: MigrateJob) =>
    options.onProgress?.({ done: ++done, total: plan.jobs.length, user: job.userId, file: job.photo?.split("/").pop() ?? job.faceId });
  const problem = (job: MigrateJob, e: Pick<JournalEntry, "outcome" | "code" | "reason">) =>
    report.problems.push({ company: job.companyId, user: job.userId, face: job.faceId, ...e, photo: job.photo });

  const enrollFace = async (job: MigrateJob, userExists: boolean): Promise<Pick<JournalEntry, "outcome" | "code" | "reason">> => {
    if (job.photo === null) return { outcome: "photo_missing", reason: "no photo of this face in the folder or the mapping" };
    const image = read(job.photo);
    if (image === null) return { outcome: "photo_missing", reason: `${job.photo} cannot be read` };
    // throws what stops the run (the server, the key): the journal keeps what is done
    const r = await enrollOne(api, { companyId: job.companyId, userId: job.userId, faceId: job.faceId, image, profile: job.profile }, userExists);
    const outcome: MigrateOutcome = r.outcome === "duplicate" ? "already" : r.outcome === "error" ? "failed" : r.outcome;
    return { outcome, ...(r.code !== undefined && outcome !== "already" ? { code: r.code, reason: r.message } : {}) };
  };

  const migrateUser = async (jobs: MigrateJob[]): Promise<void> => {
    let exists: boolean | null = null;
    for (const job of jobs) {
      if (report.stopped) return;
      const before = journal.final(job);
      if (before) {
        counts.skipped++;
        if (before.outcome !== "enrolled" && before.outcome !== "already") problem(job, before);
        tick(job);
        continue;
      }
      // does the user exist already (an earlier run, or a crash between their creation and the journal)?
      exists ??= await api.getUser({ companyId: job.companyId, userId: job.userId }).then(
        () => true,
        (error: unknown) => {
          if (FaceError.is(error, "USER_NOT_FOUND")) return false;
          throw error;
        },
      );
      let r: Pick<JournalEntry, "outcome" | "code" | "reason">;
      try {
        r = await enrollFace(job, exists);
      } catch (error) {
        const e = FaceError.from(error);
        report.stopped = { code: e.code, message: e.message };
        return;
      }
      if (r.outcome === "enrolled" || r.outcome === "already") exists = true;
      journal.write({ company: job.companyId, user: job.userId, face: job.faceId, ...r, at: new Date().toISOString() });
      counts[r.outcome]++;
      if (r.outcome !== "enrolled" && r.outcome !== "already") problem(job, r);
      tick(job);
    }
  };

  const queue = [...byUser.values()];
  const workers = Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 2, queue.length)) }, async () => {
    for (let next = queue.shift(); next && !report.stopped; next = queue.shift()) {
      try {
        await migrateUser(next);
      } catch (error) {
        const e = FaceError.from(error);
        report.stopped ??= { code: e.code, message: e.message };
      }
    }
  });
  await Promise.all(workers);
  return report;
}

/** The report as the CLI prints it. */
export function formatMigrateReport(r: MigrateReport): string {
  const c = r.counts;
  const lines = [
    `migrate: ${r.faces} faces in the file`,
    `  enrolled now:           ${c.enrolled}`,
    `  already in the gallery: ${c.already}`,
    `  done by an earlier run: ${c.skipped} (from the journal)`,
    `  quality refusals:       ${c.quality}`,
    `  no face in the photo:   ${c.no_face}`,
    `  unreadable image:       ${c.invalid_image}`,
    `  photo missing:          ${c.photo_missing}`,
    ...(c.model_mismatch > 0 ? [`  model mismatch:         ${c.model_mismatch} (the company holds another model's faces: delete them first)`] : []),
    ...(c.failed > 0 ? [`  failed:                 ${c.failed}`] : []),
  ];
  if (r.usersWithoutFaces.length > 0) lines.push(`  people without any face id in the file (not created): ${r.usersWithoutFaces.length}`);
  for (const p of r.problems.slice(0, 30)) {
    lines.push(`  ${p.outcome.padEnd(14)} ${p.company}/${p.user}/${p.face}${p.reason ? `: ${p.reason}` : ""}`);
  }
  if (r.problems.length > 30) lines.push(`  ... and ${r.problems.length - 30} more (--report FILE lists them all)`);
  for (const w of r.warnings.slice(0, 10)) lines.push(`  warning: ${w}`);
  if (r.stopped) lines.push(`stopped: ${r.stopped.code}: ${r.stopped.message} (run it again to go on: the journal keeps what is done)`);
  return lines.join("\n");
}
