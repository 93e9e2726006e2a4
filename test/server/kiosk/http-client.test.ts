/**
 * A kiosk server in front of a remote facegate: the session's FaceApi is an HttpFaceClient talking
 * to another server's HTTP API. The landmarks its liveness check reads come over HTTP
 * (`landmarks: true` on recognize), so a live person is identified as in embedded mode.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { HttpFaceClient } from "../../../server/http/client.ts";
import { describeDatasets } from "../../helpers/datasets.ts";
import { ADMIN_KEY, HAM_KEY, PERFORMER, hamiltonFrame, readyClient, startKioskStack, type KioskStack } from "./harness.ts";

describeDatasets("kiosk driven through the HTTP client", () => {
  let backend: KioskStack;
  let front: KioskStack;

  beforeAll(async () => {
    backend = await startKioskStack();
    front = await startKioskStack({ api: new HttpFaceClient({ url: backend.url, key: ADMIN_KEY }) });
  }, 120_000);

  afterAll(async () => {
    await front?.stop();
    await backend?.stop();
  });

  test("a live person is identified, with the liveness evidence, through the remote server", async () => {
    const c = await readyClient(front.wsUrl({ company: "ham", key: HAM_KEY, kiosk: "remote-door" }));
    const states: string[] = [];
    for (let n = 20; n <= 30; n++) {
      c.sendFrame(hamiltonFrame(n));
      states.push((await c.next("result")).faces[0]?.state ?? "none");
    }
    expect(states).toContain("recognized");
    expect(c.of("identified").map((m) => m.userId)).toEqual([PERFORMER]);
    expect(c.of("identified")[0].liveness).toMatchObject({ state: "live" });
    c.close();
  }, 60_000);
});
