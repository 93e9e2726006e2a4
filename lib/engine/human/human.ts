/**
 * The second engine: @vladmandic/human 3.3.6 on TensorFlow.js (blazeface → facemesh → faceres,
 * 1024-d descriptors), with its anti-spoofing and liveness models. Images are decoded with sharp and
 * handed to tfjs as tensors (no canvas). Backend ladder: tfjs-node-gpu → tfjs-node → wasm.
 *
 * Human keeps per-process state (model handles, frame caches), so every call goes through one queue;
 * frame caching is switched off (`cacheSensitivity: 0`) because consecutive requests are unrelated images.
 */
import type * as tfc from "@tensorflow/tfjs-core";
import type { Config, FaceResult } from "@vladmandic/human";
import { z } from "zod";
import { FaceError, l2normalize, type DetectedFace, type EngineInfo } from "../../core/mod.ts";
import { byPreference } from "../boxes.ts";
import { HUMAN_BACKENDS, loadHumanBackend, type HumanBackend, type HumanInstance } from "./human-backend.ts";
import { boxIou, MESH_POINTS, meshBounds, meshFivePoints } from "./human-landmarks.ts";
import { HUMAN_MODELS, MODEL_SCHEME, humanModelFiles, registerHumanModelRouter } from "./human-models.ts";
import { DEFAULT_IMAGE_LIMITS, fromDownscaled, toDecoded, type ImageLimits } from "../image/image.ts";
import type { AnalyzeOptions, AnalyzedFace, DecodedImage, DetectOptions, FaceEngine, ImageSource } from "../types.ts";

export const HUMAN_VERSION = "3.3.6";
export const HUMAN_MODEL_ID = `human-faceres@${HUMAN_VERSION}`;
export const HUMAN_EMBEDDING_DIM = 1024;
/**
 * Two scores decide what is a face. Blazeface's runs 0.38-0.97 on the real faces of the test photos
 * (0.53-0.92 on the face-api demo photos), so the ONNX detector's FACE_DETECTION_THRESHOLD (0.7)
 * would lose a third of them: Human has its own, lower threshold. The facemesh confidence then
 * separates faces (0.8-1.0) from the false positives of scenes/noface (a mandrill's eyes, fish:
 * at most 0.62), which blazeface scores up to 0.48.
 */
export const HUMAN_DEFAULT_THRESHOLD = 0.3;
export const HUMAN_DEFAULT_MESH_THRESHOLD = 0.75;
const DEFAULT_MIN_FACE_SIZE = 40;
/** Border added (fraction of the longest side) when a first pass finds no face. */
const PAD_FRACTION = 0.25;
/** Longest side (decoded pixels) up to which an image counts as a possible tight crop. */
const PAD_MAX_SIDE = 400;
/** Faces overlapping more than this (mesh boxes) are one face seen twice by blazeface. */
const DUPLICATE_IOU = 0.3;

/**
 * Options: a structural subset of the engine configuration (`EngineConfig` passes as it is) plus
 * Human-only keys. Unknown keys are ignored.
 */
export const HumanEngineOptionsSchema = z.looseObject({
  /**
   * Score a face needs, applied to blazeface and to the facemesh confidence. The engine-wide
   * `detectionThreshold` is the ONNX detector's and is ignored here (different score scale).
   * Default: HUMAN_DETECTION_THRESHOLD, else 0.3.
   */
  humanDetectionThreshold: z.number().min(0).max(1).optional(),
  /** Facemesh confidence a face needs (default 0.75). */
  humanMeshThreshold: z.number().min(0).max(1).optional(),
  /** Faces narrower or lower than this (original pixels) are dropped; default 40 like MIN_FACE_SIZE. */
  minFaceSize: z.number().min(0).optional(),
  /** Models folder; default `modelsDir()` (FACEGATE_MODELS_DIR or models/). */
  modelsDir: z.string().min(1).optional(),
  imageLimits: z
    .looseObject({
      maxBytes: z.number().int().positive().optional(),
      maxPixels: z.number().int().positive().optional(),
      maxDimension: z.number().int().positive().optional(),
      downscaleTo: z.number().int().positive().optional(),
    })
    .optional(),
  /** TF backend: auto walks the ladder; default HUMAN_BACKEND, else auto. */
  humanBackend: z.enum(["auto", ...HUMAN_BACKENDS]).optional(),
  /** Most faces detected per image. */
  maxDetected: z.number().int().positive().max(500).optional(),
});
export type HumanEngineOptions = z.input<typeof HumanEngineOptionsSchema>;

