import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "bun:test";
import { MemoryGalleryStore } from "../../../lib/core/internal.ts";
import { SqliteGalleryStore } from "../../../lib/service/sqlite-store.ts";
import { runGalleryStoreContract } from "../../helpers/store-contract.ts";

const dir = mkdtempSync(join(tmpdir(), "facegate-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

runGalleryStoreContract("memory", () => new MemoryGalleryStore());
runGalleryStoreContract("sqlite", () => new SqliteGalleryStore({ path: join(dir, `db${++n}`, "facegate.db") }), {
  reopen: async (store) => {
    const path = (store as SqliteGalleryStore).path;
    await store.close();
    return new SqliteGalleryStore({ path });
  },
});
runGalleryStoreContract("sqlite NORMAL", () => new SqliteGalleryStore({ path: join(dir, `db${++n}`, "facegate.db"), synchronous: "NORMAL" }));
