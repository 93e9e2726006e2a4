/**
 * One process per database, enforced by an OS-level lock (issue 10): a second process cannot open a
 * SQLite store another process holds; the lock goes with the process, however it ends (SIGKILL too).
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FaceError } from "../../../lib/core/internal.ts";
import { SqliteGalleryStore } from "../../../lib/service/sqlite-store.ts";

const dir = mkdtempSync(join(tmpdir(), "facegate-lock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const STORE = join(import.meta.dir, "../../../lib/service/sqlite-store.ts");

function openError(path: string): FaceError | null {
  try {
    new SqliteGalleryStore({ path }).close();
    return null;
  } catch (error) {
    return error as FaceError;
  }
}

/** A child process that opens the store and keeps it open until killed. */
async function holder(path: string) {
  const child = Bun.spawn(
    ["bun", "-e", `const { SqliteGalleryStore } = await import(${JSON.stringify(STORE)}); const s = new SqliteGalleryStore({ path: ${JSON.stringify(path)} }); await s.createCompany("held"); console.log("open"); setInterval(() => {}, 1000);`],
    { stdout: "pipe", stderr: "inherit" },
  );
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  expect(new TextDecoder().decode(value)).toContain("open");
  return child;
}

test("a store held by another process: UNAVAILABLE at once, naming the path and --url; free again once that process is killed", async () => {
  const path = join(dir, "a", "facegate.db");
  const child = await holder(path);
  try {
    const t0 = performance.now();
    const error = openError(path);
    expect(performance.now() - t0).toBeLessThan(1000); // no busy wait
    expect(FaceError.is(error, "UNAVAILABLE")).toBe(true);
    expect(error!.message).toContain(path);
    expect(error!.message).toContain("--url");
  } finally {
    child.kill("SIGKILL");
    await child.exited;
  }
  // the OS dropped the lock with the process: no stale lock file to clean up
  const store = new SqliteGalleryStore({ path });
  const seen: string[] = [];
  (await store.watch((e) => e.type === "company.put" && seen.push(e.companyId)))();
  expect(seen).toEqual(["held"]);
  store.close();
});

test("in one process too: a second store on the same file is refused until the first is closed", () => {
  const path = join(dir, "b", "facegate.db");
  const first = new SqliteGalleryStore({ path });
  expect(FaceError.is(openError(path), "UNAVAILABLE")).toBe(true);
  first.close();
  expect(openError(path)).toBeNull();
  // other files are independent
  const other = new SqliteGalleryStore({ path: join(dir, "c", "facegate.db") });
  other.close();
});