/** A face with Human's presentation-attack scores, both in [0, 1], higher = more likely a live, real face. */
export interface LivenessScores {
  /** Human's `antispoof` model: probability that the face is real (not a printed photo or a screen). */
  antispoof: number;
  /** Human's `liveness` model: probability that the face is live. */
  liveness: number;
}

export type HumanDetectedFace = DetectedFace & Partial<LivenessScores>;
export type HumanAnalyzedFace = AnalyzedFace & Partial<LivenessScores>;
export type LivenessFace = DetectedFace & LivenessScores;

export interface HumanAnalyzeOptions extends AnalyzeOptions {
  /** Also run the anti-spoofing and liveness models and add their scores to each face. */
  liveness?: boolean;
}

export interface HumanBackendInfo {
  backend: HumanBackend;
  tfjs: { core: string; converter?: string; backend?: string };
  warnings: string[];
  /** Why earlier steps of the backend ladder were skipped. */
  skipped: string[];
}

/** The Human engine: a FaceEngine plus anti-spoofing/liveness scores. */
export interface HumanEngine extends FaceEngine {
  analyze(image: ImageSource, options?: HumanAnalyzeOptions): Promise<HumanAnalyzedFace[]>;
  /** Faces (best first) with anti-spoofing and liveness scores, without embeddings. */
  livenessScores(image: ImageSource): Promise<LivenessFace[]>;
  backendInfo(): HumanBackendInfo;
  /** tfjs tensors alive (model weights included): constant between calls unless something leaks. */
  memory(): { tensors: number; bytes: number };
}

interface Region {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Pass {
  description: boolean;
  liveness: boolean;
}

/** One face of a Human pass, already in original-image coordinates. */
interface Found {
  face: HumanDetectedFace;
  embedding?: Float32Array;
}

function humanConfig(opts: { threshold: number; maxDetected: number }): Partial<Config> {
  const off = { enabled: false };
  const noSkip = { skipFrames: 0, skipTime: 0 };
  return {
    debug: false,
    async: true,
    warmup: "none",
    cacheModels: false,
    cacheSensitivity: 0,
    modelBasePath: MODEL_SCHEME,
    validateModels: false,
    filter: { enabled: false } as Config["filter"],
    face: {
      enabled: true,
      detector: {
        modelPath: "blazeface.json",
        rotation: true,
        maxDetected: opts.maxDetected,
        minConfidence: opts.threshold,
        minSize: 0,
        iouThreshold: 0.1,
        scale: 1.4,
        mask: false,
        return: false,
        ...noSkip,
      },
      mesh: { enabled: true, modelPath: "facemesh.json", keepInvalid: false },
      attention: off,
      iris: off,
      emotion: off,
      gear: off,
      description: { enabled: true, modelPath: "faceres.json", minConfidence: 0, ...noSkip },
      antispoof: { enabled: true, modelPath: "antispoof.json", ...noSkip },
      liveness: { enabled: true, modelPath: "liveness.json", ...noSkip },
    } as Config["face"],
    body: off as Config["body"],
    hand: off as Config["hand"],
    object: off as Config["object"],
    gesture: off as Config["gesture"],
    segmentation: off as Config["segmentation"],
  };
}

function passConfig(pass: Pass): Partial<Config> {
  return {
    face: {
      description: { enabled: pass.description },
      antispoof: { enabled: pass.liveness },
      liveness: { enabled: pass.liveness },
    } as Config["face"],
  };
}

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

/** Keeps the preferred face of every overlapping group (input sorted by preference). */
function dropDuplicates(found: Found[]): Found[] {
  const kept: Found[] = [];
  for (const f of found) if (kept.every((k) => boxIou(k.face.bbox, f.face.bbox) <= DUPLICATE_IOU)) kept.push(f);
  return kept;
}

/** Serialises calls: Human and the wasm backend are single-threaded and keep per-call state. */
class Queue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(job: () => Promise<T>): Promise<T> {
    const next = this.tail.then(job, job);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** Human's bundle keeps module-level state (models, box caches): one queue for every engine of the process. */
const processQueue = new Queue();

class HumanFaceEngine implements HumanEngine {
  private readonly queue = processQueue;
  /** Full passes (with descriptors) per decoded image, so detect → embed on one image runs once. */
  private readonly passes = new WeakMap<DecodedImage, Promise<Found[]>>();
  private disposed = false;

