/**
 * Durability: a child process writes a stream of users+faces to SQLite and prints each acknowledged
 * one; we SIGKILL it mid-stream, reopen the database and check that every acknowledged write is there.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Gallery } from "../../../lib/core/internal.ts";
import { SqliteGalleryStore } from "../../../lib/service/sqlite-store.ts";

const dir = mkdtempSync(join(tmpdir(), "facegate-crash-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function crashRun(synchronous: "FULL" | "NORMAL", killAfter: number): Promise<number[]> {
  const path = join(dir, synchronous, "facegate.db");
  const child = Bun.spawn(["bun", join(import.meta.dir, "fixtures/crash-writer.ts"), path, synchronous], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const acked: number[] = [];
  const decoder = new TextDecoder();
  let buffer = "";
  const reader = child.stdout.getReader();
  while (acked.length < killAfter) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    const lines = buffer.split("\n");
    buffer = lines.pop()!;
    for (const line of lines) if (line.startsWith("ack ")) acked.push(Number(line.slice(4)));
  }
  child.kill("SIGKILL");
  await child.exited;
  expect(child.signalCode).toBe("SIGKILL");
  // lines read after the kill count too: they were acknowledged before it
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
  }
  for (const line of buffer.split("\n")) if (line.startsWith("ack ")) acked.push(Number(line.slice(4)));
  return acked;
}

describe("SQLite store survives SIGKILL", () => {
  for (const synchronous of ["FULL", "NORMAL"] as const) {
    test(`every acknowledged write is there after a kill (synchronous=${synchronous})`, async () => {
      const acked = await crashRun(synchronous, 150);
      expect(acked.length).toBeGreaterThanOrEqual(150);
      const store = new SqliteGalleryStore({ path: join(dir, synchronous, "facegate.db") });
      const gallery = new Gallery();
      const stop = await store.watch((e) => gallery.apply(e));
      for (const i of acked) {
        expect(gallery.hasUser("crash", `u${i}`)).toBe(true);
        expect(gallery.getUserFaces("crash", `u${i}`)).toEqual(["f"]);
      }
      // the database is usable after the crash: revisions go on increasing
      const before = await store.revision();
      const next = await store.createUser("crash", "after-restart");
      expect(next.revision).toBe(before + 1);
      stop();
      store.close();
    });
  }
});
