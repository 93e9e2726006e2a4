/**
 * Photos of every size the engine takes, through NATS with the server's default max_payload (1 MiB):
 * the gateway-side preparation (lib/nats/image-prep.ts) gives the same results as embedded mode;
 * what cannot fit is refused at once with a 413 code; the client library's own "max_payload size
 * exceeded" refusal is never retried and never becomes a timeout.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "@nats-io/transport-node";
import sharp from "sharp";
import { type BBox, FaceError, MemoryGalleryStore } from "../../../lib/core/internal.ts";
import { createEngine, decodeImage, type FaceEngine } from "../../../lib/engine/mod.ts";
import { FaceClient } from "../../../lib/nats/client.ts";
import { transportError } from "../../../lib/nats/transport-errors.ts";
import { prepareImage } from "../../../lib/nats/image-prep.ts";
import { LocalFaceService } from "../../../lib/service/mod.ts";
import { startFaceWorker } from "../../../server/compose/worker.ts";
import { describeDatasets, listDataset, readDataset } from "../../helpers/datasets.ts";
import { useNatsServer } from "../../helpers/nats-server.ts";
import { describeWithTools } from "../../helpers/tools.ts";

const MIB = 1024 * 1024;
let engine: FaceEngine;
let local: LocalFaceService;
let client: FaceClient;
/** name → bytes: scenes/large (up to 2.75 MB, 2048 px) and a synthetic 4352 px, multi-MB press photo. */
const photos = new Map<string, Uint8Array>();

const near = (a: BBox | null | undefined, b: BBox | null | undefined, px: number) => {
  expect(a).not.toBeNull();
  expect(b).not.toBeNull();
  for (let i = 0; i < 4; i++) expect(Math.abs(a![i]! - b![i]!)).toBeLessThanOrEqual(px);
};

async function code(p: Promise<unknown>): Promise<{ code: string; message: string; ms: number }> {
  const t = performance.now();
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(FaceError);
    return { code: (e as FaceError).code, message: (e as FaceError).message, ms: performance.now() - t };
  }
  throw new Error("expected an error");
}

