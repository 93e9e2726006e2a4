/**
 * The admin console on a server in open mode (no API keys), in Debian's Chromium: it says so and is
 * signed in without a key (before, it asked for an admin key that does not exist). A server with
 * keys still asks for one and shows no banner. No datasets needed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { CHROMIUM, collectPageErrors } from "../helpers/chromium.ts";
import { describeWithTools } from "../helpers/tools.ts";
import { startServerProcess, type ServerProcess } from "./server-process.ts";

const ADMIN_KEY = "open-mode-test-admin-key-0123";

describeWithTools(["chromium"], "admin console in open mode (Chromium)", () => {
  let open: ServerProcess;
  let keyed: ServerProcess;
  let browser: Browser;
  let tmp: string;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "facegate-admin-open-"));
    [open, keyed] = await Promise.all([startServerProcess({}), startServerProcess({ [ADMIN_KEY]: ["*"] })]);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  }, 240_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await Promise.all([open?.stop(), keyed?.stop()]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test("open mode: no sign-in form, a banner saying why, and the console works (a company created from it)", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    collectPageErrors(page, errors);
    await page.goto(`${open.url}/admin`);
    await page.waitForFunction(() => document.body.dataset.signedIn === "true", null, { timeout: 15_000 });
    expect(await page.locator("#signin").count()).toBe(0);
    expect(await page.locator("#open-mode").isVisible()).toBe(true);
    expect(await page.locator("#open-mode").innerText()).toContain("no API keys");
    expect(await page.locator("#who").innerText()).toBe("open mode · no key");
    expect(await page.locator("#sign-out").isVisible()).toBe(false);
    // It is really signed in: the companies view loads and creates a company through the API.
    await page.locator("#new-company").fill("open-co");
    await page.locator("#create-company button[type=submit]").click();
    await page.waitForSelector("#companies tr[data-company='open-co']");
    const listed = (await (await fetch(`${open.url}/v1/companies`)).json()) as { companies: Array<{ company_id: string }> };
    expect(listed.companies.map((c) => c.company_id)).toContain("open-co");
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);

  test("with keys: the sign-in form, no banner; GET /v1/me says auth_mode", async () => {
    const page = await browser.newPage();
    await page.goto(`${keyed.url}/admin`);
    await page.waitForSelector("#signin #key");
    expect(await page.locator("#open-mode").isVisible()).toBe(false);
    await page.locator("#key").fill(ADMIN_KEY);
    await page.locator("#signin-go").click();
    await page.waitForFunction(() => document.body.dataset.signedIn === "true", null, { timeout: 15_000 });
    expect(await page.locator("#who").innerText()).toBe("admin key");
    expect(await page.locator("#open-mode").isVisible()).toBe(false);
    await page.close();
    expect((await fetch(`${keyed.url}/v1/me`)).status).toBe(401);
    const me = (await (await fetch(`${keyed.url}/v1/me`, { headers: { "X-API-Key": ADMIN_KEY } })).json()) as { auth_mode: string };
    expect(me.auth_mode).toBe("keys");
    expect(((await (await fetch(`${open.url}/v1/me`)).json()) as { auth_mode: string }).auth_mode).toBe("open");
  }, 60_000);
});
