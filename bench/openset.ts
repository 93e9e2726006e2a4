#!/usr/bin/env bun
/**
 * Open-set 1:N identification benchmark, through the service (what a user gets).
 *
 *   bun run bench:openset -- [--gallery 100,1000] [--variant one|two|both] [--images DIR]
 *                            [--fpir-target F] [--score mean|max] [--json OUT] [--svg OUT] [--seed N]
 *                            [--strangers N] [--concurrency N] [--targets 0.01,0.001]
 *                            [--embedders "fr_feature;fr_feature,mobilefacenet"] [--bands 0.05,0.1]
 *
 * --variant: one, two (both: the two), kiosk (people with 4+ photos enrolled from two, probed with the
 * normalised mean of two others' embeddings: the kiosk's aggregation over frames), flip (enrolled from
 * their first photo and its mirror image: the template is their mean), all.
 * --embedders: engine configurations (FACE_EMBEDDERS values, `;`-separated), each its own service on the
 * same photos. When fr_feature alone and a fusion both run, the cascade (the second model only when the
 * first model's best score is within ±band of its threshold at that FPIR) is simulated from the two runs'
 * per-photo outcomes: its FNIR and FPIR, and the share of faces that needed the second model.
 *
 * --targets: also report the operating points of these FPIR targets, set per company through
 * setOperatingPoint (the same photos, searched again: no more engine work).
 *
 * LFW dev: people with 2+ photos are enrolled (variant "one": from their first photo, probed with the
 * second; variant "two": people with 3+ photos, enrolled from the first two, probed with the third);
 * people with one photo are the strangers. The labelled face of an LFW photo is the central one. A gallery
 * of N people is a seeded sample (the smaller galleries are subsets of the larger). Every photo goes
 * through the service: enrollment with createUser/addFace, each probe and stranger photo once through
 * recognizeFaces (returnEmbeddings), its central face then searched in each gallery with searchEmbedding
 * (the operation a kiosk uses), so each photo costs the engine once whatever the number of galleries.
 *
 * Reports rank-1, TPIR (right person at or above the threshold), wrong person, FPIR (strangers accepted)
 * at the configured operating point (FACE_FPIR_TARGET, or --fpir-target / --score as service config),
 * FNIR at FPIR 1e-2, 3e-3 and 1e-3 (thresholds set on the strangers' scores; each with the number of
 * stranger scores above it, what the figure rests on), and a DET curve (SVG).
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { MemoryGalleryStore, type Recognition } from "../lib/core/mod.ts";
import { LocalFaceService } from "../lib/service/mod.ts";
import { progressBar } from "../server/cli/enroll.ts";
import sharp from "sharp";

const ArgsSchema = z.object({
  images: z.string().min(1),
  gallery: z
    .string()
    .regex(/^\d+(,\d+)*$/, "--gallery takes sizes like 100,1000")
    .transform((s) => s.split(",").map(Number).sort((a, b) => a - b)),
  variant: z
    .string()
    .regex(/^(one|two|both|kiosk|flip|all)(,(one|two|kiosk|flip))*$/, "--variant takes one, two, kiosk, flip (comma-separated), both (one,two) or all")
    .transform((s) => (s === "all" ? ["one", "two", "kiosk", "flip"] : s === "both" ? ["one", "two"] : s.split(","))),
  /** Engine configurations, `;`-separated FACE_EMBEDDERS values; each runs as its own service on the same photos. */
  embedders: z
    .string()
    .min(1)
    .transform((s) => s.split(";").map((c) => c.trim()).filter(Boolean)),
  /** Cascade bands (± around the first model's threshold) simulated when both fr_feature alone and a fusion ran. */
  bands: z
    .string()
    .regex(/^[0-9.]+(,[0-9.]+)*$/)
    .transform((s) => s.split(",").map(Number)),
  "fpir-target": z.coerce.number().positive().max(0.5).optional(),
  score: z.enum(["mean", "max"]).optional(),
  json: z.string().optional(),
  svg: z.string().optional(),
  seed: z.coerce.number().int().default(1),
  strangers: z.coerce.number().int().positive().optional(),
  targets: z
    .string()
    .regex(/^[0-9.e-]+(,[0-9.e-]+)*$/, "--targets takes FPIR targets like 0.01,0.001")
    .transform((s) => s.split(",").map(Number))
    .optional(),
  concurrency: z.coerce.number().int().min(1).max(16).default(Math.min(2, availableParallelism())),
});

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    images: { type: "string", default: join(process.env.FACEGATE_DATASETS ?? join(import.meta.dir, "../../shared/datasets"), "lfw-dev/images") },
    gallery: { type: "string", default: "100,1000" },
    variant: { type: "string", default: "both" },
    embedders: { type: "string", default: process.env.FACE_EMBEDDERS ?? "fr_feature" },
    bands: { type: "string", default: "0.05,0.1,0.15" },
    "fpir-target": { type: "string" },
    score: { type: "string" },
    json: { type: "string" },
    svg: { type: "string" },
    seed: { type: "string" },
    strangers: { type: "string" },
    targets: { type: "string" },
    concurrency: { type: "string" },
  },
  strict: true,
});
const parsed = ArgsSchema.safeParse(values);
if (!parsed.success) {
  console.error(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n"));
  process.exit(2);
}
const args = parsed.data;

// ---------------------------------------------------------------- data

const people = new Map<string, string[]>();
for (const person of readdirSync(args.images).sort()) {
  const files = readdirSync(join(args.images, person)).filter((f) => f.endsWith(".jpg")).sort();
  if (files.length > 0) people.set(person, files.map((f) => join(args.images, person, f)));
}
const strangers = [...people]
  .filter(([, f]) => f.length === 1)
  .map(([p, f]) => ({ person: p, file: f[0] }))
  .slice(0, args.strangers);

/** Seeded shuffle (mulberry32), so galleries are reproducible and nested. */
function shuffled<T>(items: T[], seed: number): T[] {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

interface Variant {
  name: "one" | "two" | "kiosk" | "flip";
  /** Photos enrolled per person; the probe is the next photo (kiosk: the mean of the next two). */
  photos: number;
  /** Probe photos averaged (the kiosk's aggregation of frames). */
  probePhotos: number;
  /** Enrolled with the mirror image of the photo as a second face. */
  mirror: boolean;
  pool: string[];
}
const withPhotos = (n: number) => [...people].filter(([, f]) => f.length >= n).map(([p]) => p);
const VARIANTS: Record<string, Omit<Variant, "pool"> & { need: number }> = {
  one: { name: "one", photos: 1, probePhotos: 1, mirror: false, need: 2 },
  two: { name: "two", photos: 2, probePhotos: 1, mirror: false, need: 3 },
  kiosk: { name: "kiosk", photos: 2, probePhotos: 2, mirror: false, need: 4 },
  flip: { name: "flip", photos: 1, probePhotos: 1, mirror: true, need: 2 },
};
const variants: Variant[] = args.variant.map((name) => ({ ...VARIANTS[name], pool: withPhotos(VARIANTS[name].need) }));

// ---------------------------------------------------------------- service

const baseEnv: Record<string, string | undefined> = { ...process.env, STORE: "memory", DATA_SOURCE: "NONE" };
if (args["fpir-target"] !== undefined) baseEnv.FACE_FPIR_TARGET = String(args["fpir-target"]);
if (args.score) baseEnv.FACE_USER_SCORE = args.score;
baseEnv.FACE_ENGINE_WORKERS ??= String(args.concurrency);

/** Runs `fn` over items, `concurrency` at a time, with a progress bar. */
async function pool<T>(label: string, items: T[], fn: (item: T) => Promise<void>, name: (item: T) => string): Promise<void> {
  const progress = progressBar(label);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item);
      progress({ done: ++done, total: items.length, user: name(item), file: "" });
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, worker));
}

