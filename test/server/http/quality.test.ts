/** The enrollment quality gate over HTTP: 422 FACE_QUALITY with the check and the measured value in the message. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import sharp from "sharp";
import { b64, sample, startTestServer, type TestServer } from "../harness.ts";

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
  await srv.call("POST", "/v1/companies", { json: { company_id: "acme" } });
});
afterAll(async () => {
  await srv?.stop();
});

test("a blurred photo: 422 FACE_QUALITY naming sharpness and its value; nothing enrolled; the sharp photo enrolls", async () => {
  // sample 3's face is ~220 px wide: shrink the photo to a quarter, blur, and bring it back
  const meta = await sharp(sample(3)).metadata();
  const small = await sharp(sample(3)).resize(Math.round(meta.width! / 4)).blur(3).toBuffer();
  const blurred = new Uint8Array(await sharp(small).resize(meta.width!).jpeg().toBuffer());
  const r = await srv.call("POST", "/v1/companies/acme/users", { json: { user_id: "ann", face_id: "a1", image: b64(blurred) } });
  expect(r.status).toBe(422);
  expect(r.body.error.code).toBe("FACE_QUALITY");
  expect(r.body.error.message).toMatch(/sharpness failed: sharpness [\d.]+, needs ≥ 15/);
  expect((await srv.call("GET", "/v1/companies/acme/users/ann/faces")).body.face_ids).toEqual([]);
  expect((await srv.call("POST", "/v1/companies/acme/users", { json: { user_id: "ann", face_id: "a1", image: b64(sample(3)) } })).status).toBe(201);
});

test("the route documents FACE_QUALITY", async () => {
  const doc = await srv.call("GET", "/openapi.json");
  expect(JSON.stringify(doc.body.paths["/v1/companies/{company}/users"].post.responses["422"])).toContain("FACE_QUALITY");
});
