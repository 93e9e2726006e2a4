import { describe, expect, test } from "bun:test";
import { FaceError, OPERATIONS, TimeoutError, UnavailableError } from "../../../lib/core/internal.ts";
import { loadNatsConfig } from "../../../lib/nats/config.ts";
import {
  HDR_PARTS,
  OPERATION_BY_NAME,
  OPERATION_SPECS,
  decodeReply,
  decodeRequest,
  encodeError,
  encodeReply,
  encodeRequest,
} from "../../../lib/nats/protocol.ts";

describe("request framing", () => {
  test("byte images travel as binary parts after the JSON; strings stay in the JSON", () => {
    const a = new Uint8Array([1, 2, 3, 255]);
    const b = new Uint8Array([9, 8]).buffer;
    const { payload, headers } = encodeRequest({ image1: a, image2: b, threshold: 0.5 }, { minRevision: 7, timeoutMs: 100 });
    const layout = headers!.get(HDR_PARTS).split(",").map(Number);
    expect(layout.slice(1)).toEqual([4, 2]);
    expect(payload.byteLength).toBe(layout.reduce((x, y) => x + y, 0));
    const env = decodeRequest(payload, headers);
    expect(env.opts).toEqual({ minRevision: 7, timeoutMs: 100 });
    expect(Array.from(env.args!.image1 as Uint8Array)).toEqual([1, 2, 3, 255]);
    expect(Array.from(env.args!.image2 as Uint8Array)).toEqual([9, 8]);
    expect(env.args!.threshold).toBe(0.5);

    const plain = encodeRequest({ image: "data:image/jpeg;base64,AAAA" });
    expect(plain.headers).toBeUndefined();
    expect(decodeRequest(plain.payload).args).toEqual({ image: "data:image/jpeg;base64,AAAA" });
  });

  test("malformed requests are INVALID_ARGUMENT", () => {
    const enc = new TextEncoder();
    expect(() => decodeRequest(enc.encode("{nope"))).toThrow(FaceError);
    expect(() => decodeRequest(enc.encode(JSON.stringify({ args: 5 })))).toThrow(FaceError);
    const { payload, headers } = encodeRequest({ image: new Uint8Array(3) });
    headers!.set(HDR_PARTS, "1,2");
    try {
      decodeRequest(payload, headers);
      throw new Error("accepted");
    } catch (e) {
      expect((e as FaceError).code).toBe("INVALID_ARGUMENT");
    }
    expect(decodeRequest(new Uint8Array(0))).toEqual({});
  });

  test("replies: results pass through; errors come back typed with their code", () => {
    expect(decodeReply(encodeReply({ x: 1 }))).toEqual({ x: 1 });
    const cases: Array<[FaceError, unknown]> = [
      [new FaceError("USER_EXISTS", "taken"), FaceError],
      [new TimeoutError("slow"), TimeoutError],
      [new UnavailableError("down"), UnavailableError],
    ];
    for (const [err, cls] of cases) {
      try {
        decodeReply(encodeError(err));
        throw new Error("no throw");
      } catch (e) {
        expect(e).toBeInstanceOf(cls as typeof FaceError);
        expect((e as FaceError).code).toBe(err.code);
        expect((e as FaceError).message).toBe(err.message);
      }
    }
    // An unknown code from a newer worker becomes INTERNAL, never a crash.
    const odd = new TextEncoder().encode(JSON.stringify({ error: { code: "WHAT", message: "?" } }));
    expect(() => decodeReply(odd)).toThrow(expect.objectContaining({ code: "INTERNAL" }));
  });

  test("every operation has a spec and a subject name", () => {
    for (const op of Object.keys(OPERATIONS) as Array<keyof typeof OPERATIONS>) {
      expect(OPERATION_SPECS[op]).toBeDefined();
      expect(OPERATION_BY_NAME.get(OPERATIONS[op])).toBe(op);
    }
    expect(OPERATION_SPECS.createUser.idempotent).toBe(false);
    expect(OPERATION_SPECS.addFace.idempotent).toBe(false);
    expect(OPERATION_SPECS.recognizeFace.idempotent).toBe(true);
  });
});

describe("loadNatsConfig", () => {
  test("reads the variables and names the bad one", () => {
    const c = loadNatsConfig({ NATS_URL: "nats://a:1, nats://b:2", WORKER_CONCURRENCY: "3", NATS_KV_BUCKET: "g" });
    expect(c.servers).toEqual(["nats://a:1", "nats://b:2"]);
    expect(c.concurrency).toBe(3);
    expect(c.bucket).toBe("g");
    expect(c.workerTimeoutMs).toBe(30_000);
    expect(() => loadNatsConfig({ WORKER_CONCURRENCY: "zero" })).toThrow(/WORKER_CONCURRENCY/);
    expect(() => loadNatsConfig({ NATS_KV_BUCKET: "a.b" })).toThrow(/NATS_KV_BUCKET/);
  });
});