/** The labelled face of an LFW photo: the one nearest the image centre (250x250). */
function central(faces: Recognition[]): Recognition | undefined {
  const d = (f: Recognition) => (f.bbox ? Math.hypot(f.bbox[0] + f.bbox[2] / 2 - 125, f.bbox[1] + f.bbox[3] / 2 - 125) : Infinity);
  return faces.reduce<Recognition | undefined>((a, b) => (a === undefined || d(b) < d(a) ? b : a), undefined);
}

interface Outcome {
  truth: string | null;
  /** Top match and its score (null: no face, or nobody enrolled). */
  top: string | null;
  score: number;
  decided: string | null;
}

interface Run {
  /** FACE_EMBEDDERS of the service, and its model id. */
  config: string;
  model: string;
  variant: string;
  /** "default" (the service's configuration) or the company's own FPIR target. */
  operatingPoint: string;
  photosPerPerson: number;
  gallery: number;
  enrolled: number;
  enrollFailures: number;
  probes: number;
  strangers: number;
  threshold: number;
  thresholdSource: string;
  expectedFpir: number | null;
  rank1: number;
  tpir: number;
  wrongPerson: number;
  fpir: number;
  /** FNIR at FPIR x, the threshold, and the number of stranger scores above it (what the figure rests on). */
  fnirAtFpir: Record<string, { fnir: number; threshold: number; strangersAbove: number }>;
  det: Array<[number, number]>;
}

