/**
 * POST /v1/companies/:company/enroll-batch: one true outcome per item, in order (enrolled, duplicate,
 * quality with the gate's reason, no_face, invalid_image), partial success, names given to the people
 * an item creates, bounded size, an unknown company refused as a whole, and not_done for what a stop
 * (the server unavailable) left untried: nothing it reports as enrolled is missing, nothing else is there.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import sharp from "sharp";
import { FaceError, type FaceApi } from "../../../lib/core/mod.ts";
import { ENROLL_BATCH_MAX } from "../../../server/http/enroll-batch.ts";
import { b64, blankJpeg, sample, startTestServer, type TestServer } from "../harness.ts";

let srv: TestServer;
let flaky: TestServer;
let tiny: string;
let blank: string;

beforeAll(async () => {
  srv = await startTestServer();
  // a service that becomes unavailable after two enrollments (as a draining or overloaded one does)
  let calls = 0;
  flaky = await startTestServer({
    wrap: (api) =>
      new Proxy(api, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver);
          if (prop !== "createUser" && prop !== "addFace") return typeof value === "function" ? value.bind(target) : value;
          return (...args: unknown[]) => {
            if (++calls > 2) return Promise.reject(new FaceError("UNAVAILABLE", "the server is draining"));
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      }) as FaceApi,
  });
  for (const s of [srv, flaky]) await s.call("POST", "/v1/companies", { json: { company_id: "acme" } });
  // blurred (as in quality.test.ts): the gate refuses it for sharpness, with the value
  const meta = await sharp(sample(3)).metadata();
  const small = await sharp(sample(3)).resize(Math.round(meta.width! / 4)).blur(3).toBuffer();
  tiny = b64(new Uint8Array(await sharp(small).resize(meta.width!).jpeg().toBuffer()));
  blank = b64(await blankJpeg());
});
afterAll(async () => {
  await srv?.stop();
  await flaky?.stop();
});

describe("enroll-batch", () => {
  test("one outcome per item, in order: enrolled (person created, then a face added), duplicate, quality, no face, not an image", async () => {
    const items = [
      { user_id: "ann", face_id: "1", image: b64(sample(2)), name: "Ann Smith" },
      { user_id: "ann", face_id: "2", image: b64(sample(4)) },
      { user_id: "ann", face_id: "1", image: b64(sample(2)) },
      { user_id: "tim", face_id: "1", image: tiny },
      { user_id: "bo", face_id: "1", image: blank },
      { user_id: "cy", face_id: "1", image: b64(new TextEncoder().encode("not a photo at all")) },
    ];
    const r = await srv.call("POST", "/v1/companies/acme/enroll-batch", { json: { items } });
    expect(r.status).toBe(200);
    expect(r.body.results.map((x: { outcome: string }) => x.outcome)).toEqual(["enrolled", "enrolled", "duplicate", "quality", "no_face", "invalid_image"]);
    expect(r.body.results[0]).toMatchObject({ index: 0, user_id: "ann", face_id: "1", created_user: true });
    expect(r.body.results[1].created_user).toBeUndefined();
    expect(r.body.results[3]).toMatchObject({ code: "FACE_QUALITY", message: expect.stringMatching(/sharpness failed: sharpness [\d.]+/) });
    expect(r.body.counts).toMatchObject({ enrolled: 2, duplicate: 1, quality: 1, no_face: 1, invalid_image: 1, not_done: 0 });
    expect(r.body.stopped).toBeUndefined();
    // the answers are what the gallery holds
    const ann = await srv.call("GET", "/v1/companies/acme/users/ann");
    expect(ann.body).toMatchObject({ name: "Ann Smith", face_ids: ["1", "2"] });
    for (const u of ["tim", "bo", "cy"]) expect((await srv.call("GET", `/v1/companies/acme/users/${u}`)).status).toBe(404);
    // sent again: all duplicates or the same refusals, nothing added
    const again = await srv.call("POST", "/v1/companies/acme/enroll-batch", { json: { items: items.slice(0, 2) } });
    expect(again.body.counts).toMatchObject({ enrolled: 0, duplicate: 2 });
  });

  test("bounds: empty, more than the maximum, a bad id, an unknown company", async () => {
    const one = { user_id: "x", face_id: "1", image: b64(sample(2)) };
    for (const body of [{ items: [] }, { items: Array.from({ length: ENROLL_BATCH_MAX + 1 }, () => one) }, { items: [{ ...one, user_id: " x" }] }, {}]) {
      const r = await srv.call("POST", "/v1/companies/acme/enroll-batch", { json: body });
      expect({ status: r.status, code: r.body.error?.code }).toEqual({ status: 400, code: "INVALID_ARGUMENT" });
    }
    const unknown = await srv.call("POST", "/v1/companies/nowhere/enroll-batch", { json: { items: [one] } });
    expect({ status: unknown.status, code: unknown.body.error?.code }).toEqual({ status: 404, code: "COMPANY_NOT_FOUND" });
  });

  test("a stop part-way (the server unavailable): what was done is reported done, the rest not_done, and that is what the gallery holds", async () => {
    const items = ["p1", "p2", "p3", "p4"].map((u, i) => ({ user_id: u, face_id: "1", image: b64(sample((i + 2) as 2 | 3 | 4 | 5)) }));
    const r = await flaky.call("POST", "/v1/companies/acme/enroll-batch", { json: { items } });
    expect(r.status).toBe(200);
    const outcomes = r.body.results.map((x: { outcome: string }) => x.outcome);
    expect(outcomes.slice(2)).toEqual(["not_done", "not_done"]);
    expect(r.body.stopped).toMatchObject({ code: "UNAVAILABLE" });
    for (const [i, item] of items.entries()) {
      const there = (await flaky.call("GET", `/v1/companies/acme/users/${item.user_id}`)).status === 200;
      expect({ user: item.user_id, there }).toEqual({ user: item.user_id, there: outcomes[i] === "enrolled" });
    }
  });
});
