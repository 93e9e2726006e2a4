/**
 * HTTPS for kiosks on the LAN, for real: `facegate tls init` makes a local CA and a certificate for
 * this machine's non-loopback address, the server process serves it (HTTP and the kiosk WebSocket),
 * and Debian's Chromium, trusting the CA through its NSS database (what an operator does on a kiosk),
 * opens the kiosk page at https://<LAN address>/kiosk: a secure context, the camera started from a
 * fake device, a person identified. Then the certificate is renewed on disk: the running server
 * serves the new one to new connections while the kiosk's WebSocket stays up; a key that does not go
 * with the certificate is refused and the previous pair kept; SIGHUP reloads (and says so).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import sharp from "sharp";
import { tlsInit } from "../../../server/cli/tls.ts";
import { CHROMIUM, collectPageErrors, fakeCameraArgs } from "../../helpers/chromium.ts";
import { faceApiSample } from "../../helpers/datasets.ts";
import { startServerProcess, type ServerProcess } from "../../helpers/server-process.ts";
import { describeWithTools, toolPath } from "../../helpers/tools.ts";

const ADMIN = "tls-admin-key-0123456789";
const KIOSK = "tls-kiosk-key-0123456789";
const COMPANY = "lan";
const PERSON = "Sample Person";

/** A non-loopback IPv4 address of this machine (the one a kiosk on the LAN would use). */
function lanAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return undefined;
}

/** The serial number of the certificate a fresh TLS connection is given. */
function servedSerial(host: string, port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, ca, servername: undefined }, () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber ?? "";
      socket.end();
      resolve(serial);
    });
    socket.on("error", reject);
  });
}

async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