const t0 = performance.now();
const runs: Run[] = [];
/** Per configuration, variant and gallery: each probe's and stranger's outcome at its threshold sweep (for the cascade). */
const outcomes = new Map<string, { gen: Outcome[]; imp: Outcome[] }>();
const FPIR_POINTS: Record<string, number> = { "1e-2": 1e-2, "3e-3": 3e-3, "1e-3": 1e-3 };
let engineInfo: ReturnType<LocalFaceService["engine"]["info"]> | undefined;
let serviceConfig: LocalFaceService["config"] | undefined;

/** The mirror image of a photo (JPEG), for the flip variant. */
async function mirrored(file: string): Promise<Uint8Array> {
  return new Uint8Array(await sharp(await Bun.file(file).bytes()).flop().jpeg({ quality: 95 }).toBuffer());
}

/** The normalised mean of embeddings (the kiosk's aggregation), or null when one is missing. */
function meanOf(list: (number[] | null | undefined)[]): number[] | null {
  if (list.some((e) => !e)) return null;
  const out = new Array<number>(list[0]!.length).fill(0);
  for (const e of list) e!.forEach((x, k) => (out[k] += x));
  const n = Math.hypot(...out);
  return n > 0 ? out.map((x) => x / n) : null;
}

for (const config of args.embedders) {
const env = { ...baseEnv, FACE_EMBEDDERS: config };
const service = await LocalFaceService.create({ env, store: new MemoryGalleryStore(), log: () => {} });
engineInfo = service.engine.info();
serviceConfig = service.config;
const probeEmbeddings = new Map<string, number[] | null>();

/** One engine pass per photo: recognizeFaces with embeddings in `companyId`, central face kept. */
async function embedPhoto(companyId: string, file: string): Promise<void> {
  if (probeEmbeddings.has(file)) return;
  const { faces } = await service.recognizeFaces({ companyId, image: await Bun.file(file).bytes(), returnEmbeddings: true });
  probeEmbeddings.set(file, central(faces)?.embedding ?? null);
}

for (const v of variants) {
  const order = shuffled(v.pool, args.seed);
  const sizes = args.gallery.map((n) => Math.min(n, order.length));
  const companies = sizes.map((n) => `${v.name}-${n}`);
  const failed = new Set<string>();
  for (const [i, n] of sizes.entries()) {
    const companyId = companies[i];
    await service.createCompany({ companyId });
    await pool(
      `enroll ${v.name} photo(s), ${n} people`,
      order.slice(0, n),
      async (person) => {
        const files = people.get(person)!;
        try {
          await service.createUser({ companyId, userId: person, faceId: "f0", image: await Bun.file(files[0]).bytes() });
          for (let k = 1; k < v.photos; k++) await service.addFace({ companyId, userId: person, faceId: `f${k}`, image: await Bun.file(files[k]).bytes() });
          if (v.mirror) await service.addFace({ companyId, userId: person, faceId: "f0-mirror", image: await mirrored(files[0]) });
        } catch (error) {
          failed.add(`${companyId}/${person}: ${(error as Error).message}`);
        }
      },
      (p) => p,
    );
  }
  const largest = companies[companies.length - 1];
  const probes = order.slice(0, sizes[sizes.length - 1]).map((p) => ({ person: p, files: people.get(p)!.slice(v.photos, v.photos + v.probePhotos) }));
  await pool(`probe photos (${v.name})`, probes.flatMap((p) => p.files.map((file) => ({ person: p.person, file }))), (p) => embedPhoto(largest, p.file), (p) => p.person);
  const probeEmbedding = (files: string[]) => (files.length === 1 ? (probeEmbeddings.get(files[0]) ?? null) : meanOf(files.map((f) => probeEmbeddings.get(f))));
  await pool("stranger photos", strangers, (s) => embedPhoto(largest, s.file), (s) => s.person);

  for (const target of [undefined, ...(args.targets ?? [])]) for (const [i, n] of sizes.entries()) {
    const companyId = companies[i];
    if (target !== undefined) await service.setOperatingPoint({ companyId, fpirTarget: target });
    const search = async (truth: string | null, files: string[]): Promise<Outcome & { threshold: number }> => {
      const embedding = probeEmbedding(files);
      const threshold = service.operatingPoint(companyId).threshold;
      if (!embedding) return { truth, top: null, score: -1, decided: null, threshold };
      const r = await service.searchEmbedding({ companyId, embedding });
      return { truth, top: r.matches[0]?.userId ?? null, score: r.matches[0]?.confidence ?? -1, decided: r.userId, threshold: r.threshold };
    };
    const gen = await Promise.all(probes.slice(0, n).map((p) => search(p.person, p.files)));
    const imp = await Promise.all(strangers.map((s) => search(null, [s.file])));
    if (target === undefined) outcomes.set(`${config}|${v.name}|${n}`, { gen, imp });
    const op = service.operatingPoint(companyId);
    const frac = (xs: Outcome[], f: (o: Outcome) => boolean) => xs.filter(f).length / xs.length;
    // thresholds at FPIR x: strangers' best scores, descending; accept above the (x·S)-th
    const strangerScores = imp.map((o) => o.score).sort((a, b) => b - a);
    const fnirAt = (x: number) => {
      const k = Math.floor(x * strangerScores.length);
      const t = strangerScores[Math.min(k, strangerScores.length - 1)];
      return { fnir: 1 - frac(gen, (o) => o.top === o.truth && o.score > t), threshold: t, strangersAbove: k };
    };
    // DET: every stranger score as a threshold (thinned to ~200 points)
    const det: Array<[number, number]> = [];
    const step = Math.max(1, Math.floor(strangerScores.length / 200));
    for (let k = 0; k < strangerScores.length; k += step) {
      const t = strangerScores[k];
      det.push([k / strangerScores.length, 1 - frac(gen, (o) => o.top === o.truth && o.score > t)]);
    }
    runs.push({
      config,
      model: engineInfo.modelId,
      variant: v.name,
      operatingPoint: target === undefined ? "default" : `FPIR target ${target}`,
      photosPerPerson: v.photos,
      gallery: n,
      enrolled: op.users,
      enrollFailures: [...failed].filter((f) => f.startsWith(`${companyId}/`)).length,
      probes: gen.length,
      strangers: imp.length,
      threshold: op.threshold,
      thresholdSource: op.source,
      expectedFpir: op.expectedFpir,
      rank1: frac(gen, (o) => o.top === o.truth),
      tpir: frac(gen, (o) => o.decided === o.truth),
      wrongPerson: frac(gen, (o) => o.decided !== null && o.decided !== o.truth),
      fpir: frac(imp, (o) => o.decided !== null),
      fnirAtFpir: Object.fromEntries(Object.entries(FPIR_POINTS).map(([k, x]) => [k, fnirAt(x)])),
      det,
    });
  }
}
await service.close();
}

