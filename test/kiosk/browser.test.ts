/**
 * The kiosk page in a real browser: Debian's Chromium (playwright-core) with a fake camera playing
 * the Hamilton clip (converted to Y4M at test time). The performer is enrolled through the real
 * HTTP API; the page must show him as recognized and the server must emit the `identified` event.
 * Then: automatic reconnect after the server drops the session, and the enrollment view.
 * Screenshots: test-results/kiosk.png, test-results/kiosk-enroll.png.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import type { IdentifiedEvent } from "../../lib/core/mod.ts";
import { dataset, describeDatasets, ROOT } from "../helpers/datasets.ts";
import { ADMIN_KEY, PERFORMER, STAGE_KEY, sharedService, startKioskStack, type KioskStack } from "./harness.ts";

const CHROMIUM = "/usr/bin/chromium";
const RESULTS = join(ROOT, "test-results");

describeDatasets("kiosk page in Chromium", () => {
  let stack: KioskStack;
  let tmp: string;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium`);
    tmp = mkdtempSync(join(tmpdir(), "facegate-kiosk-"));
    const y4m = join(tmp, "clip.y4m");
    // 15 fps keeps the raw file small (~47 MB); Chromium loops it as the camera.
    const ffmpeg = Bun.spawnSync(
      ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", dataset("video/fr_short_hamilton_clip.mp4"), "-vf", "fps=15", "-pix_fmt", "yuv420p", "-an", y4m],
      { stdout: "pipe", stderr: "pipe" },
    );
    if (ffmpeg.exitCode !== 0) throw new Error(`ffmpeg failed: ${ffmpeg.stderr.toString()}`);

    await sharedService();
    stack = await startKioskStack();

    // Enroll the performer through the real HTTP API, as an operator would.
    const post = (path: string, key: string, body: object) =>
      fetch(`${stack.url}${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-API-Key": key },
        body: JSON.stringify(body),
      });
    const created = await post("/v1/companies", ADMIN_KEY, { company_id: "stage" });
    expect([200, 201]).toContain(created.status);
    const portrait = readFileSync(dataset("labelled/face_recognition/lin_manuel_miranda/lin-manuel-miranda.png"));
    const enrolled = await post("/v1/companies/stage/users", STAGE_KEY, {
      user_id: PERFORMER,
      face_id: "portrait",
      image: `data:image/png;base64,${portrait.toString("base64")}`,
    });
    expect(enrolled.status).toBe(201);

    context = await chromium.launchPersistentContext(join(tmp, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 800 },
      args: [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        `--use-file-for-fake-video-capture=${y4m}`,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    // Script errors only: failed HTTP calls (e.g. enrollment frames without a face) are part of the flow.
    page.on("console", (message) => {
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) pageErrors.push(message.text());
    });
  }, 180_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await stack?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test("the page recognizes the performer from the camera and the server emits `identified`", async () => {
    const event = new Promise<IdentifiedEvent>((resolve) => {
      const off = stack.events.subscribe((e) => {
        if (e.companyId === "stage") {
          off();
          resolve(e);
        }
      });
    });
    await page.goto(`${stack.url}/kiosk?company=stage&key=${STAGE_KEY}&kiosk=browser-test`);
    await page.waitForFunction(
      (name) => document.body.innerText.includes(`Welcome, ${name}`),
      PERFORMER,
      { timeout: 120_000, polling: 100 },
    );
    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: join(RESULTS, "kiosk.png") });

    const identified = await event;
    expect(identified).toMatchObject({ type: "identified", companyId: "stage", userId: PERFORMER, kioskId: "browser-test" });
    expect(identified.confidence).toBeGreaterThan(0.4);

    // The page shows the decision, the connection and live numbers.
    expect(await page.locator("#headline").innerText()).toBe(`Welcome, ${PERFORMER}`);
    expect(await page.locator("#recent").innerText()).toContain(PERFORMER);
    expect(await page.locator("#conn").getAttribute("data-status")).toBe("connected");
    await page.waitForFunction(() => /\d/.test(document.getElementById("stat-fps")?.textContent ?? ""), null, { timeout: 10_000 });
    expect(await page.locator("#stat-latency").innerText()).toMatch(/\d+ ms/);
    expect(Number(await page.locator("#stat-frames").innerText())).toBeGreaterThan(3);
    expect(pageErrors).toEqual([]);
  }, 180_000);

  test("the page reconnects by itself when the server drops the session", async () => {
    const before = new Set([...stack.kiosk.sessions].map((s) => s.id));
    expect(before.size).toBe(1);
    stack.kiosk.closeAll();
    await page.waitForFunction(() => document.getElementById("conn")?.dataset.status !== "connected", null, { timeout: 10_000 });
    await page.waitForFunction(() => document.getElementById("conn")?.dataset.status === "connected", null, { timeout: 30_000 });
    const after = [...stack.kiosk.sessions].map((s) => s.id);
    expect(after).toHaveLength(1);
    expect(before.has(after[0])).toBe(false);
    // Frames flow again on the new session.
    const session = [...stack.kiosk.sessions][0];
    const deadline = Date.now() + 20_000;
    while (session.stats.processed < 2 && Date.now() < deadline) await Bun.sleep(100);
    expect(session.stats.processed).toBeGreaterThanOrEqual(2);
  }, 60_000);

  test("the enrollment view captures frames and creates the user through the HTTP API", async () => {
    await page.goto(`${stack.url}/kiosk?company=stage-enroll&key=${STAGE_KEY}&view=enroll`);
    await page.locator("#enroll-user").fill("Camera Person");
    // Ten frames over ~9 s cover the whole looping clip, so some frames have a face.
    await page.locator("#enroll-count").fill("10");
    await page.locator("#enroll-interval").fill("900");
    await page.locator("#enroll-go").click();
    await page.waitForFunction(
      () => /enrolled|nothing enrolled|failed/.test(document.getElementById("enroll-status")?.textContent ?? "") &&
        !(document.getElementById("enroll-go") as HTMLButtonElement).disabled,
      null,
      { timeout: 90_000, polling: 200 },
    );
    await page.screenshot({ path: join(RESULTS, "kiosk-enroll.png") });
    const status = await page.locator("#enroll-status").innerText();
    expect(status).toMatch(/Camera Person: \d+ faces? enrolled \(new user\)/);

    const faces = await fetch(`${stack.url}/v1/companies/stage-enroll/users/${encodeURIComponent("Camera Person")}/faces`, {
      headers: { "X-API-Key": STAGE_KEY },
    });
    expect(faces.status).toBe(200);
    const body = (await faces.json()) as { face_ids: string[] };
    const count = Number(/: (\d+) faces? enrolled/.exec(status)?.[1]);
    expect(body.face_ids.length).toBe(count);
    expect(count).toBeGreaterThanOrEqual(1);
    expect(pageErrors).toEqual([]);
  }, 150_000);
});
