/**
 * `bun run start` wiring: a kiosk identification (real WebSocket session, the Hamilton frames)
 * becomes an event in the SQLite event log, with kiosk id, frames voted and threshold, arrives on
 * the live feed, and is still listed after a restart of the server process.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dataset, describeDatasets } from "../../../helpers/datasets.ts";
import { startServerProcess, type ServerProcess } from "../../../helpers/server-process.ts";
import { hamiltonFrame, readyClient } from "../../kiosk/harness.ts";
import { b64, call } from "../../harness.ts";

const ADMIN = "k-admin-0123456789";
const PERFORMER = "lin";

describeDatasets("kiosk identifications in the event log (server process, embedded)", () => {
  let dir = "";
  let server: ServerProcess | undefined;
  afterAll(async () => {
    if (server) await server.stop("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("identified → event (source kiosk, kiosk id, frames, threshold) → live feed → survives a restart", async () => {
    dir = mkdtempSync(join(tmpdir(), "facegate-kiosk-events-"));
    const env = { DATA_DIR: dir, API_KEYS: JSON.stringify({ [ADMIN]: ["*"] }) };
    server = await startServerProcess(env);
    const url = server.url;
    expect((await call(url, "POST", "/v1/companies", { key: ADMIN, json: { company_id: "ham" } })).status).toBe(201);
    const portrait = new Uint8Array(readFileSync(dataset("labelled/face_recognition/lin_manuel_miranda/lin-manuel-miranda.png")));
    expect((await call(url, "POST", "/v1/companies/ham/users", { key: ADMIN, json: { user_id: PERFORMER, face_id: "p", image: b64(portrait) } })).status).toBe(201);

    const feed = await fetch(`${url}/v1/companies/ham/events/stream`, { headers: { "X-API-Key": ADMIN } });
    const reader = feed.body!.getReader();

    const ws = new URL("/v1/kiosk/ws", url.replace(/^http/, "ws"));
    ws.search = new URLSearchParams({ company: "ham", key: ADMIN, kiosk: "stage-door" }).toString();
    const c = await readyClient(ws.toString());
    for (let n = 19; n <= 39 && c.of("identified").length === 0; n++) {
      c.sendFrame(hamiltonFrame(n));
      await c.next("result");
    }
    const identified = c.of("identified");
    expect(identified).toHaveLength(1);
    c.close();

    let text = "";
    const deadline = Date.now() + 10_000;
    while (!text.includes("event: identified") && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel();
    const live = JSON.parse(/^data: (.*)$/m.exec(text)![1]);
    expect(live).toMatchObject({ company_id: "ham", user_id: PERFORMER, source: "kiosk", kiosk_id: "stage-door" });

    const events = (await call(url, "GET", "/v1/companies/ham/events", { key: ADMIN })).body.events;
    expect(events).toHaveLength(1);
    const e = events[0];
    expect(e).toEqual(live);
    expect(e.confidence).toBeCloseTo(identified[0].confidence, 6);
    expect(e.frames).toBeGreaterThanOrEqual(3);
    expect(typeof e.threshold).toBe("number");
    expect(e.session_id).toBe(c.of("ready")[0].sessionId);
    // the kiosk's liveness evidence travels with the event
    const evidence = (identified[0] as { liveness?: unknown }).liveness;
    if (evidence !== undefined) expect(e.liveness).toEqual(evidence);

    expect(await server.stop("SIGKILL")).not.toBe(0);
    server = await startServerProcess(env);
    expect((await call(server.url, "GET", "/v1/companies/ham/events", { key: ADMIN })).body.events).toEqual(events);
  }, 120_000);
});
