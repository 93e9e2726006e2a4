/**
 * The admin console (/admin) in Debian's Chromium (playwright-core), against a real server process:
 * an admin signs in, creates a company, enrolls two people from files (picker, drag and drop) and one
 * from a fake webcam (Y4M made from the Hamilton clip's performer shots), sees refusals in words with
 * the face boxed, sees the people listed and searchable, watches a recognition made through the API
 * appear live, downloads the CSV, changes the operating point, deletes a person and a company, signs
 * out. A company key sees only its company. Screenshots: test-results/admin-*.png.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import sharp from "sharp";
import { dataset, describeDatasets, ROOT } from "../helpers/datasets.ts";
import { describeWithTools, toolPath } from "../helpers/tools.ts";
import { startServerProcess, type ServerProcess } from "./server-process.ts";
import { CHROMIUM, collectPageErrors, fakeCameraArgs } from "../helpers/chromium.ts";

const RESULTS = join(ROOT, "test-results");
const ADMIN_KEY = "console-admin-key-0123456789";
const ACME_KEY = "console-acme-key-0123456789";
const GLOBEX_KEY = "console-globex-key-0123456789";
const KIOSK_KEY = "console-kiosk-key-0123456789";
const COMPANY = "acme";
const OBAMA = "Barack Obama";
const BIDEN = "Joe Biden";
const PERFORMER = "Lin-Manuel Miranda";
const photo = (person: string, file: string) => dataset("labelled/face_recognition", person, file);

describeWithTools(["chromium", "ffmpeg"], "admin console in Chromium", () => {
  let server: ServerProcess;
  let tmp: string;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  const api = async (method: string, path: string, key: string, body?: object) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { "X-API-Key": key, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      // CSV or empty
    }
    return { status: res.status, json: json as Record<string, unknown> & { [k: string]: unknown }, text };
  };
  const shot = (name: string) => page.screenshot({ path: join(RESULTS, `admin-${name}.png`), fullPage: true });
  const peopleRows = () => page.locator("#people tbody tr[data-user]");

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium`);
    mkdirSync(RESULTS, { recursive: true });
    tmp = mkdtempSync(join(tmpdir(), "facegate-admin-"));
    // The webcam: 3 s of the clip where only the performer is on screen (5 fps frames 21-36), looped.
    const y4m = join(tmp, "performer.y4m");
    const ffmpeg = Bun.spawnSync(
      [toolPath("ffmpeg") ?? "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-ss", "4.2", "-t", "3", "-i", dataset("video/fr_short_hamilton_clip.mp4"), "-vf", "fps=15", "-pix_fmt", "yuv420p", "-an", y4m],
      { stdout: "pipe", stderr: "pipe" },
    );
    if (ffmpeg.exitCode !== 0) throw new Error(`ffmpeg failed: ${ffmpeg.stderr.toString()}`);

    server = await startServerProcess({
      [ADMIN_KEY]: ["*"],
      [ACME_KEY]: [COMPANY],
      [GLOBEX_KEY]: ["globex"],
      // A kiosk's key: recognition only; the console refuses it.
      [KIOSK_KEY]: { companies: [COMPANY], scopes: ["recognize"] },
    });
    // Another company with a person in it: a company key for acme must never see it.
    expect((await api("POST", "/v1/companies", ADMIN_KEY, { company_id: "globex" })).status).toBe(201);
    const kit = readFileSync(photo("kit_harington", "john1.jpeg")).toString("base64");
    expect((await api("POST", "/v1/companies/globex/users", ADMIN_KEY, { user_id: "Kit Harington", face_id: "k1", image: kit })).status).toBe(201);

    context = await chromium.launchPersistentContext(join(tmp, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1366, height: 900 },
      acceptDownloads: true,
      args: fakeCameraArgs(y4m),
    });
    page = context.pages()[0] ?? (await context.newPage());
    collectPageErrors(page, pageErrors); // refused requests (4xx) are part of the flow
  }, 240_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await server?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const signIn = async (key: string) => {
    await page.goto(`${server.url}/admin`);
    await page.locator("#key").fill(key);
    await page.locator("#signin-go").click();
    await page.waitForFunction(() => document.body.dataset.signedIn === "true", null, { timeout: 15_000 });
  };

  /** Enrolls through the form; resolves with the outcome card's code and text. */
  const enroll = async (userId: string, choose: () => Promise<void>) => {
    const before = await page.locator("#enroll-outcomes li").count();
    await page.locator("#enroll-user").fill(userId);
    await choose();
    await page.locator("#enroll-go:not([disabled])").click();
    await page.waitForFunction((n) => document.querySelectorAll("#enroll-outcomes li").length > n, before, { timeout: 60_000 });
    const card = page.locator("#enroll-outcomes li").first();
    return { code: await card.getAttribute("data-code"), text: await card.innerText(), card };
  };

  test("an admin signs in, creates a company and enrolls two people from files and one from the webcam", async () => {
    await signIn(ADMIN_KEY);
    await page.waitForSelector("#companies tr[data-company='globex']");
    expect(await page.locator("#who").innerText()).toBe("admin key");
    await page.locator("#new-company").fill(COMPANY);
    await page.locator("#create-company button[type=submit]").click();
    await page.waitForSelector(`#companies tr[data-company='${COMPANY}']`);
    expect(await page.locator(`#companies tr[data-company='${COMPANY}'] td.num`).allInnerTexts()).toEqual(["0", "0"]);
    await shot("companies");

    await page.locator(`#companies tr[data-company='${COMPANY}'] a`).click();
    await page.waitForSelector("#enroll-form");

    // 1. A file from the picker.
    const first = await enroll(OBAMA, () => page.locator("#enroll-file").setInputFiles(photo("obama", "obama.jpg")));
    expect(first.code).toBe("OK");
    expect(first.text).toContain(`${OBAMA} enrolled`);
    // The stored face's box is drawn over the photo.
    await expect(first.card.locator("svg.boxes rect.box-ok").count()).resolves.toBe(1);

    // 2. A file dropped on the drop zone (a real drop event with a DataTransfer holding the file).
    const bytes = readFileSync(photo("biden", "biden.jpg")).toString("base64");
    const second = await enroll(BIDEN, async () => {
      const transfer = await page.evaluateHandle((b64) => {
        const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([data], "biden.jpg", { type: "image/jpeg" }));
        return dt;
      }, bytes);
      await page.locator("#enroll-drop").dispatchEvent("drop", { dataTransfer: transfer });
      await page.waitForSelector("#enroll-preview img");
    });
    expect(second.code).toBe("OK");

    // 3. The webcam (the kiosk's camera code): the fake camera plays the performer.
    const third = await enroll(PERFORMER, async () => {
      await page.locator("#enroll-camera").click();
      await page.waitForFunction(() => {
        const v = document.getElementById("enroll-video") as HTMLVideoElement | null;
        return !!v && v.readyState >= 2 && v.videoWidth > 0;
      }, null, { timeout: 30_000 });
      await page.locator("#enroll-shoot:not([disabled])").click();
      await page.waitForSelector("#enroll-preview img");
    });
    expect({ code: third.code, text: third.text }).toEqual({ code: "OK", text: expect.stringContaining(`${PERFORMER} enrolled`) });
    await page.locator("#enroll-camera").click(); // close the webcam

    // The three are listed, one face each.
    await page.waitForFunction(() => document.querySelectorAll("#people tbody tr[data-user]").length === 3, null, { timeout: 15_000 });
    expect(await peopleRows().evaluateAll((rows) => rows.map((r) => [(r as HTMLElement).dataset.user, r.querySelector("td.num")?.textContent]))).toEqual([
      [OBAMA, "1"],
      [BIDEN, "1"],
      [PERFORMER, "1"],
    ]);
    // The API agrees: the webcam photo is the performer (recognized from his portrait).
    const portrait = readFileSync(photo("lin_manuel_miranda", "lin-manuel-miranda.png")).toString("base64");
    expect((await api("POST", `/v1/companies/${COMPANY}/recognize`, ACME_KEY, { image: portrait })).json.user_id).toBe(PERFORMER);
    expect(pageErrors).toEqual([]);
  }, 240_000);

  test("refusals are shown in words next to the photo, with the face boxed where one was found", async () => {
    // No face at all.
    const none = await enroll("Nobody", () => page.locator("#enroll-file").setInputFiles(dataset("scenes/noface/opencv_home.jpg")));
    expect(none.code).toBe("NO_FACE");
    expect(none.text).toContain("No face was found in this photo.");
    await page.waitForFunction(() => document.querySelector("#enroll-outcomes li")?.getAttribute("data-faces") === "0", null, { timeout: 30_000 });
    // A person who is enrolled already: refused, and the face the detector finds is boxed.
    const again = await enroll(OBAMA, () => page.locator("#enroll-file").setInputFiles(photo("obama", "obama1.jpg")));
    expect(again.code).toBe("USER_EXISTS");
    expect(again.text).toContain("already enrolled");
    await page.waitForFunction(() => document.querySelector("#enroll-outcomes li")?.getAttribute("data-faces") === "1", null, { timeout: 30_000 });
    expect(await again.card.locator("svg.boxes rect.box-refused").count()).toBe(1);
    // The quality gate: a face tilted 62° (roll above the 50° bound) is refused as FACE_QUALITY,
    // naming the check and the measured value; the detector still finds it, so it is boxed.
    const tilted = join(tmp, "rose-tilted.jpg");
    await sharp(photo("rose_leslie", "img1.jpg")).rotate(62, { background: "#808080" }).jpeg().toFile(tilted);
    const quality = await enroll("Rose Tilted", () => page.locator("#enroll-file").setInputFiles(tilted));
    expect(quality.code).toBe("FACE_QUALITY");
    expect(quality.text).toMatch(/The face is not good enough to enroll: .*roll/);
    await page.waitForFunction(() => document.querySelector("#enroll-outcomes li")?.getAttribute("data-faces") === "1", null, { timeout: 30_000 });
    expect(await quality.card.locator("svg.boxes rect.box-refused").count()).toBe(1);
    await shot("enroll");
    // Nothing was added by the refusals.
    expect(await peopleRows().count()).toBe(3);
    expect((await api("GET", `/v1/companies/${COMPANY}/users/${encodeURIComponent(OBAMA)}/faces`, ACME_KEY)).json.face_ids).toEqual(["obama"]);
    expect(pageErrors).toEqual([]);
  }, 120_000);

  test("search by id; a person's page: add a face, delete a face", async () => {
    await page.locator("#people-search").fill("bid");
    await page.locator("#people-search-form button[type=submit]").click();
    await page.waitForFunction(() => document.querySelectorAll("#people tbody tr[data-user]").length === 1, null, { timeout: 15_000 });
    expect(await peopleRows().first().getAttribute("data-user")).toBe(BIDEN);
    expect(await page.locator("#people-summary").innerText()).toContain("1 match");
    await page.locator("#people-search").fill("");
    await page.locator("#people-search-form button[type=submit]").click();
    await page.waitForFunction(() => document.querySelectorAll("#people tbody tr[data-user]").length === 3);

    await page.locator(`#people tr[data-user='${OBAMA}'] a`).click();
    await page.waitForSelector("#faces li[data-face='obama']");
    await page.locator("#face-file").setInputFiles(photo("obama", "obama3.jpg"));
    await page.locator("#add-face-go:not([disabled])").click();
    await page.waitForSelector("#faces li[data-face='obama3']", { timeout: 60_000 });
    expect(await page.locator("#face-outcomes li").first().getAttribute("data-code")).toBe("OK");
    await shot("person");
    // Delete the added face again (confirmation first).
    await page.locator("#faces li[data-face='obama3'] button").click();
    await page.waitForSelector("#confirm[open]");
    await expect(page.locator("#confirm-body").innerText()).resolves.toContain("obama3");
    await page.locator("#confirm-go").click();
    await page.waitForFunction(() => !document.querySelector("#faces li[data-face='obama3']"));
    expect((await api("GET", `/v1/companies/${COMPANY}/users/${encodeURIComponent(OBAMA)}/faces`, ACME_KEY)).json.face_ids).toEqual(["obama"]);
    expect(pageErrors).toEqual([]);
  }, 120_000);

  test("a recognition through the API appears live, newest on top, with kiosk, time and confidence; filters; CSV", async () => {
    await page.goto(`${server.url}/admin#/c/${COMPANY}/live`);
    await page.waitForFunction(() => document.getElementById("feed-status")?.dataset.status === "live", null, { timeout: 20_000 });
    const recognize = async (person: string, file: string, kiosk: string) => {
      const image = readFileSync(photo(person, file)).toString("base64");
      const r = await api("POST", `/v1/companies/${COMPANY}/recognize`, ACME_KEY, { image, record: true, kiosk_id: kiosk });
      expect(r.status).toBe(200);
      return r.json;
    };
    const obama = await recognize("obama", "obama2.jpg", "front-door");
    expect(obama.user_id).toBe(OBAMA);
    await page.waitForSelector(`#events-body tr[data-user='${OBAMA}']`, { timeout: 20_000 });
    const cells = await page.locator(`#events-body tr[data-user='${OBAMA}'] td`).allInnerTexts();
    expect(cells[1]).toBe(OBAMA);
    expect(Number(cells[2])).toBeCloseTo(Number(obama.confidence), 3);
    expect(cells[3]).toBe("front-door");
    expect(cells[0]).toMatch(/\d{2}:\d{2}:\d{2}/);

    const biden = await recognize("biden", "biden2.jpg", "back-door");
    expect(biden.user_id).toBe(BIDEN);
    await page.waitForFunction((name) => document.querySelector("#events-body tr")?.getAttribute("data-user") === name, BIDEN, { timeout: 20_000 });
    expect(await page.locator("#events-body tr[data-user]").count()).toBe(2);
    await shot("live");

    // Filters: by kiosk, by person.
    await page.locator("#filter-kiosk").fill("front");
    expect(await page.locator("#events-body tr[data-user]").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.user))).toEqual([OBAMA]);
    await page.locator("#filter-kiosk").fill("");
    await page.locator("#filter-user").fill("biden");
    expect(await page.locator("#events-body tr[data-user]").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.user))).toEqual([BIDEN]);
    await page.locator("#filter-user").fill("");

    // CSV: both events, with the kiosk ids.
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#csv").click()]);
    const csv = readFileSync((await download.path()) ?? "", "utf8");
    const lines = csv.trim().split(/\r?\n/);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain("user_id");
    expect(csv).toContain("front-door");
    expect(csv).toContain("back-door");
    expect(pageErrors).toEqual([]);
  }, 120_000);

  test("the operating point: gallery size, threshold, expected false accepts, the plots, and a change within bounds", async () => {
    await page.goto(`${server.url}/admin#/c/${COMPANY}/operating-point`);
    await page.waitForSelector("#op-facts", { timeout: 20_000 });
    expect(await page.locator("#op-gallery").innerText()).toBe("3 people");
    expect(await page.locator("#plot-rates path.series").count()).toBeGreaterThanOrEqual(2);
    expect(await page.locator("#plot-det path.series").count()).toBe(1);
    // A fixed threshold of 0.5: out of bounds is refused in the page, within bounds is saved.
    await page.locator("#op-mode-threshold").check();
    await page.locator("#op-value").fill("5");
    expect(await page.locator("#op-save").isDisabled()).toBe(true);
    await page.locator("#op-value").fill("0.5");
    expect(await page.locator("#op-preview").innerText()).toContain("Threshold 0.500");
    await page.locator("#op-save").click();
    await page.waitForFunction(() => document.getElementById("op-threshold")?.textContent === "0.500", null, { timeout: 15_000 });
    await shot("operating-point");
    // The README's picture (docs/admin.png is made from it): this section at laptop size, no toasts.
    await page.evaluate(() => {
      document.getElementById("toast")?.replaceChildren();
      window.scrollTo(0, 0);
    });
    await page.screenshot({ path: join(RESULTS, "admin-readme.png") });
    const op = await api("GET", `/v1/companies/${COMPANY}/operating-point`, ACME_KEY);
    expect(op.json.threshold).toBeCloseTo(0.5, 6);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  test("system: health of engine and store, queue depth and latency charts from /metrics", async () => {
    await page.goto(`${server.url}/admin#/system`);
    await page.waitForSelector("#health-server .pill", { timeout: 20_000 });
    expect(await page.locator("#health-server .pill").innerText()).toMatch(/ok|healthy/);
    expect(await page.locator("#health-engine").innerText()).toContain("onnx");
    await page.waitForSelector("#chart-latency svg", { timeout: 20_000 });
    await page.waitForSelector("#chart-queue svg");
    await shot("system");
    expect(pageErrors).toEqual([]);
  }, 60_000);

  test("deleting a person (confirmation names the faces): gone from the list and from the API", async () => {
    await page.goto(`${server.url}/admin#/c/${COMPANY}/people/${encodeURIComponent(BIDEN)}`);
    await page.waitForSelector("#faces li[data-face]");
    await page.locator("#delete-person").click();
    await page.waitForSelector("#confirm[open]");
    expect(await page.locator("#confirm-body").innerText()).toBe(`This removes ${BIDEN} and 1 face from ${COMPANY}. It cannot be undone.`);
    await page.locator("#confirm-go").click();
    await page.waitForFunction(() => location.hash === "#/c/acme/people" && document.querySelectorAll("#people tbody tr[data-user]").length === 2, null, { timeout: 15_000 });
    expect(await peopleRows().evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.user))).toEqual([OBAMA, PERFORMER]);
    const users = await api("GET", `/v1/companies/${COMPANY}/users`, ACME_KEY);
    expect((users.json.users as Array<{ user_id: string }>).map((u) => u.user_id)).toEqual([OBAMA, PERFORMER]);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  test("deleting a company: the confirmation names the people and faces it removes; cancel keeps it", async () => {
    await page.goto(`${server.url}/admin#/companies`);
    const row = page.locator("#companies tr[data-company='globex']");
    await row.locator("button[data-action=delete]").click();
    await page.waitForSelector("#confirm[open]");
    await expect(page.locator("#confirm-body").innerText()).resolves.toBe("This removes 1 person and 1 face enrolled in globex. It cannot be undone.");
    await page.locator("#confirm-cancel").click();
    expect((await api("GET", "/v1/companies/globex/users/Kit%20Harington/faces", ADMIN_KEY)).json.face_ids).toEqual(["k1"]);
    await row.locator("button[data-action=delete]").click();
    await page.locator("#confirm-go").click();
    await page.waitForFunction(() => !document.querySelector("#companies tr[data-company='globex']"), null, { timeout: 15_000 });
    expect((await api("GET", "/v1/companies/globex/users/Kit%20Harington/faces", ADMIN_KEY)).json.face_ids).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  test("people are paginated (25, 50 or 100 a page) and searchable by id across pages", async () => {
    expect((await api("POST", "/v1/companies", ADMIN_KEY, { company_id: "crowd" })).status).toBe(201);
    const face = readFileSync(photo("obama", "obama_small.jpg")).toString("base64");
    for (let i = 1; i <= 27; i++) {
      const r = await api("POST", "/v1/companies/crowd/users", ADMIN_KEY, { user_id: `person-${String(i).padStart(2, "0")}`, face_id: "f", image: face });
      expect(r.status).toBe(201);
    }
    await page.goto(`${server.url}/admin#/c/crowd/people`);
    await page.waitForFunction(() => document.querySelectorAll("#people tbody tr[data-user]").length === 25, null, { timeout: 15_000 });
    expect(await page.locator("#people-summary").innerText()).toBe("1–25 of 27 people.");
    expect(await page.locator("#page-prev").isDisabled()).toBe(true);
    await page.locator("#page-next").click();
    await page.waitForFunction(() => document.querySelectorAll("#people tbody tr[data-user]").length === 2);
    expect(await peopleRows().evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.user))).toEqual(["person-26", "person-27"]);
    expect(await page.locator("#people-summary").innerText()).toBe("26–27 of 27 people.");
    expect(await page.locator("#page-next").isDisabled()).toBe(true);
    await page.locator("#page-prev").click();
    await page.waitForFunction(() => document.querySelectorAll("#people tbody tr[data-user]").length === 25);
    expect(await peopleRows().first().getAttribute("data-user")).toBe("person-01");
    await page.locator("#page-size").selectOption("50");
    await page.waitForFunction(() => document.querySelectorAll("#people tbody tr[data-user]").length === 27);
    // Search: every id containing "person-2" (20 to 27), case-insensitive, across the whole list.
    await page.locator("#people-search").fill("PERSON-2");
    await page.locator("#people-search").press("Enter");
    await page.waitForFunction(() => document.querySelectorAll("#people tbody tr[data-user]").length === 8, null, { timeout: 15_000 });
    expect(await peopleRows().evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.user))).toEqual(["person-20", "person-21", "person-22", "person-23", "person-24", "person-25", "person-26", "person-27"]);
    // An exact id comes first.
    await page.locator("#people-search").fill("person-02");
    await page.locator("#people-search").press("Enter");
    await page.waitForFunction(() => document.querySelector("#people tbody tr[data-user]")?.getAttribute("data-user") === "person-02");
    expect(await page.locator("#people-summary").innerText()).toBe("1 match for “person-02”.");
    expect(pageErrors).toEqual([]);
  }, 120_000);

  test("ids are shown as text, never as markup (people list, person page, live feed)", async () => {
    const evil = `<img src=x onerror="window.__xss=1">`;
    const face = readFileSync(photo("rose_leslie", "img1.jpg")).toString("base64");
    expect((await api("POST", "/v1/companies/crowd/users", ADMIN_KEY, { user_id: evil, face_id: "f", image: face })).status).toBe(201);
    await page.goto(`${server.url}/admin#/c/crowd/people`);
    await page.locator("#people-search").fill("onerror");
    await page.locator("#people-search").press("Enter");
    await page.waitForFunction(
      (id) => {
        const rows = document.querySelectorAll<HTMLElement>("#people tbody tr[data-user]");
        return rows.length === 1 && rows[0].dataset.user === id;
      },
      evil,
      { timeout: 15_000 },
    );
    expect(await peopleRows().first().locator("a").innerText()).toBe(evil);
    await peopleRows().first().locator("a").click();
    await page.waitForSelector("#faces li[data-face='f']");
    expect(await page.locator("#person-title").innerText()).toBe(evil);
    await page.goto(`${server.url}/admin#/c/crowd/live`);
    await page.waitForFunction(() => document.getElementById("feed-status")?.dataset.status === "live", null, { timeout: 20_000 });
    const probe = readFileSync(photo("rose_leslie", "img2.jpg")).toString("base64");
    const r = await api("POST", "/v1/companies/crowd/recognize", ADMIN_KEY, { image: probe, record: true, kiosk_id: "<b>door</b>" });
    expect(r.json.user_id).toBe(evil);
    await page.waitForSelector("#events-body tr[data-user]", { timeout: 20_000 });
    const cells = await page.locator("#events-body tr[data-user] td").allInnerTexts();
    expect([cells[1], cells[3]]).toEqual([evil, "<b>door</b>"]);
    expect(await page.locator("main img[src='x'], main b").count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(pageErrors).toEqual([]);
  }, 60_000);

  test("sign out: the key is gone from the tab; a reload asks for it again", async () => {
    await page.locator("#sign-out").click();
    await page.waitForSelector("#signin");
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await page.reload();
    await page.waitForSelector("#signin");
    expect(await page.locator("#nav a").count()).toBe(0);
  }, 30_000);

  test("a company key sees only its company", async () => {
    // globex again, with a person, for this key to (not) see.
    await api("POST", "/v1/companies", ADMIN_KEY, { company_id: "globex" });
    const kit = readFileSync(photo("kit_harington", "john2.jpeg")).toString("base64");
    expect((await api("POST", "/v1/companies/globex/users", ADMIN_KEY, { user_id: "Kit Harington", face_id: "k2", image: kit })).status).toBe(201);

    // A kiosk's key (recognize scope) cannot sign in: the console manages.
    await page.goto(`${server.url}/admin`);
    await page.locator("#key").fill(KIOSK_KEY);
    await page.locator("#signin-go").click();
    await page.waitForFunction(() => /manage scope/.test(document.getElementById("signin-status")?.textContent ?? ""), null, { timeout: 15_000 });
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    // A wrong key neither.
    await page.locator("#key").fill("not-a-key-0123456789");
    await page.locator("#signin-go").click();
    await page.waitForFunction(() => /not accepted/.test(document.getElementById("signin-status")?.textContent ?? ""), null, { timeout: 15_000 });

    await signIn(ACME_KEY);
    await page.waitForFunction(() => location.hash === "#/c/acme/people" && document.querySelectorAll("#people tbody tr[data-user]").length === 2, null, { timeout: 15_000 });
    expect(await page.locator("#who").innerText()).toBe("company key · acme");
    // No companies section, and only its own company to pick.
    expect(await page.locator("#nav a").allInnerTexts()).toEqual(["People", "Live", "Operating point", "System"]);
    expect(await page.locator("#company-pick option:not([disabled])").allInnerTexts()).toEqual([COMPANY]);
    await shot("company-key");
    // The companies list is the admin's: the page goes to its own company instead.
    await page.goto(`${server.url}/admin#/companies`);
    await page.waitForFunction(() => location.hash === "#/c/acme/people");
    // Another company's people: refused by the server, nothing shown.
    await page.goto(`${server.url}/admin#/c/globex/people`);
    await page.waitForFunction(() => /may not do that/.test(document.querySelector("main .status.error")?.textContent ?? ""), null, { timeout: 15_000 });
    expect(await peopleRows().count()).toBe(0);
    expect(await page.locator("main").innerText()).not.toContain("Kit Harington");
    // And the system view has no metrics for it.
    await page.goto(`${server.url}/admin#/system`);
    await page.waitForSelector("#health-server");
    await expect(page.locator("#metrics").innerText()).resolves.toContain("needs an admin key");
    // The API agrees.
    expect((await api("GET", "/v1/companies", ACME_KEY)).status).toBe(403);
    expect((await api("GET", "/v1/companies/globex/users", ACME_KEY)).status).toBe(403);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  test("a server without the event log or operating point routes: each view says so, nothing breaks", async () => {
    // An older server answers these routes with its 404 "no route" error.
    const noRoute = (path: string) => JSON.stringify({ error: { code: "NOT_FOUND", message: `no route GET ${path}` } });
    await page.route(/\/v1\/companies\/[^/]+\/(events|operating-point)/, (route) =>
      route.fulfill({ status: 404, contentType: "application/json", body: noRoute(new URL(route.request().url()).pathname) }),
    );
    try {
      await page.goto(`${server.url}/admin#/c/${COMPANY}/live`);
      await page.waitForFunction(() => /not available on this server/.test(document.querySelector("main .status.error")?.textContent ?? ""), null, { timeout: 15_000 });
      expect(await page.locator("main .status.error").innerText()).toBe(`The event log is not available on this server (GET /v1/companies/${COMPANY}/events).`);
      expect(await page.locator("#feed-status").innerText()).toBe("unavailable");
      await page.goto(`${server.url}/admin#/c/${COMPANY}/operating-point`);
      await page.waitForFunction(() => /not available on this server/.test(document.querySelector("main .status.error")?.textContent ?? ""), null, { timeout: 15_000 });
      // What the page can still say: the gallery size, from the users list.
      await page.waitForFunction(() => /Gallery size: 2 people/.test(document.querySelector("main")?.textContent ?? ""), null, { timeout: 15_000 });
    } finally {
      await page.unroute(/\/v1\/companies\/[^/]+\/(events|operating-point)/);
    }
    expect(pageErrors).toEqual([]);
  }, 60_000);

  test("tablet and laptop layouts: everything reachable, nothing overflows sideways; enrolling by keyboard alone", async () => {
    for (const [name, width, height] of [["tablet", 820, 1180], ["laptop", 1280, 720]] as const) {
      await page.setViewportSize({ width, height });
      await page.goto(`${server.url}/admin#/c/${COMPANY}/people`);
      await page.waitForSelector("#people tbody tr[data-user]");
      expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
      for (const id of ["#enroll-user", "#enroll-drop", "#people-search", "#sign-out"]) expect(await page.locator(id).isVisible()).toBe(true);
      await page.screenshot({ path: join(RESULTS, `admin-people-${name}.png`) });
      // The other sections fit as well (tables scroll inside their card where they must).
      for (const [section, ready] of [["live", "#events"], ["operating-point", "#plot-rates"], ["system", "#health-server"]] as const) {
        await page.goto(`${server.url}/admin#/${section === "system" ? "system" : `c/${COMPANY}/${section}`}`);
        await page.waitForSelector(ready, { timeout: 20_000 });
        expect({ section, name, fits: await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth) }).toEqual({ section, name, fits: true });
        if (name === "tablet") await page.screenshot({ path: join(RESULTS, `admin-${section}-tablet.png`), fullPage: true });
      }
    }
    // Keyboard only: the digits switch sections; enroll a person with Tab, Enter and typing.
    await page.locator("body").press("3");
    await page.waitForFunction(() => location.hash.endsWith("/live"));
    await page.locator("body").press("2");
    await page.waitForSelector("#enroll-drop");
    await page.locator("#enroll-user").focus();
    await page.keyboard.type("Rose Leslie");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("enroll-drop");
    const [chooser] = await Promise.all([page.waitForEvent("filechooser"), page.locator("#enroll-drop").press("Enter")]);
    expect(chooser.isMultiple()).toBe(false);
    await chooser.setFiles(photo("rose_leslie", "img1.jpg"));
    await page.waitForSelector("#enroll-preview img");
    await page.keyboard.press("Tab"); // the webcam button
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("enroll-go");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#enroll-outcomes li[data-code='OK']", { timeout: 60_000 });
    await page.waitForSelector("#people tr[data-user='Rose Leslie']");
    expect(pageErrors).toEqual([]);
  }, 60_000);
  test("a key the server stops accepting mid-session: back to sign-in, the key forgotten", async () => {
    await page.goto(`${server.url}/admin#/c/${COMPANY}/live`);
    await page.waitForSelector("#feed-status");
    // As if the key had been removed from API_KEYS and the server restarted.
    await page.route(/\/v1\/companies\/acme\/users/, (route) =>
      route.fulfill({ status: 401, contentType: "application/json", body: JSON.stringify({ error: { code: "UNAUTHORIZED", message: "invalid API key" } }) }),
    );
    try {
      await page.locator("body").press("2");
      await page.waitForSelector("#signin", { timeout: 15_000 });
      expect(await page.locator("#signin-status").innerText()).toContain("no longer accepts this key");
      expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    } finally {
      await page.unroute(/\/v1\/companies\/acme\/users/);
    }
    expect(pageErrors).toEqual([]);
  }, 60_000);
}, describeDatasets);
