/**
 * Behind a real nginx (Debian's), configured as docs/tls.md shows: an HTTP recognize of a large photo
 * and the kiosk WebSocket (upgrade, a frame, its result) through the proxy; and the per-address
 * failed-key back-off keyed on the client's address from X-Forwarded-For only when the proxy is
 * trusted (TRUST_PROXY=1). Clients come from different loopback addresses (127.0.0.2, 127.0.0.3),
 * as different machines would; a client's own X-Forwarded-For never gets it a fresh address.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { freePort } from "../../../lib/nats/mod.ts";
import { faceApiSample } from "../../helpers/datasets.ts";
import { startServerProcess, type ServerProcess } from "../../helpers/server-process.ts";
import { describeWithTools, toolPath } from "../../helpers/tools.ts";

const ADMIN = "proxy-admin-key-0123456789";
const KIOSK = "proxy-kiosk-key-0123456789";

/** The nginx server block of docs/tls.md, for one upstream. */
function serverBlock(listen: number, upstream: string): string {
  return `
  server {
    listen 127.0.0.1:${listen};
    client_max_body_size 16m;          # >= MAX_BODY_BYTES (10 MiB by default)
    location / {
      proxy_pass http://${upstream};
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      # the kiosk WebSocket
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 120s;           # > KIOSK_IDLE_TIMEOUT_MS and REQUEST_TIMEOUT_MS
      proxy_send_timeout 120s;
      proxy_request_buffering off;       # stream bodies: facegate enforces its own limits early
    }
  }`;
}

