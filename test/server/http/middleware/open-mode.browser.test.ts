/**
 * Open mode against a real browser (Debian Chromium through playwright-core): a page on another
 * origin posts a multipart enrollment (fetch no-cors) and a plain HTML form to the local open
 * server; nothing is enrolled or created. A page of the server's own origin does the same and
 * succeeds. A name rebound to 127.0.0.1 (Chromium's host resolver rules) gets 403 on every route.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { toolPath, describeWithTools } from "../../../helpers/tools.ts";
import { sample, startTestServer, type TestServer } from "../../harness.ts";

const CHROMIUM = toolPath("chromium") ?? "/usr/bin/chromium";

describeWithTools(["chromium"], "open mode in Chromium: CSRF and DNS rebinding", () => {
  let srv: TestServer;
  let attacker: ReturnType<typeof Bun.serve>;
  let context: BrowserContext;
  let tmp: string;
  const face = sample(1);

  beforeAll(async () => {
    srv = await startTestServer();
    await srv.call("POST", "/v1/companies", { json: { company_id: "acme" } });
    const target = srv.url;
    // The attacker's site: another origin (another port), serving a page and the photo it posts.
    attacker = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(req) {
        const path = new URL(req.url).pathname;
        if (path === "/face.jpg") return new Response(face, { headers: { "content-type": "image/jpeg" } });
        return new Response(
          `<!doctype html><html><body>
<form id="f" method="POST" action="${target}/v1/companies" enctype="multipart/form-data"><input name="company_id" value="evil"></form>
<script>
async function attack() {
  const image = await (await fetch("/face.jpg")).blob();
  const form = new FormData();
  form.set("user_id", "mallory");
  form.set("face_id", "f1");
  form.set("image", image, "face.jpg");
  await fetch("${target}/v1/companies/acme/users", { method: "POST", mode: "no-cors", body: form }).catch(() => {});
  await fetch("${target}/v1/companies/acme", { method: "DELETE", mode: "no-cors" }).catch(() => {});
  return "sent";
}
</script></body></html>`,
          { headers: { "content-type": "text/html" } },
        );
      },
    });
    tmp = mkdtempSync(join(tmpdir(), "facegate-csrf-"));
    context = await chromium.launchPersistentContext(join(tmp, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", `--host-resolver-rules=MAP rebind.test 127.0.0.1`],
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    attacker?.stop(true);
    await srv?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test("a page on another origin cannot enroll, delete or create through the open server", async () => {
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${attacker.port}/`);
    expect(await page.evaluate("attack()")).toBe("sent");
    // the classic form post navigates the page to the server's answer
    await Promise.all([page.waitForNavigation(), page.evaluate("document.getElementById('f').submit()")]);
    const answer = await page.content();
    await page.close();
    expect((await srv.call("GET", "/v1/companies/acme/users/mallory/faces")).body.face_ids).toEqual([]);
    const stats = (await srv.call("GET", "/v1/stats?detail=companies")).body;
    expect(Object.keys(stats.companies)).toEqual(["acme"]); // acme not deleted, evil not created
    expect(stats.companies.acme.users).toBe(0);
    expect(answer).toContain("FORBIDDEN");
  }, 60_000);

  test("a page of the server's own origin can (what /kiosk, /admin and /docs do)", async () => {
    const page = await context.newPage();
    await page.goto(`${srv.url}/docs`);
    const status = await page.evaluate(async (b64: string) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const form = new FormData();
      form.set("user_id", "ann");
      form.set("face_id", "f1");
      form.set("image", new Blob([bytes], { type: "image/jpeg" }), "face.jpg");
      return (await fetch("/v1/companies/acme/users", { method: "POST", body: form })).status;
    }, Buffer.from(face).toString("base64"));
    expect(status).toBe(201);
    await page.close();
  }, 60_000);

  test("a name rebound to 127.0.0.1 is refused on every route (DNS rebinding)", async () => {
    const page = await context.newPage();
    const port = new URL(srv.url).port;
    const res = await page.goto(`http://rebind.test:${port}/v1/stats`);
    expect(res?.status()).toBe(403);
    expect(await page.content()).toContain("DNS rebinding");
    const docs = await page.goto(`http://rebind.test:${port}/docs`);
    expect(docs?.status()).toBe(403);
    await page.close();
  }, 60_000);
});
