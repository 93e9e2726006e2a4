/**
 * Bulk enrollment in the console (Chromium, playwright-core, a real server process): a zip of 500
 * LFW dev people (`<person>/<photo>`, 20 of them with a second photo, plus a photo with no face and
 * one too blurred for the quality gate) is enrolled with a progress bar and one outcome per photo; a run
 * cancelled half-way resumes and enrolls only the rest; a second browser (nothing remembered) sends
 * everything again and the server answers "already enrolled" for each: nothing is enrolled twice.
 * The server's own counts are the truth every step is checked against. Screenshot: test-results/admin-bulk.png.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { zipSync } from "fflate";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import sharp from "sharp";
import { dataset, describeDatasets, ROOT } from "../helpers/datasets.ts";
import { CHROMIUM, collectPageErrors } from "../helpers/chromium.ts";
import { describeWithTools } from "../helpers/tools.ts";
import { startServerProcess, type ServerProcess } from "./server-process.ts";

const ADMIN_KEY = "bulk-admin-key-0123456789";
const COMPANY = "bulk";
const PEOPLE = 500;
const TWICE = 20;

describeWithTools(["chromium"], "bulk enrollment in the console", () => {
  describeDatasets("500 LFW people from a zip", () => {
    let server: ServerProcess;
    let tmp: string;
    let zip: string;
    let photos = 0;
    let context: BrowserContext;
    let page: Page;
    const pageErrors: string[] = [];

    const faces = async (): Promise<number> => {
      const res = await fetch(`${server.url}/v1/stats?company=${COMPANY}`, { headers: { "X-API-Key": ADMIN_KEY } });
      return ((await res.json()) as { companies: Record<string, { faces: number }> }).companies[COMPANY]?.faces ?? 0;
    };
    /** The page's count for an outcome (0 when it shows none). */
    const shown = async (outcome: string): Promise<number> => {
      const li = page.locator(`#bulk-counts li[data-outcome='${outcome}'] b`);
      return (await li.count()) === 0 ? 0 : Number((await li.innerText()).replace(/\D/g, ""));
    };
    const runToEnd = async () => {
      await page.locator("#bulk-start:not([disabled])").click();
      await page.waitForFunction(() => document.body.dataset.bulk !== undefined, null, { timeout: 240_000, polling: 200 });
      expect(await page.evaluate(() => document.body.dataset.bulk)).toBe("done");
    };

    beforeAll(async () => {
      if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium`);
      tmp = mkdtempSync(join(tmpdir(), "facegate-bulk-"));
      const lfw = dataset("lfw-dev/images");
      const entries: Record<string, Uint8Array> = {};
      const names = readdirSync(lfw).sort().slice(0, PEOPLE);
      let second = 0;
      for (const person of names) {
        const files = readdirSync(join(lfw, person)).sort();
        const take = files.length >= 2 && second < TWICE ? (second++, 2) : 1;
        for (const f of files.slice(0, take)) entries[`people/${person}/${f}`] = new Uint8Array(readFileSync(join(lfw, person, f)));
      }
      // a photo without a face, and a face too small for the quality gate
      const noface = dataset("scenes/noface");
      entries["people/Nobody_Here/fruit.jpg"] = new Uint8Array(readFileSync(join(noface, readdirSync(noface).filter((f) => f.endsWith(".jpg")).sort()[0]!)));
      // blurred (as in test/server/quality.test.ts): refused by the gate for sharpness
      const sharpPhoto = readFileSync(join(ROOT, "node_modules/@vladmandic/face-api/demo/sample3.jpg"));
      const meta = await sharp(sharpPhoto).metadata();
      const small = await sharp(sharpPhoto).resize(Math.round(meta.width! / 4)).blur(3).toBuffer();
      entries["people/Blurry_Photo/blurred.jpg"] = new Uint8Array(await sharp(small).resize(meta.width!).jpeg().toBuffer());
      entries["people/.DS_Store"] = new Uint8Array([0]);
      photos = Object.keys(entries).length - 1;
      zip = join(tmp, "people.zip");
      writeFileSync(zip, zipSync(entries, { level: 0 }));

      server = await startServerProcess({ [ADMIN_KEY]: ["*"] });
      const created = await fetch(`${server.url}/v1/companies`, {
        method: "POST",
        headers: { "X-API-Key": ADMIN_KEY, "Content-Type": "application/json" },
        body: JSON.stringify({ company_id: COMPANY }),
      });
      expect(created.status).toBe(201);
      context = await chromium.launchPersistentContext(join(tmp, "profile"), { executablePath: CHROMIUM, headless: true, viewport: { width: 1366, height: 900 } });
      page = context.pages()[0] ?? (await context.newPage());
      collectPageErrors(page, pageErrors);
      await page.goto(`${server.url}/admin`);
      await page.locator("#key").fill(ADMIN_KEY);
      await page.locator("#signin-go").click();
      await page.waitForFunction(() => document.body.dataset.signedIn === "true", null, { timeout: 15_000 });
    }, 240_000);

    afterAll(async () => {
      await context?.close().catch(() => {});
      await server?.stop();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    const open = async () => {
      // from the people page, by its link (a fresh view each time)
      await page.goto(`${server.url}/admin#/c/${COMPANY}/people`);
      await page.locator("#bulk-link").click();
      await page.locator("#bulk-files").setInputFiles(zip);
      await page.waitForFunction((n) => document.getElementById("bulk-status")?.textContent?.startsWith(`${n.toLocaleString("en-US")} photos`), photos, { timeout: 30_000 });
    };

    test("cancelled part-way: what the page says is done is exactly what the server holds", async () => {
      await open();
      expect(await page.locator("#bulk-status").innerText()).toContain(`of ${(PEOPLE + 2).toLocaleString("en-US")} people`);
      await page.locator("#bulk-start").click();
      await page.waitForFunction(() => Number((document.getElementById("bulk-progress") as HTMLProgressElement).value) >= 60, null, { timeout: 120_000, polling: 100 });
      await page.locator("#bulk-cancel").click();
      await page.waitForFunction(() => document.body.dataset.bulk !== undefined, null, { timeout: 60_000 });
      expect(await page.evaluate(() => document.body.dataset.bulk)).toBe("cancelled");
      const enrolled = await shown("enrolled");
      expect(enrolled).toBeGreaterThanOrEqual(50);
      expect(enrolled).toBeLessThan(photos);
      expect(await faces()).toBe(enrolled);
      expect(await page.locator("#bulk-results tr[data-outcome='enrolled']").count()).toBe(enrolled);
    }, 180_000);

    test("resumed: the rest is enrolled, nothing twice; each photo has its outcome; the operating point follows", async () => {
      const before = await faces();
      await open();
      await runToEnd();
      const skipped = await shown("skipped");
      const enrolled = await shown("enrolled");
      expect(skipped).toBeGreaterThanOrEqual(before);
      expect(await faces()).toBe(before + enrolled);
      // every photo accounted for, in one outcome
      const refused = (await shown("quality")) + (await shown("no_face")) + (await shown("error")) + (await shown("invalid_image"));
      expect(skipped + enrolled + refused + (await shown("duplicate"))).toBe(photos);
      expect(await page.locator("#bulk-results tr[data-user='Nobody_Here'][data-outcome='no_face']").count()).toBe(1);
      const blurry = page.locator("#bulk-results tr[data-user='Blurry_Photo']");
      expect(await blurry.getAttribute("data-outcome")).toBe("quality");
      expect(await blurry.innerText()).toMatch(/refused: quality: .*sharpness/);
      expect(Number(await page.locator("#bulk-progress").getAttribute("value"))).toBe(photos);
      expect(await faces()).toBeGreaterThanOrEqual(PEOPLE + TWICE - 10); // LFW: a handful refused by the gate at most
      await page.waitForFunction(() => /Operating point now: threshold/.test(document.getElementById("bulk-op")?.textContent ?? ""), null, { timeout: 10_000 });
      const users = ((await (await fetch(`${server.url}/v1/companies/${COMPANY}/users?limit=1`, { headers: { "X-API-Key": ADMIN_KEY } })).json()) as { total: number }).total;
      expect(await page.locator("#bulk-op").innerText()).toContain(`for ${users.toLocaleString("en-US")} people`);
      mkdirSync(join(ROOT, "test-results"), { recursive: true });
      await page.screenshot({ path: join(ROOT, "test-results", "admin-bulk.png") });
    }, 300_000);

    test("another browser (nothing remembered) sends it all again: the server says already enrolled, nothing is added", async () => {
      const before = await faces();
      await page.evaluate(() => localStorage.clear());
      await open();
      await runToEnd();
      expect(await shown("enrolled")).toBe(0);
      expect(await shown("skipped")).toBe(0);
      expect(await shown("duplicate")).toBe(before);
      expect(await faces()).toBe(before);
      expect(pageErrors).toEqual([]);
    }, 300_000);
  });
});