  constructor(
    private readonly human: HumanInstance,
    private readonly loaded: HumanBackendInfo,
    private readonly limits: ImageLimits,
    private readonly minFaceSize: number,
    private readonly meshThreshold: number,
  ) {}

  private get tf(): typeof tfc {
    return this.human.tf;
  }

  info(): EngineInfo {
    return {
      engine: "human",
      backend: this.loaded.backend,
      modelId: HUMAN_MODEL_ID,
      embeddingDim: HUMAN_EMBEDDING_DIM,
      models: HUMAN_MODELS.map((m) => `human-${m}@${HUMAN_VERSION}`),
    };
  }

  backendInfo(): HumanBackendInfo {
    return this.loaded;
  }

  memory(): { tensors: number; bytes: number } {
    const m = this.tf.memory();
    return { tensors: m.numTensors, bytes: m.numBytes };
  }

  /**
   * Runs Human on the decoded image. Blazeface misses faces that fill the whole frame (tight crops
   * such as labelled/bbt): when the whole image gives no face, it runs again on the image with a
   * gray border of a quarter of its longest side. Only small images get that second pass: on the
   * 512 px mandrill of scenes/noface it finds a "face".
   */
  private async run(img: DecodedImage, pass: Pass): Promise<Found[]> {
    const found = await this.runOn(img, pass, {});
    if (found.length > 0 || Math.max(img.width, img.height) > PAD_MAX_SIDE) return found;
    return this.runOn(img, pass, { pad: Math.round(Math.max(img.width, img.height) * PAD_FRACTION) });
  }

  /** One Human pass on a region of the image (whole image by default), optionally padded. */
  private runOn(img: DecodedImage, pass: Pass, at: { region?: Region; pad?: number }): Promise<Found[]> {
    if (this.disposed) return Promise.reject(new FaceError("UNAVAILABLE", "the Human engine has been disposed"));
    const { region, pad = 0 } = at;
    return this.queue.run(async () => {
      const tf = this.tf;
      const input = tf.tidy(() => {
        const full = tf.tensor4d(img.data, [1, img.height, img.width, 3], "int32");
        const part = region ? tf.slice(full, [0, region.y, region.x, 0], [1, region.h, region.w, 3]) : full;
        return pad > 0 ? tf.pad(part, [[0, 0], [pad, pad], [pad, pad], [0, 0]], 128) : part;
      });
      let res;
      try {
        res = await this.human.detect(input, passConfig(pass));
      } finally {
        tf.dispose(input);
      }
      if (res.error) throw new FaceError("INTERNAL", `Human failed: ${res.error}`);
      const dx = (region?.x ?? 0) - pad;
      const dy = (region?.y ?? 0) - pad;
      const found: Found[] = [];
      for (const f of res.face) {
        if (f.tensor) tf.dispose(f.tensor);
        const one = this.toFound(f, pass, img, dx, dy);
        if (one) found.push(one);
      }
      return dropDuplicates(found.sort((a, b) => byPreference(a.face, b.face)));
    });
  }