// ---------------------------------------------------------------- cascade (simulated from the two runs)

/**
 * fr_feature decides alone when its best score is outside ±band of its threshold at FPIR x; inside the
 * band the fused run's outcome decides at the fused threshold of the same FPIR. Both thresholds are set
 * on the strangers' scores of their own run, as for the FNIR columns.
 */
interface CascadeRun {
  variant: string;
  gallery: number;
  band: number;
  fpirPoint: string;
  fpir: number;
  fnir: number;
  /** Faces (probes and strangers) that needed the second model. */
  secondModelShare: number;
}
const cascades: CascadeRun[] = [];
const fused = args.embedders.find((c) => c.includes(","));
if (args.embedders.includes("fr_feature") && fused) {
  const thresholdAt = (imp: Outcome[], x: number) => {
    const sorted = imp.map((o) => o.score).sort((a, b) => b - a);
    return sorted[Math.min(Math.floor(x * sorted.length), sorted.length - 1)];
  };
  for (const [key, single] of outcomes) {
    const [config, variant, n] = key.split("|");
    if (config !== "fr_feature") continue;
    const both = outcomes.get(`${fused}|${variant}|${n}`);
    if (!both) continue;
    for (const [point, x] of Object.entries(FPIR_POINTS)) {
      const ta = thresholdAt(single.imp, x);
      const tb = thresholdAt(both.imp, x);
      for (const band of args.bands) {
        let second = 0;
        const decide = (a: Outcome, b: Outcome) => {
          if (Math.abs(a.score - ta) > band) return a.score > ta ? a.top : null;
          second++;
          return b.score > tb ? b.top : null;
        };
        const gen = single.gen.map((a, i) => decide(a, both.gen[i]) === a.truth);
        const imp = single.imp.map((a, i) => decide(a, both.imp[i]) !== null);
        cascades.push({
          variant,
          gallery: Number(n),
          band,
          fpirPoint: point,
          fpir: imp.filter(Boolean).length / imp.length,
          fnir: 1 - gen.filter(Boolean).length / gen.length,
          secondModelShare: second / (gen.length + imp.length),
        });
      }
    }
  }
}

