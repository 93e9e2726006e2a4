/**
 * HttpFaceClient retries writes whose answer was lost (503, timeouts, connection errors) with the
 * same Idempotency-Key, through a proxy that loses each key's first answer after the real server
 * applied the write: the enrollment answers its own 201 (not USER_EXISTS), the delete true.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { HttpFaceClient } from "../../../server/http/client.ts";
import { startLossyProxy, type LossyProxy } from "../../helpers/lossy-proxy.ts";
import { sample, startTestServer, type TestServer } from "../harness.ts";

let srv: TestServer;
let proxy: LossyProxy;

beforeAll(async () => {
  srv = await startTestServer();
  proxy = startLossyProxy(srv.url);
});
afterAll(async () => {
  await proxy?.stop();
  await srv?.stop();
});

test("writes through a proxy that loses first answers: each answers truthfully, one key per call", async () => {
  const client = new HttpFaceClient({ url: proxy.url, backoffMs: 10 });
  expect((await client.createCompany({ companyId: "acme" })).created).toBe(true);
  const enrolled = await client.createUser({ companyId: "acme", userId: "ann", faceId: "f1", image: sample(1) });
  expect([enrolled.userId, enrolled.faceId]).toEqual(["ann", "f1"]);
  expect((await client.deleteUser({ companyId: "acme", userId: "ann" })).deleted).toBe(true);
  // Three calls, two attempts each, each call with its own key.
  expect([...proxy.keys.values()]).toEqual([2, 2, 2]);
  expect(proxy.keys.has("(none)")).toBe(false);
});

test("a caller's own key is sent as it is; without retries the lost answer is an error", async () => {
  const once = new HttpFaceClient({ url: proxy.url, writeRetries: 0 });
  expect((await once.deleteUser({ companyId: "acme", userId: "nobody" }, { idempotencyKey: "mine-1" }).catch((e: { code: string }) => e.code))).toBe("TIMEOUT");
  const client = new HttpFaceClient({ url: proxy.url });
  expect((await client.deleteUser({ companyId: "acme", userId: "nobody" }, { idempotencyKey: "mine-1" })).deleted).toBe(false);
  expect(proxy.keys.get("mine-1")).toBe(2);
});