describeWithTools(["chromium", "ffmpeg", "openssl", "certutil"], "HTTPS kiosk at a LAN address (Chromium, local CA)", () => {
  const address = lanAddress();
  let tmp: string;
  let tlsDir: string;
  let ca: string;
  let server: ServerProcess;
  let context: BrowserContext;
  let page: Page;
  const sockets: string[] = [];
  const pageErrors: string[] = [];
  let addedAddress: string | undefined;
  let host: string;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "facegate-tls-kiosk-"));
    host = address ?? "198.51.100.7";
    if (!address) {
      // No LAN interface (a bare CI container): give loopback a non-loopback address, as a LAN would.
      const r = Bun.spawnSync(["ip", "addr", "add", `${host}/32`, "dev", "lo"], { stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`no non-loopback address and cannot add one: ${r.stderr.toString()}`);
      addedAddress = host;
    }
    tlsDir = join(tmp, "tls");
    tlsInit({ dir: tlsDir, names: ["kiosk-gw.lan"], ips: [host] });
    ca = readFileSync(join(tlsDir, "ca.pem"), "utf8");

    server = await startServerProcess({
      HOST: host,
      API_KEYS: JSON.stringify({ [ADMIN]: ["*"], [KIOSK]: { companies: [COMPANY], scopes: ["recognize"] } }),
      TLS_CERT_FILE: join(tlsDir, "server.pem"),
      TLS_KEY_FILE: join(tlsDir, "server.key"),
      DATA_DIR: join(tmp, "data"),
      // A still photo is the camera here: liveness would rightly call it not live (tested elsewhere).
      KIOSK_LIVENESS: "off",
      LOG_LEVEL: "info",
    });
    expect(server.url).toMatch(new RegExp(`^https://${host.replace(/\./g, "\\.")}:\\d+$`));

    // Enroll over HTTPS (Bun's fetch trusting the same CA).
    const photo = new Uint8Array(await sharp(faceApiSample(2)).jpeg().toBuffer());
    const api = (path: string, body: unknown) =>
      fetch(`${server.url}${path}`, { method: "POST", headers: { "X-API-Key": ADMIN, "Content-Type": "application/json" }, body: JSON.stringify(body), tls: { ca } });
    expect((await api("/v1/companies", { company_id: COMPANY })).status).toBe(201);
    expect((await api(`/v1/companies/${COMPANY}/users`, { user_id: PERSON, face_id: "f1", image: Buffer.from(photo).toString("base64") })).status).toBe(201);

    // The kiosk's camera: the same photo, as a looping Y4M video.
    writeFileSync(join(tmp, "face.jpg"), photo);
    const y4m = join(tmp, "camera.y4m");
    const ff = Bun.spawnSync(
      [toolPath("ffmpeg") ?? "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-loop", "1", "-i", join(tmp, "face.jpg"), "-t", "2", "-vf", "scale=640:-2,fps=10", "-pix_fmt", "yuv420p", y4m],
      { stderr: "pipe" },
    );
    if (ff.exitCode !== 0) throw new Error(`ffmpeg failed: ${ff.stderr.toString()}`);

    // Trust the CA the way a Linux kiosk does: Chromium's NSS database under $HOME/.pki/nssdb.
    const home = join(tmp, "home");
    const nssdb = join(home, ".pki", "nssdb");
    mkdirSync(nssdb, { recursive: true });
    copyFileSync(join(tlsDir, "ca.pem"), join(tmp, "ca.pem"));
    for (const args of [
      ["-N", "-d", `sql:${nssdb}`, "--empty-password"],
      ["-A", "-d", `sql:${nssdb}`, "-t", "C,,", "-n", "facegate local CA", "-i", join(tmp, "ca.pem")],
    ]) {
      const r = Bun.spawnSync([toolPath("certutil") ?? "certutil", ...args], { stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`certutil ${args[0]} failed: ${r.stderr.toString()}`);
    }
    context = await chromium.launchPersistentContext(join(tmp, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1024, height: 700 },
      args: fakeCameraArgs(y4m),
      env: { ...process.env, HOME: home },
    });
    page = context.pages()[0] ?? (await context.newPage());
    collectPageErrors(page, pageErrors);
    page.on("websocket", (ws) => sockets.push(ws.url()));
  }, 240_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await server?.stop();
    if (addedAddress) Bun.spawnSync(["ip", "addr", "del", `${addedAddress}/32`, "dev", "lo"]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test("the kiosk page over https at the LAN address: secure context, camera on, the person identified", async () => {
    await page.goto(`${server.url}/kiosk?company=${COMPANY}&key=${KIOSK}&kiosk=lan-door`);
    expect(await page.evaluate(() => window.isSecureContext)).toBe(true);
    expect(await page.evaluate(() => location.protocol)).toBe("https:");
    await page.waitForFunction(
      () => {
        const video = document.getElementById("video") as HTMLVideoElement | null;
        return !!video && video.readyState >= 2 && video.videoWidth > 0;
      },
      null,
      { timeout: 30_000 },
    );
    await page.waitForFunction((name) => document.body.innerText.includes(`Welcome, ${name}`), PERSON, { timeout: 120_000, polling: 100 });
    expect(await page.locator("#conn").getAttribute("data-status")).toBe("connected");
    // the WebSocket is wss on the same LAN address
    expect(sockets.length).toBe(1);
    expect(sockets[0]).toStartWith(`wss://${host}:`);
    expect(pageErrors).toEqual([]);
  }, 180_000);

  test("a renewed certificate on disk is served to new connections; the kiosk's WebSocket stays up", async () => {
    const port = Number(new URL(server.url).port);
    const before = await servedSerial(host, port, ca);
    expect(before).toBe(new X509Certificate(readFileSync(join(tlsDir, "server.pem"))).serialNumber);
    // renew: same CA, a new certificate (and key), written by rename as the command does
    tlsInit({ dir: tlsDir, names: ["kiosk-gw.lan", "door.lan"], ips: [host] });
    const renewed = new X509Certificate(readFileSync(join(tlsDir, "server.pem"))).serialNumber;
    expect(renewed).not.toBe(before);
    await until(async () => (await servedSerial(host, port, ca)) === renewed, 20_000, "the renewed certificate");
    expect(server.lines.some((l) => l.includes("tls: certificate reloaded (files changed)"))).toBe(true);
    // the page did not reconnect: one socket, still connected, frames still answered
    expect(await page.locator("#conn").getAttribute("data-status")).toBe("connected");
    const frames = Number(await page.locator("#stat-frames").innerText());
    await until(async () => Number(await page.locator("#stat-frames").innerText()) > frames, 20_000, "frames after the reload");
    expect(sockets.length).toBe(1);
    // and plain HTTPS works against the new certificate
    expect((await fetch(`${server.url}/v1/health`, { tls: { ca } })).status).toBe(200);
  }, 60_000);

  test("a key that does not go with the certificate is refused and the previous pair kept; SIGHUP reloads", async () => {
    const port = Number(new URL(server.url).port);
    const serving = await servedSerial(host, port, ca);
    const goodKey = readFileSync(join(tlsDir, "server.key"), "utf8");
    const other = join(tmp, "other");
    tlsInit({ dir: other, names: ["other.lan"], ips: [] });
    writeFileSync(join(tlsDir, "server.key"), readFileSync(join(other, "server.key")));
    await until(() => server.lines.some((l) => l.includes("tls: reload failed")), 20_000, "the refused reload");
    expect(server.lines.find((l) => l.includes("tls: reload failed"))).toContain("does not go with TLS_CERT_FILE");
    expect(await servedSerial(host, port, ca)).toBe(serving);
    // put the right key back; SIGHUP finds the files as served: unchanged, said so
    writeFileSync(join(tlsDir, "server.key"), goodKey);
    await Bun.sleep(600); // let the watcher's own look at the restored files pass
    server.proc.kill("SIGHUP");
    await until(() => server.lines.some((l) => l.includes("tls: SIGHUP")), 20_000, "the SIGHUP log line");
    expect(server.proc.exitCode).toBeNull();
    expect(await servedSerial(host, port, ca)).toBe(serving);
    expect((await fetch(`${server.url}/v1/health`, { tls: { ca } })).status).toBe(200);
  }, 60_000);
});