  private toFound(f: FaceResult, pass: Pass, img: DecodedImage, dx: number, dy: number): Found | undefined {
    const s = img.scale;
    if (f.mesh.length < MESH_POINTS || f.faceScore < this.meshThreshold) return undefined;
    // Human's own box is the mesh box enlarged 1.4x for its crops; the reported box is the mesh's
    // bounds (brow to chin), like the ONNX detector's face boxes.
    const [mx0, my0, mx1, my1] = meshBounds(f.mesh);
    const x0 = Math.max(0, mx0 + dx);
    const y0 = Math.max(0, my0 + dy);
    const x1 = Math.min(img.width, mx1 + dx);
    const y1 = Math.min(img.height, my1 + dy);
    if (x1 <= x0 || y1 <= y0) return undefined;
    const bbox: [number, number, number, number] = [x0 * s, y0 * s, (x1 - x0) * s, (y1 - y0) * s];
    if (bbox[2] < this.minFaceSize || bbox[3] < this.minFaceSize) return undefined;
    const landmarks = meshFivePoints(f.mesh).map(([x, y]): [number, number] => [(x + dx) * s, (y + dy) * s]);
    // blazeface's confidence is the detector score (faces below the facemesh threshold are already gone).
    const face: HumanDetectedFace = { bbox, score: f.boxScore, landmarks };
    if (pass.liveness) {
      face.antispoof = clamp01(f.real ?? 0);
      face.liveness = clamp01(f.live ?? 0);
    }
    if (!pass.description) return { face };
    if (!f.embedding || f.embedding.length !== HUMAN_EMBEDDING_DIM) {
      throw new FaceError("INTERNAL", `faceres returned ${f.embedding?.length ?? 0} values, expected ${HUMAN_EMBEDDING_DIM}`);
    }
    const embedding = l2normalize(f.embedding);
    if (!embedding) throw new FaceError("INTERNAL", "faceres returned an empty descriptor");
    return { face, embedding };
  }

  private fullPass(img: DecodedImage): Promise<Found[]> {
    let p = this.passes.get(img);
    if (!p) {
      p = this.run(img, { description: true, liveness: false });
      this.passes.set(img, p);
      p.catch(() => this.passes.delete(img));
    }
    return p;
  }

  async detect(image: ImageSource, options: DetectOptions = {}): Promise<HumanDetectedFace[]> {
    const img = fromDownscaled(await toDecoded(image, this.limits), options.sourceScale);
    const found = await this.run(img, { description: false, liveness: false });
    return found.map((f) => f.face);
  }

  async analyze(image: ImageSource, options: HumanAnalyzeOptions = {}): Promise<HumanAnalyzedFace[]> {
    const img = fromDownscaled(await toDecoded(image, this.limits), options.sourceScale);
    const found = options.liveness
      ? await this.run(img, { description: true, liveness: true })
      : await this.fullPass(img);
    const limit = options.maxFaces ?? found.length;
    return found.slice(0, limit).map((f) => ({ ...f.face, embedding: f.embedding as Float32Array }));
  }

  async livenessScores(image: ImageSource): Promise<LivenessFace[]> {
    const img = await toDecoded(image, this.limits);
    const found = await this.run(img, { description: false, liveness: true });
    return found.map((f) => f.face as LivenessFace);
  }

  /**
   * The descriptor of the face of this image that best overlaps `face` (Human crops and rotates
   * faces itself from its own mesh). When no face of the full pass matches (a box from another
   * detector), Human runs again on the region around the box.
   */
  async embed(image: ImageSource, face: DetectedFace): Promise<Float32Array> {
    const img = await toDecoded(image, this.limits);
    const best = (found: Found[]) => {
      let top: Found | undefined;
      let topIou = 0.3;
      for (const f of found) {
        const o = boxIou(f.face.bbox, face.bbox);
        if (o > topIou) [top, topIou] = [f, o];
      }
      return top;
    };
    const match = best(await this.fullPass(img));
    if (match?.embedding) return match.embedding;
    const s = img.scale;
    const [bx, by, bw, bh] = face.bbox.map((v) => v / s);
    const x = Math.max(0, Math.floor(bx - bw));
    const y = Math.max(0, Math.floor(by - bh));
    const region = {
      x,
      y,
      w: Math.min(img.width, Math.ceil(bx + 2 * bw)) - x,
      h: Math.min(img.height, Math.ceil(by + 2 * bh)) - y,
    };
    if (region.w < 8 || region.h < 8) throw new FaceError("NO_FACE", "the face box lies outside the image");
    const retry = best(await this.runOn(img, { description: true, liveness: false }, { region }));
    if (!retry?.embedding) throw new FaceError("NO_FACE", "no face found at the given box");
    return retry.embedding;
  }