/** A plain HTTP request from a chosen local address (a different "machine"). */
function from(localAddress: string, port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: "GET", headers, localAddress }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describeWithTools(["nginx"], "behind nginx: WebSocket, recognize, TRUST_PROXY", () => {
  let tmp: string;
  let nginx: ReturnType<typeof Bun.spawn> | undefined;
  let trusting: ServerProcess;
  let direct: ServerProcess;
  let trustingPort: number;
  let directPort: number;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "facegate-nginx-"));
    const env = {
      API_KEYS: JSON.stringify({ [ADMIN]: ["*"], [KIOSK]: { companies: ["door"], scopes: ["recognize"] } }),
      AUTH_FAIL_LIMIT: "3",
      KIOSK_LIVENESS: "off",
      STORE: "memory",
      HOST: "127.0.0.1",
    };
    [trusting, direct] = await Promise.all([
      startServerProcess({ ...env, TRUST_PROXY: "1", DATA_DIR: join(tmp, "a") }),
      startServerProcess({ ...env, DATA_DIR: join(tmp, "b") }),
    ]);
    [trustingPort, directPort] = [await freePort(), await freePort()];
    for (const d of ["logs", "tmp"]) mkdirSync(join(tmp, d));
    writeFileSync(
      join(tmp, "nginx.conf"),
      `daemon off;
master_process off;
worker_processes 1;
pid ${tmp}/nginx.pid;
error_log ${tmp}/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${tmp}/tmp/body;
  proxy_temp_path ${tmp}/tmp/proxy;
  fastcgi_temp_path ${tmp}/tmp/fastcgi;
  uwsgi_temp_path ${tmp}/tmp/uwsgi;
  scgi_temp_path ${tmp}/tmp/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  ${serverBlock(trustingPort, new URL(trusting.url).host)}
  ${serverBlock(directPort, new URL(direct.url).host)}
}
`,
    );
    nginx = Bun.spawn([toolPath("nginx") ?? "nginx", "-p", tmp, "-c", join(tmp, "nginx.conf")], { stdout: "ignore", stderr: "pipe" });
    const deadline = Date.now() + 15_000;
    while (!(await fetch(`http://127.0.0.1:${trustingPort}/v1/health`).then((r) => r.ok, () => false))) {
      if (nginx.exitCode !== null || Date.now() > deadline) throw new Error(`nginx did not start: ${await new Response(nginx.stderr as ReadableStream).text()}`);
      await Bun.sleep(100);
    }
  }, 120_000);

  afterAll(async () => {
    nginx?.kill("SIGTERM");
    await nginx?.exited;
    await Promise.all([trusting?.stop(), direct?.stop()]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test("HTTP through the proxy: enroll, and recognize a 4 MB photo as raw bytes", async () => {
    const base = `http://127.0.0.1:${trustingPort}`;
    const post = (path: string, body: BodyInit, type = "application/json") => fetch(`${base}${path}`, { method: "POST", headers: { "X-API-Key": ADMIN, "Content-Type": type }, body });
    expect((await post("/v1/companies", JSON.stringify({ company_id: "door" }))).status).toBe(201);
    const face = new Uint8Array(faceApiSample(2));
    expect((await post("/v1/companies/door/users", JSON.stringify({ user_id: "sam", face_id: "1", image: Buffer.from(face).toString("base64") }))).status).toBe(201);
    const big = new Uint8Array(await sharp(face).resize({ width: 3000 }).jpeg({ quality: 100 }).toBuffer());
    expect(big.length).toBeGreaterThan(1_500_000);
    const r = await post("/v1/companies/door/recognize", big, "image/jpeg");
    expect(r.status).toBe(200);
    expect(((await r.json()) as { user_id: string }).user_id).toBe("sam");
  }, 60_000);

  test("the kiosk WebSocket through the proxy: upgraded, a frame answered with a result naming the person", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${trustingPort}/v1/kiosk/ws?company=door&kiosk=proxied`, [`facegate.key.${KIOSK}`]);
    const messages: Array<{ type: string; faces?: Array<{ userId: string | null }> }> = [];
    ws.onmessage = (e) => messages.push(JSON.parse(String(e.data)));
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("the WebSocket through nginx failed"));
    });
    const wait = async (type: string) => {
      const deadline = Date.now() + 20_000;
      while (!messages.some((m) => m.type === type)) {
        if (Date.now() > deadline) throw new Error(`no ${type} (got ${messages.map((m) => m.type).join(", ")})`);
        await Bun.sleep(50);
      }
      return messages.find((m) => m.type === type);
    };
    await wait("ready");
    ws.send(faceApiSample(2));
    const result = await wait("result");
    expect(result?.faces?.some((f) => f.userId === "sam")).toBe(true);
    ws.close();
  }, 60_000);

  test("TRUST_PROXY=1: one client's wrong keys back off that client only; its own X-Forwarded-For does not help it", async () => {
    const wrong = { "X-API-Key": "wrong-key-000000000000" };
    // 127.0.0.2 guesses past the limit (3 answered 401, the 4th too and it starts a block)
    for (let i = 0; i < 4; i++) expect((await from("127.0.0.2", trustingPort, "/v1/me", wrong)).status).toBe(401);
    expect((await from("127.0.0.2", trustingPort, "/v1/me", wrong)).status).toBe(429);
    // a spoofed header: nginx appends the real address, which is the one believed
    expect((await from("127.0.0.2", trustingPort, "/v1/me", { ...wrong, "X-Forwarded-For": "198.51.100.99" })).status).toBe(429);
    // another machine behind the same proxy is unaffected
    expect((await from("127.0.0.3", trustingPort, "/v1/me", { "X-API-Key": ADMIN })).status).toBe(200);
    expect((await from("127.0.0.3", trustingPort, "/v1/me", wrong)).status).toBe(401);
  });

  test("without TRUST_PROXY every client behind the proxy is the proxy: one client's guesses block the others; the header is ignored", async () => {
    const wrong = { "X-API-Key": "wrong-key-000000000000" };
    for (let i = 0; i < 4; i++) expect((await from("127.0.0.2", directPort, "/v1/me", wrong)).status).toBe(401);
    expect((await from("127.0.0.2", directPort, "/v1/me", wrong)).status).toBe(429);
    // 127.0.0.3 shares nginx's address, so it is backed off too (why TRUST_PROXY exists) ...
    expect((await from("127.0.0.3", directPort, "/v1/me", wrong)).status).toBe(429);
    // ... and a made-up X-Forwarded-For is not believed
    expect((await from("127.0.0.3", directPort, "/v1/me", { ...wrong, "X-Forwarded-For": "198.51.100.98" })).status).toBe(429);
  });
});