// ---------------------------------------------------------------- report

const pct = (x: number, d = 2) => `${(x * 100).toFixed(d)} %`;
const service = { config: serviceConfig! };
console.log(
  `\nopen-set identification, LFW dev through LocalFaceService, FACE_FPIR_TARGET=${service.config.fpirTarget}, ` +
    `FACE_USER_SCORE=${service.config.userScore}${service.config.recognitionThreshold !== undefined ? `, FACE_RECOGNITION_THRESHOLD=${service.config.recognitionThreshold}` : ""}\n`,
);
const at = (r: Run, k: string) => `${pct(r.fnirAtFpir[k].fnir)} (${r.fnirAtFpir[k].strangersAbove})`;
console.log("FNIR @ FPIR x: in brackets, the stranger scores above its threshold (what the figure rests on)\n");
console.log("| FACE_EMBEDDERS | operating point | variant | photos/person | gallery | probes | strangers | threshold (expected FPIR) | rank-1 | TPIR | wrong person | FPIR | FNIR @ FPIR 1e-2 | FNIR @ FPIR 3e-3 | FNIR @ FPIR 1e-3 |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of runs) {
  console.log(
    `| ${r.config} | ${r.operatingPoint} | ${r.variant} | ${r.photosPerPerson} | ${r.gallery} | ${r.probes} | ${r.strangers} | ${r.threshold.toFixed(3)} (${r.expectedFpir === null ? "n/a" : pct(r.expectedFpir)}) | ${pct(r.rank1)} | ${pct(r.tpir)} | ${pct(r.wrongPerson)} | ${pct(r.fpir)} | ${at(r, "1e-2")} | ${at(r, "3e-3")} | ${at(r, "1e-3")} |`,
  );
}
if (cascades.length > 0) {
  console.log(`\ncascade fr_feature → ${fused} (simulated from the two runs: the second model only within ±band of fr_feature's threshold)\n`);
  console.log("| variant | gallery | FPIR point | band | FPIR | FNIR | faces needing the second model |");
  console.log("|---|---|---|---|---|---|---|");
  for (const c of cascades) console.log(`| ${c.variant} | ${c.gallery} | ${c.fpirPoint} | ±${c.band} | ${pct(c.fpir)} | ${pct(c.fnir)} | ${pct(c.secondModelShare, 1)} |`);
}
const failures = runs.filter((r) => r.operatingPoint === "default").reduce((n, r) => n + r.enrollFailures, 0);
if (failures > 0) console.log(`\n${failures} enrollments refused (people left out of their gallery)`);
const seconds = (performance.now() - t0) / 1000;
console.log(`\n${seconds.toFixed(0)} s, load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);

function detSvg(all: Run[]): string {
  const rs = all.filter((r) => r.operatingPoint === "default");
  const W = 760;
  const H = 520;
  const m = { l: 70, r: 20, t: 40, b: 55 };
  const lx = (v: number) => Math.log10(Math.max(v, 1e-4));
  const ly = (v: number) => Math.log10(Math.max(v, 1e-3));
  const x = (v: number) => m.l + ((lx(v) + 4) / 4) * (W - m.l - m.r);
  const y = (v: number) => m.t + (-ly(v) / 3) * (H - m.t - m.b);
  const colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
  const grid: string[] = [];
  for (const v of [1e-4, 1e-3, 1e-2, 1e-1, 1]) {
    grid.push(`<line x1="${x(v)}" y1="${m.t}" x2="${x(v)}" y2="${H - m.b}" stroke="#e4e4e4"/><text x="${x(v)}" y="${H - m.b + 18}" text-anchor="middle">${v}</text>`);
  }
  for (const v of [1e-3, 1e-2, 1e-1, 1]) {
    grid.push(`<line x1="${m.l}" y1="${y(v)}" x2="${W - m.r}" y2="${y(v)}" stroke="#e4e4e4"/><text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`);
  }
  const lines = rs.map((r, i) => {
    const c = colors[i % colors.length];
    const pts = r.det.map(([f, n]) => `${x(f).toFixed(1)},${y(n).toFixed(1)}`).join(" ");
    return (
      `<polyline points="${pts}" fill="none" stroke="${c}" stroke-width="2"/>` +
      `<circle cx="${x(r.fpir)}" cy="${y(1 - r.tpir)}" r="5" fill="${c}"/>` +
      `<text x="${W - m.r - 300}" y="${m.t + 20 + i * 18}" fill="${c}">${r.config}, ${r.variant}, ${r.gallery} people: op. point FPIR ${pct(r.fpir)}, FNIR ${pct(1 - r.tpir)}</text>`
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">DET, open-set identification on LFW dev (dots: the configured operating point)</text>
${grid.join("\n")}
<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#888"/>
${lines.join("\n")}
<text x="${W / 2}" y="${H - 14}" text-anchor="middle">FPIR (strangers accepted as somebody)</text>
<text x="16" y="${H / 2}" text-anchor="middle" transform="rotate(-90 16 ${H / 2})">FNIR (enrolled people not identified)</text>
</svg>
`;
}

const write = (path: string, text: string) => {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
};
const svgPath = args.svg ?? (args.json ? args.json.replace(/\.json$/, "") + "-det.svg" : undefined);
if (svgPath) {
  write(svgPath, detSvg(runs));
  console.log(`DET curve: ${svgPath}`);
}
if (args.json) {
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, loadavg: loadavg() },
    engine: engineInfo,
    config: { fpirTarget: service.config.fpirTarget, userScore: service.config.userScore, recognitionThreshold: service.config.recognitionThreshold ?? null, embedders: args.embedders },
    seconds,
    runs,
    cascades,
  };
  write(args.json, `${JSON.stringify(result, null, 1)}\n`);
  console.log(`json: ${args.json}`);
}