  async dispose(): Promise<void> {
    // Human's models are per process (module state of its bundle) and stay loaded for the next engine.
    this.disposed = true;
    await this.queue.run(async () => undefined);
  }
}

type Env = Record<string, string | undefined>;

/** Human-only environment variables, used where the options leave a key unset. */
export function humanEnvOptions(env: Env = process.env): Pick<HumanEngineOptions, "humanBackend" | "humanDetectionThreshold"> {
  const out: Pick<HumanEngineOptions, "humanBackend" | "humanDetectionThreshold"> = {};
  const backend = env.HUMAN_BACKEND?.trim().toLowerCase();
  if (backend) {
    const parsed = z.enum(["auto", ...HUMAN_BACKENDS]).safeParse(backend);
    if (!parsed.success) {
      throw new FaceError("INVALID_ARGUMENT", `HUMAN_BACKEND=${JSON.stringify(backend)} is invalid: expected one of auto, ${HUMAN_BACKENDS.join(", ")}`);
    }
    out.humanBackend = parsed.data;
  }
  const threshold = env.HUMAN_DETECTION_THRESHOLD?.trim();
  if (threshold) {
    const n = Number(threshold);
    if (!Number.isFinite(n) || n < 0 || n > 1) {
      throw new FaceError("INVALID_ARGUMENT", `HUMAN_DETECTION_THRESHOLD=${JSON.stringify(threshold)} is invalid: expected a number from 0 to 1`);
    }
    out.humanDetectionThreshold = n;
  }
  return out;
}

/**
 * Creates the Human engine. Model files are verified (sha256) first, so a missing file fails with
 * ModelFileError naming the fix instead of Human's logged-and-ignored load error.
 */
export async function createHumanEngine(config: HumanEngineOptions = {}): Promise<HumanEngine> {
  const parsed = HumanEngineOptionsSchema.safeParse(config);
  if (!parsed.success) {
    throw new FaceError("INVALID_ARGUMENT", `invalid Human engine options: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  const opts = { ...humanEnvOptions(), ...Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined)) } as typeof parsed.data;
  for (const m of HUMAN_MODELS) humanModelFiles(m, opts.modelsDir);
  const limits: ImageLimits = { ...DEFAULT_IMAGE_LIMITS, ...(opts.imageLimits ?? {}) } as ImageLimits;
  const threshold = opts.humanDetectionThreshold ?? HUMAN_DEFAULT_THRESHOLD;
  const loaded = await loadHumanBackend(
    opts.humanBackend ?? "auto",
    humanConfig({ threshold, maxDetected: opts.maxDetected ?? 50 }),
  );
  const { human } = loaded;
  registerHumanModelRouter(human.tf, opts.modelsDir);
  await human.load();
  const have = new Set(human.models.loaded());
  const missing = HUMAN_MODELS.filter((m) => !have.has(m));
  if (missing.length > 0) {
    throw new FaceError("UNAVAILABLE", `Human could not load models: ${missing.join(", ")}`, { details: { loaded: [...have] } });
  }
  return new HumanFaceEngine(
    human,
    { backend: loaded.backend, tfjs: loaded.versions, warnings: loaded.warnings, skipped: loaded.skipped },
    limits,
    opts.minFaceSize ?? DEFAULT_MIN_FACE_SIZE,
    opts.humanMeshThreshold ?? HUMAN_DEFAULT_MESH_THRESHOLD,
  );
}

let shared: Promise<HumanEngine> | undefined;

/**
 * Faces with Human's facemesh-derived 5 points (box, score, landmarks; no descriptor), for another
 * embedder: the ONNX engine's `embed(image, face)` aligns on `face.landmarks`, which makes the
 * "hybrid" of ARCHITECTURE §3. Uses one engine per process, created on the first call with that
 * call's options.
 */
export function humanFivePoints(image: ImageSource, options?: HumanEngineOptions): Promise<DetectedFace[]> {
  if (!shared) {
    shared = createHumanEngine(options);
    shared.catch(() => {
      shared = undefined;
    });
  }
  return shared.then((engine) => engine.detect(image));
}