describeWithTools(["nats-server"], "large photos over NATS (max_payload 1 MiB) equal embedded mode", () => {
  const nats = useNatsServer({ maxPayload: MIB });

  beforeAll(async () => {
    for (const f of listDataset("scenes/large")) photos.set(f, readDataset("scenes/large", f));
    const synthetic = await sharp(readDataset("scenes/large", "shea_whigham.jpg")).resize({ width: 4352 }).jpeg({ quality: 97 }).toBuffer();
    photos.set("synthetic-4352.jpg", new Uint8Array(synthetic));
    engine = await createEngine();
    local = await LocalFaceService.create({ engine, store: new MemoryGalleryStore(), log: () => {} });
    nats.track(await startFaceWorker({ engine, env: { NATS_URL: nats.url }, service: { workerId: "big" }, log: () => {} }));
    client = nats.track(await FaceClient.connect({ servers: nats.url, env: {}, timeoutMs: 20_000 }));
  }, 60_000);

  afterAll(async () => {
    await local?.close();
  });

  test("the photos are what the scenario used: up to 4352 px and several MB, most beyond 1 MiB as base64", () => {
    const synthetic = photos.get("synthetic-4352.jpg")!;
    expect(synthetic.byteLength).toBeGreaterThan(4 * MIB);
    expect(client.nc.info?.max_payload).toBe(MIB);
    expect([...photos.values()].filter((b) => (b.byteLength * 4) / 3 > MIB).length).toBeGreaterThanOrEqual(2);
  });

  test("prepareImage: over 1920 px or the budget → the engine's working size as JPEG; small ones untouched", async () => {
    const synthetic = await prepareImage(photos.get("synthetic-4352.jpg")!, { byteBudget: MIB - 16 * 1024 });
    expect(synthetic.reencoded).toBe(true);
    const meta = await sharp(synthetic.bytes).metadata();
    expect(Math.max(meta.width!, meta.height!)).toBe(1920);
    expect(synthetic.scale).toBeCloseTo(4352 / 1920, 3);
    expect(synthetic.bytes.byteLength).toBeLessThanOrEqual(MIB - 16 * 1024);
    // 1125x1612 and 785 KB: fits as it is.
    const kate = photos.get("kate_siegel.jpg")!;
    const same = await prepareImage(Buffer.from(kate).toString("base64"), { byteBudget: MIB });
    expect(same.reencoded).toBe(false);
    expect(same.bytes).toEqual(kate);
    // Under 1920 px but over the budget: re-encoded at the same size (scale 1).
    const shrunk = await prepareImage(kate, { byteBudget: 300 * 1024 });
    expect(shrunk.reencoded).toBe(true);
    expect(shrunk.scale).toBe(1);
    // The engine's own refusals, without a round trip.
    await expect(prepareImage(new Uint8Array(11 * MIB), { byteBudget: MIB })).rejects.toMatchObject({ code: "IMAGE_TOO_LARGE" });
    await expect(prepareImage(new Uint8Array([1, 2, 3]), { byteBudget: MIB })).rejects.toMatchObject({ code: "INVALID_IMAGE" });
  }, 30_000);

  test("enrol and recognise every large photo: same user, box within 2 px, same detection as embedded", async () => {
    await local.createCompany({ companyId: "big" });
    await client.createCompany({ companyId: "big" });
    let i = 0;
    for (const [name, bytes] of photos) {
      const userId = `u${i++}`;
      const embedded = await local.createUser({ companyId: "big", userId, faceId: "f1", image: bytes });
      // Through NATS as base64 text, the way the HTTP JSON route hands it over.
      const viaNats = await client.createUser({ companyId: "big", userId, faceId: "f1", image: Buffer.from(bytes).toString("base64") });
      near(viaNats.bbox, embedded.bbox, 2);
      const dot = embedded.embedding.reduce((s, v, k) => s + v * viaNats.embedding[k]!, 0);
      // Landmarks move by a fraction of a working-size pixel (JPEG noise), the aligned crop with them:
      // measured cosine 0.94-1.0 between the two embeddings of one photo (same-person pairs of LFW: ~0.5-0.8).
      expect(dot, name).toBeGreaterThan(0.9);
    }
    i = 0;
    for (const [name, bytes] of photos) {
      const userId = `u${i++}`;
      const a = await local.recognizeFace({ companyId: "big", image: bytes });
      const b = await client.recognizeFace({ companyId: "big", image: bytes });
      expect(a.userId, name).toBe(userId);
      expect(b.userId, name).toBe(userId);
      near(b.bbox, a.bbox, 2);
      expect(Math.abs(a.confidence - b.confidence)).toBeLessThan(0.02);
    }
    const big = photos.get("synthetic-4352.jpg")!;
    const [da, db] = [await local.detectFaces({ image: big }), await client.detectFaces({ image: big })];
    expect(db.facesCount).toBe(da.facesCount);
    near(db.faces[0]!.bbox, da.faces[0]!.bbox, 2);
    // Landmarks within 1 % of the face's width (about 2 px at the working size).
    const tol = da.faces[0]!.bbox[2] * 0.01;
    for (let k = 0; k < 5; k++) {
      expect(Math.abs(db.faces[0]!.landmarks[k]![0] - da.faces[0]!.landmarks[k]![0])).toBeLessThanOrEqual(tol);
      expect(Math.abs(db.faces[0]!.landmarks[k]![1] - da.faces[0]!.landmarks[k]![1])).toBeLessThanOrEqual(tol);
    }
    const v = await client.verify({ image1: big, image2: photos.get("shea_whigham.jpg")! });
    expect(v.isMatch).toBe(true);
  }, 120_000);

  test("what cannot fit is refused at once with 413, before anything is sent", async () => {
    const before = (await client.workers())[0]!;
    const tight = await FaceClient.connect({ servers: nats.url, env: {}, imageByteBudget: 20_000, backoffMs: 1000 });
    const e = await code(tight.recognizeFace({ companyId: "big", image: photos.get("synthetic-4352.jpg")! }));
    expect(e.code).toBe("IMAGE_TOO_LARGE");
    expect(e.message).toContain("20000");
    expect(new FaceError("IMAGE_TOO_LARGE", "").status).toBe(413);
    await tight.close();
    const after = (await client.workers())[0]!;
    expect(after.processed + after.failed).toBe(before.processed + before.failed);
  }, 30_000);

  test("the client library's \"'payload' max_payload size exceeded\" is a 413, never retried, never a timeout", async () => {
    // A request with no image that is still larger than max_payload: nats.js refuses to publish it.
    const refs = Array.from({ length: 400 }, (_, k) => ({ id: `r${k}`, embedding: Array.from({ length: 512 }, () => Math.random()) }));
    const slow = await FaceClient.connect({ servers: nats.url, env: {}, retries: 3, backoffMs: 1000 });
    const e = await code(slow.compare({ queryEmbedding: refs[0]!.embedding, referenceEmbeddings: refs }));
    expect(e.code).toBe("PAYLOAD_TOO_LARGE");
    expect(e.message).toContain(`max_payload of ${MIB} bytes`);
    expect(e.ms).toBeLessThan(500); // a retry would have slept >= 500 ms
    await slow.close();

    // The same classification for the raw error from a real publish.
    const nc = await connect({ servers: nats.url });
    let raw: unknown;
    try {
      nc.publish("x", new Uint8Array(MIB + 1));
    } catch (err) {
      raw = err;
    }
    expect(String(raw)).toContain("max_payload size exceeded");
    const mapped = transportError(raw, "x", MIB + 1, MIB);
    expect(mapped.error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(mapped.retry).toBe("never");
    await nc.close();
  }, 30_000);

  test("MIN_FACE_SIZE applies in the original's pixels over NATS too: a face above it in the original, below it at working size, is found in both modes", async () => {
    const photo = photos.get("synthetic-4352.jpg")!;
    const all = (await local.detectFaces({ image: photo })).faces;
    expect(all.length).toBeGreaterThan(0);
    const side = Math.min(...all.map((f) => Math.min(f.bbox[2], f.bbox[3])));
    const scale = 4352 / 1920;
    // Between every face's size at the working size and in the original.
    const minFaceSize = Math.round(side / Math.sqrt(scale));
    expect(Math.max(...all.map((f) => Math.max(f.bbox[2], f.bbox[3]))) / scale).toBeLessThan(minFaceSize);
    const strict = await createEngine({ minFaceSize });
    const strictLocal = await LocalFaceService.create({ engine: strict, store: new MemoryGalleryStore(), log: () => {} });
    try {
      nats.track(
        await startFaceWorker({ engine: strict, env: { NATS_URL: nats.url, NATS_SUBJECT_PREFIX: "strict.v1" }, service: { workerId: "strict" }, log: () => {} }),
      );
      const strictClient = nats.track(await FaceClient.connect({ servers: nats.url, env: {}, subjectPrefix: "strict.v1", timeoutMs: 20_000 }));
      const embedded = await strictLocal.detectFaces({ image: photo });
      const viaNats = await strictClient.detectFaces({ image: photo });
      expect(embedded.facesCount).toBe(all.length);
      expect(viaNats.facesCount).toBe(embedded.facesCount);
      for (let i = 0; i < embedded.faces.length; i++) near(viaNats.faces[i]!.bbox, embedded.faces[i]!.bbox, 2);
      // Recognition takes the same path (CallOptions.imageScales): the face is found there too.
      const who = await strictClient.recognizeFaces({ companyId: "big", image: photo });
      expect(who.faces.length).toBe(embedded.facesCount);
      near(who.faces[0]!.bbox, embedded.faces[0]!.bbox, 2);
    } finally {
      await strictLocal.close();
      await strict.dispose();
    }
  }, 60_000);
}, describeDatasets);

test("the gateway refuses what the engine refuses, with the engine's code, message and details, before any libvips call", async () => {
  const blank = () => sharp({ create: { width: 32, height: 24, channels: 3, background: "#888" } });
  const svg = new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
  const inputs = [svg, new Uint8Array(await blank().tiff().toBuffer()), new Uint8Array(await blank().gif().toBuffer())];
  for (const bytes of inputs) {
    const embedded = await decodeImage(bytes).then(
      () => undefined,
      (e: unknown) => e,
    );
    const gateway = await prepareImage(bytes, { byteBudget: MIB }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(embedded).toBeInstanceOf(FaceError);
    expect(gateway).toBeInstanceOf(FaceError);
    const [e, g] = [embedded as FaceError, gateway as FaceError];
    expect({ code: g.code, message: g.message, details: g.details }).toEqual({ code: e.code, message: e.message, details: e.details });
    expect(g.details).toHaveProperty("format");
  }
  // A header claiming 60000x60000 is IMAGE_TOO_LARGE from the header alone, as in embedded mode.
  const png = new Uint8Array(await blank().png().toBuffer());
  new DataView(png.buffer).setUint32(16, 60000);
  new DataView(png.buffer).setUint32(20, 60000);
  await expect(prepareImage(png, { byteBudget: MIB })).rejects.toMatchObject({ code: "IMAGE_TOO_LARGE" });
});
