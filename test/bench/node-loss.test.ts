/**
 * Issue 21's node-loss scenario (bench/node-loss.ts) once, as a test: three nats-servers, a worker
 * process on each, the gateway process on all three, NATS_KV_REPLICAS=3; the stream leader's node
 * and its worker SIGKILLed during enrollments and deletes through HttpFaceClient (which retries
 * with its Idempotency-Key). Every answer must be true: each delete of a person this client
 * enrolled answers `deleted: true`, and no enrollment that was applied answers an error.
 * (Before idempotency keys, 5 of 10 runs answered `deleted: false` to the request that deleted.)
 */
import { expect, test } from "bun:test";
import { runNodeLoss } from "../../bench/node-loss.ts";
import { faceApiSample } from "../helpers/datasets.ts";
import { describeWithTools, toolPath } from "../helpers/tools.ts";

describeWithTools(["nats-server"], "3-node node loss: every answer true", () => {
  test("a node SIGKILLed during enrollments and deletes: deletes answer true, applied enrollments never an error", async () => {
    const logs: string[] = [];
    const r = await runNodeLoss({ photo: faceApiSample(1), enrollments: 12, killAfter: 4, natsServerBin: toolPath("nats-server"), log: (m) => logs.push(m) });
    const context = { ...r, logs };
    // The kill happened mid-run, with work after it.
    expect(r.afterKill, JSON.stringify(context)).toBeGreaterThan(4);
    expect(r.enrolled).toBeGreaterThan(4);
    expect({ deletedFalse: r.deletedFalse, untruthfulEnrollments: r.untruthfulEnrollments, untruthfulDeletes: r.untruthfulDeletes }).toEqual({
      deletedFalse: 0,
      untruthfulEnrollments: 0,
      untruthfulDeletes: 0,
    });
    expect(r.deletedTrue).toBe(r.deletes - r.deleteErrors.length);
  }, 480_000);
});
