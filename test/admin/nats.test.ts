/**
 * The console over a NATS deployment: a real nats-server, two FaceWorkers, and the gateway process
 * (`bun server/main.ts` with NATS_URL). The System section lists each worker with its status and
 * counters; a person enrolled from a file (through NATS) is listed; a recognition recorded through
 * the gateway appears in the live feed (the JetStream event log). Screenshot: test-results/admin-nats-system.png.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { createEngine, type FaceEngine } from "../../lib/engine/mod.ts";
import { startFaceWorker, type RunningWorker } from "../../server/compose/worker.ts";
import { dataset, describeDatasets, ROOT } from "../helpers/datasets.ts";
import { startTestNatsServer, type NatsServer } from "../helpers/nats-server.ts";
import { describeWithTools } from "../helpers/tools.ts";
import { startServerProcess, type ServerProcess } from "./server-process.ts";
import { CHROMIUM, CHROMIUM_ARGS, collectPageErrors } from "../helpers/chromium.ts";

const ADMIN_KEY = "nats-console-admin-key-0123";

describeWithTools(["chromium", "nats-server"], "admin console over NATS", () => {
  let nats: NatsServer;
  let engine: FaceEngine;
  const workers: RunningWorker[] = [];
  let gateway: ServerProcess;
  let browser: Browser;
  let page: Page;
  let tmp: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium`);
    tmp = mkdtempSync(join(tmpdir(), "facegate-admin-nats-"));
    nats = await startTestNatsServer();
    engine = await createEngine({ ortThreads: 1 });
    const bucket = `admin${Date.now()}`;
    for (const id of ["worker-a", "worker-b"]) {
      workers.push(await startFaceWorker({ nats: { servers: [nats.url], bucket }, engine, env: {}, service: { workerId: id }, log: () => {} }));
    }
    gateway = await startServerProcess({ [ADMIN_KEY]: ["*"] }, { NATS_URL: nats.url, NATS_KV_BUCKET: bucket });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    collectPageErrors(page, pageErrors);
  }, 180_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await gateway?.stop();
    for (const w of workers) await w.close().catch(() => {});
    await engine?.dispose?.();
    await nats?.stop();
    await nats?.cleanup?.();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test("System lists each NATS worker; enrollment through the gateway works", async () => {
    await page.goto(`${gateway.url}/admin`);
    await page.locator("#key").fill(ADMIN_KEY);
    await page.locator("#signin-go").click();
    await page.waitForSelector("#create-company");
    await page.locator("#new-company").fill("hq");
    await page.locator("#create-company button[type=submit]").click();
    await page.waitForSelector("#companies tr[data-company='hq']");
    await page.goto(`${gateway.url}/admin#/c/hq/people`);
    await page.locator("#enroll-user").fill("Rose Leslie");
    await page.locator("#enroll-file").setInputFiles(dataset("labelled/face_recognition/rose_leslie/img1.jpg"));
    await page.locator("#enroll-go:not([disabled])").click();
    await page.waitForSelector("#enroll-outcomes li[data-code='OK']", { timeout: 60_000 });
    await page.waitForSelector("#people tr[data-user='Rose Leslie']", { timeout: 15_000 });

    await page.goto(`${gateway.url}/admin#/system`);
    await page.waitForSelector("#workers-table tr[data-worker]", { timeout: 20_000 });
    const rows = await page.locator("#workers-table tbody tr").evaluateAll((trs) =>
      trs.map((tr) => [(tr as HTMLElement).dataset.worker, tr.querySelector(".pill")?.textContent]),
    );
    expect(rows.sort()).toEqual([
      ["worker-a", "ok"],
      ["worker-b", "ok"],
    ]);
    mkdirSync(join(ROOT, "test-results"), { recursive: true });
    await page.screenshot({ path: join(ROOT, "test-results/admin-nats-system.png"), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 120_000);

  test("live identifications from the JetStream event log", async () => {
    await page.goto(`${gateway.url}/admin#/c/hq/live`);
    await page.waitForFunction(() => document.getElementById("feed-status")?.dataset.status === "live", null, { timeout: 20_000 });
    const image = readFileSync(dataset("labelled/face_recognition/rose_leslie/img2.jpg")).toString("base64");
    const res = await fetch(`${gateway.url}/v1/companies/hq/recognize`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-API-Key": ADMIN_KEY },
      body: JSON.stringify({ image, record: true, kiosk_id: "lobby" }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { user_id: string }).user_id).toBe("Rose Leslie");
    await page.waitForSelector("#events-body tr[data-user='Rose Leslie']", { timeout: 20_000 });
    expect((await page.locator("#events-body tr[data-user='Rose Leslie'] td").allInnerTexts())[3]).toBe("lobby");
    expect(pageErrors).toEqual([]);
  }, 60_000);
}, describeDatasets);
