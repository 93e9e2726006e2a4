/**
 * Liveness with the kiosk page in Debian's Chromium, fake cameras made from the selfie clips with
 * ffmpeg (Y4M): a live person is identified; a photo of them held still or moved in front of the
 * camera is not; challenge mode lets through a clip that performs the asked action (turning the
 * head) and refuses one that does not. People are enrolled from one frame through the HTTP API.
 * Screenshots: test-results/kiosk-liveness-*.png.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import type { IdentifiedEvent } from "../../../lib/core/mod.ts";
import { dataset, describeDatasets, ROOT } from "../../helpers/datasets.ts";
import { describeWithTools, toolPath } from "../../helpers/tools.ts";
import { ADMIN_KEY, sharedService, startKioskStack, type KioskStack } from "./harness.ts";
import { CHROMIUM, CHROMIUM_ARGS, fakeCameraArgs } from "../../helpers/chromium.ts";

const RESULTS = join(ROOT, "test-results");
const COMPANY = "liveness";

function ffmpeg(args: string[]): void {
  const r = Bun.spawnSync([toolPath("ffmpeg") ?? "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", ...args], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`ffmpeg failed: ${r.stderr.toString()}`);
}

describeWithTools(["chromium", "ffmpeg"], "kiosk liveness in Chromium", () => {
  let stack: KioskStack;
  let tmp: string;
  let context: BrowserContext | null = null;
  const events: IdentifiedEvent[] = [];
  const clip = (name: string) => dataset(`video/selfies/${name}.mp4`);

  /** A fake camera: `input` args and filter → Y4M at 10 fps (Chromium loops it). */
  function camera(name: string, input: string[], filter = ""): string {
    const out = join(tmp, `${name}.y4m`);
    ffmpeg([...input, "-vf", `${filter}${filter ? "," : ""}fps=10`, "-pix_fmt", "yuv420p", "-an", out]);
    return out;
  }

  async function openKiosk(y4m: string, query = ""): Promise<Page> {
    await context?.close().catch(() => {});
    context = await chromium.launchPersistentContext(join(tmp, `profile-${Math.random().toString(36).slice(2)}`), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 800 },
      args: fakeCameraArgs(y4m),
    });
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${stack.url}/kiosk?company=${COMPANY}&key=${ADMIN_KEY}&kiosk=liveness-test${query}`);
    return page;
  }

  /** Waits until the page welcomes someone or refuses the face as not live; returns which. */
  async function outcome(page: Page, timeoutMs: number): Promise<"welcome" | "not_live" | "not_verified" | "timeout"> {
    try {
      await page.waitForFunction(
        () => /Welcome, |Photo or screen detected|Not verified in person/.test(document.getElementById("headline")?.textContent ?? ""),
        null,
        { timeout: timeoutMs, polling: 100 },
      );
    } catch {
      return "timeout";
    }
    const text = await page.locator("#headline").innerText();
    return text.startsWith("Welcome") ? "welcome" : text.startsWith("Photo") ? "not_live" : "not_verified";
  }

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium`);
    tmp = mkdtempSync(join(tmpdir(), "facegate-liveness-"));
    await sharedService();
    stack = await startKioskStack();
    stack.events.subscribe((e) => {
      if (e.companyId === COMPANY && e.type === "identified") events.push(e);
    });
    const post = (path: string, body: object) =>
      fetch(`${stack.url}${path}`, { method: "POST", headers: { "Content-Type": "application/json", "X-API-Key": ADMIN_KEY }, body: JSON.stringify(body) });
    expect([200, 201]).toContain((await post("/v1/companies", { company_id: COMPANY })).status);
    // Each person enrolled from one frame at 0.5 s of their clip.
    for (const who of ["selfie_d11", "selfie_d3"]) {
      const jpg = join(tmp, `${who}.jpg`);
      ffmpeg(["-ss", "0.5", "-i", clip(who), "-frames:v", "1", "-q:v", "2", jpg]);
      const res = await post(`/v1/companies/${COMPANY}/users`, { user_id: who, face_id: "enroll", image: `data:image/jpeg;base64,${readFileSync(jpg).toString("base64")}` });
      expect(res.status).toBe(201);
    }
    mkdirSync(RESULTS, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await stack?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test("a live person (a selfie clip held out from tuning) is identified, with the liveness evidence", async () => {
    const page = await openKiosk(camera("live", ["-ss", "1", "-t", "8", "-i", clip("selfie_d11")]));
    expect(await outcome(page, 60_000)).toBe("welcome");
    expect(await page.locator("#headline").innerText()).toBe("Welcome, selfie_d11");
    await page.screenshot({ path: join(RESULTS, "kiosk-liveness-live.png") });
    const event = events.find((e) => e.userId === "selfie_d11");
    expect(event?.liveness).toMatchObject({ mode: "passive", state: "live", passive: { state: "live" } });
  }, 120_000);

  test("a photo of the same person held still is refused: 'Photo or screen detected', no identification", async () => {
    const before = events.length;
    ffmpeg(["-ss", "4", "-i", clip("selfie_d11"), "-frames:v", "1", join(tmp, "photo.png")]);
    const page = await openKiosk(camera("still", ["-loop", "1", "-t", "3", "-i", join(tmp, "photo.png")]));
    // Recognized by the votes, but never identified; judged flat when the window (6 s) ends.
    await page.waitForFunction(() => /Checking you are here in person/.test(document.getElementById("headline")?.textContent ?? ""), null, { timeout: 30_000, polling: 100 });
    expect(await outcome(page, 30_000)).toBe("not_live");
    await page.screenshot({ path: join(RESULTS, "kiosk-liveness-photo.png") });
    await Bun.sleep(2000);
    expect(await page.locator("#headline").innerText()).toBe("Photo or screen detected");
    expect(events.length).toBe(before);
  }, 120_000);

  test("the photo zoomed and panned (a print in a moving hand) is refused too", async () => {
    const before = events.length;
    const page = await openKiosk(
      camera("moving", ["-loop", "1", "-framerate", "25", "-t", "12", "-i", join(tmp, "photo.png")],
        "zoompan=z='1.1+0.1*sin(on/30)':x='iw/2-(iw/zoom/2)+30*sin(on/23)':y='ih/2-(ih/zoom/2)+20*sin(on/37)':d=1:s=480x480:fps=25"),
    );
    expect(await outcome(page, 40_000)).toBe("not_live");
    expect(events.length).toBe(before);
  }, 120_000);

  /**
   * A camera fed from a canvas the test controls: the page's getUserMedia returns the canvas's stream,
   * and `window.__play(from, to, loop)` chooses which of the preloaded frames it shows (10 per second).
   */
  async function openCanvasKiosk(frames: string[], query: string): Promise<Page> {
    await context?.close().catch(() => {});
    context = await chromium.launchPersistentContext(join(tmp, `profile-${Math.random().toString(36).slice(2)}`), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 800 },
      args: [...CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    await page.addInitScript((urls: string[]) => {
      const w = window as unknown as { __play: (from: number, to: number, loop: boolean) => void; __at: number };
      const images = urls.map((u) => Object.assign(new Image(), { src: u }));
      const canvas = document.createElement("canvas");
      canvas.width = 480;
      canvas.height = 480;
      const ctx = canvas.getContext("2d")!;
      let range = { from: 0, to: 0, loop: true };
      w.__at = 0;
      w.__play = (from, to, loop) => {
        range = { from, to, loop };
        w.__at = from;
      };
      setInterval(() => {
        const img = images[w.__at];
        if (img?.complete) ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
        if (w.__at < range.to) w.__at++;
        else if (range.loop) w.__at = range.from;
      }, 100);
      const stream = canvas.captureStream(10);
      navigator.mediaDevices.getUserMedia = async () => stream;
    }, frames);
    await page.goto(`${stack.url}/kiosk?company=${COMPANY}&key=${ADMIN_KEY}&kiosk=liveness-test${query}`);
    return page;
  }

  test("challenge mode: the segment that performs the asked turn passes; one that does not is refused", async () => {
    // selfie_d3 at 10 fps: 2.0-4.3 s faces the camera (yaw within ±0.03) while talking; the head turns
    // to the person's left over 4.4-5.3 s (yaw +0.13) and to the right over 6.4-7.3 s (yaw -0.14).
    const dir = join(tmp, "d3");
    mkdirSync(dir, { recursive: true });
    ffmpeg(["-t", "11", "-i", clip("selfie_d3"), "-vf", "fps=10", "-q:v", "4", join(dir, "%03d.jpg")]);
    const frames = Array.from({ length: 110 }, (_, i) => join(dir, `${String(i + 1).padStart(3, "0")}.jpg`))
      .filter((f) => existsSync(f))
      .map((f) => `data:image/jpeg;base64,${readFileSync(f).toString("base64")}`);
    const SEGMENT = { straight: [20, 43], calm: [26, 38], turn_left: [44, 53], turn_right: [64, 73] } as const;
    const query = "&liveness=challenge&challenge=turn_left,turn_right";
    const prompt = async (page: Page): Promise<"turn_left" | "turn_right"> => {
      await page.waitForFunction(() => /Turn your head a little/.test(document.getElementById("headline")?.textContent ?? ""), null, { timeout: 40_000, polling: 50 });
      return (await page.locator("#headline").innerText()).includes("left") ? "turn_left" : "turn_right";
    };

    // Looking straight until asked, then the segment that performs the asked turn.
    const page = await openCanvasKiosk(frames, query);
    await page.evaluate(([a, b]) => (window as unknown as { __play: (f: number, t: number, l: boolean) => void }).__play(a, b, true), SEGMENT.straight);
    const action = await prompt(page);
    await page.screenshot({ path: join(RESULTS, "kiosk-liveness-challenge.png") });
    await page.evaluate(([a, b]) => (window as unknown as { __play: (f: number, t: number, l: boolean) => void }).__play(a, b, false), SEGMENT[action]);
    expect(await outcome(page, 20_000)).toBe("welcome");
    const passed = events.find((e) => e.userId === "selfie_d3");
    expect(passed?.liveness).toMatchObject({ mode: "challenge", state: "live" });
    const challenges = (passed?.liveness as { challenges: { action: string; outcome: string }[] }).challenges;
    expect(challenges.at(-1)).toMatchObject({ action, outcome: "passed" });

    // A replay that ignores the prompt (keeps looking straight): asked twice, then refused.
    const before = events.length;
    const replay = await openCanvasKiosk(frames, query);
    await replay.evaluate(([a, b]) => (window as unknown as { __play: (f: number, t: number, l: boolean) => void }).__play(a, b, true), SEGMENT.calm);
    await prompt(replay);
    expect(await outcome(replay, 40_000)).toBe("not_verified");
    await replay.screenshot({ path: join(RESULTS, "kiosk-liveness-challenge-refused.png") });
    expect(events.length).toBe(before);
  }, 240_000);
}, describeDatasets);
