/**
 * The Python client (clients/python/facegate_client.py) under Debian's python3: its unittest suite
 * (test_facegate_client.py, every method and edge case of the old MessageProducer documentation,
 * events and webhooks) against the real server process, with a local webhook receiver.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { dataset, describeDatasets, faceApiSample, ROOT } from "../../helpers/datasets.ts";
import { startLossyProxy, type LossyProxy } from "../../helpers/lossy-proxy.ts";
import { startServerProcess, type ServerProcess } from "../../helpers/server-process.ts";
import { describeWithTools, toolPath } from "../../helpers/tools.ts";

const ADMIN = "k-py-admin-0123456789";
const COMPANY = "k-py-company-0123456789";

describeWithTools(
  ["python3"],
  "Python client (python3 unittest against the server process)",
  () => {
    let dir = "";
    let server: ServerProcess | undefined;
    let receiver: ReturnType<typeof Bun.serve> | undefined;
    let lossy: LossyProxy | undefined;
    const deliveries = new Map<string, Array<{ body: string; signature: string | null }>>();

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "facegate-python-"));
      const images = join(dir, "images");
      await Bun.write(join(images, ".keep"), "");
      copyFileSync(dataset("labelled/face_recognition/obama/obama.jpg"), join(images, "person_a1.jpg"));
      copyFileSync(dataset("labelled/face_recognition/obama/obama2.jpg"), join(images, "person_a2.jpg"));
      copyFileSync(dataset("labelled/face_recognition/biden/biden.jpg"), join(images, "person_b.jpg"));
      writeFileSync(join(images, "group.jpg"), faceApiSample(1));
      writeFileSync(join(images, "noface.jpg"), await sharp({ create: { width: 320, height: 240, channels: 3, background: "#808080" } }).jpeg().toBuffer());
      receiver = Bun.serve({
        port: 0,
        hostname: "127.0.0.1",
        async fetch(req) {
          const path = new URL(req.url).pathname;
          if (req.method === "POST") {
            deliveries.set(path, [...(deliveries.get(path) ?? []), { body: await req.text(), signature: req.headers.get("facegate-signature") }]);
            return new Response("ok");
          }
          return Response.json(deliveries.get(path) ?? []);
        },
      });
      server = await startServerProcess({
        DATA_DIR: join(dir, "data"),
        API_KEYS: JSON.stringify({ [ADMIN]: ["*"], [COMPANY]: ["py_other"] }),
        RATE_LIMIT_PER_MINUTE: "0",
      });
      lossy = startLossyProxy(server.url);
      (globalThis as { __images?: string }).__images = images;
    });

    afterAll(async () => {
      await lossy?.stop();
      if (server) expect(await server.stop("SIGTERM")).toBe(0);
      await receiver?.stop(true);
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test("python3 -m unittest: every MessageProducer method and documented edge case passes", async () => {
      const proc = Bun.spawn([toolPath("python3")!, join(ROOT, "test/clients/python/test_facegate_client.py")], {
        env: {
          PATH: process.env.PATH ?? "",
          FACEGATE_URL: server!.url,
          FACEGATE_API_KEY: ADMIN,
          FACEGATE_TEST_COMPANY_KEY: COMPANY,
          FACEGATE_TEST_IMAGES: (globalThis as { __images?: string }).__images!,
          FACEGATE_TEST_RECEIVER: `http://127.0.0.1:${receiver!.port}`,
          FACEGATE_TEST_LOSSY_URL: lossy!.url,
          PYTHONDONTWRITEBYTECODE: "1",
        },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
      if (code !== 0 || process.env.FACEGATE_VERBOSE) console.error(out + err);
      expect(err).toMatch(/\nOK\n?$/);
      const ran = Number(/Ran (\d+) tests?/.exec(err)?.[1] ?? 0);
      expect(ran).toBeGreaterThanOrEqual(30);
      expect(err).not.toContain("skipped");
      expect(code).toBe(0);
    }, 180_000);
  },
  describeDatasets,
);
