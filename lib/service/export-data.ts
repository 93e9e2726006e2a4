/**
 * export-data: writes the embedded store (DATA_DIR/facegate.db) in the initial-data format, so it
 * can be checked (check-data), moved, or loaded into another deployment (DATA_SOURCE=LOCAL_FILE).
 *
 *   bun run export-data -- --out backup.json      (stdout without --out)
 */
import { writeFileSync } from "node:fs";
import { Gallery } from "../core/gallery.ts";
import { exportInitialData } from "../core/initial-data.ts";
import type { GalleryStore } from "../core/store.ts";
import { databasePath, loadServiceConfig } from "./config.ts";
import { SqliteGalleryStore } from "./sqlite-store.ts";

/** Any store's contents in the initial-data format. */
export async function exportStore(store: GalleryStore): Promise<Record<string, unknown>> {
  const gallery = new Gallery();
  const stop = await store.watch((e) => gallery.apply(e));
  stop();
  return exportInitialData(gallery.export());
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf("--out");
  const out = i >= 0 ? argv[i + 1] : undefined;
  const store = new SqliteGalleryStore({ path: databasePath(loadServiceConfig(process.env)) });
  const data = await exportStore(store);
  store.close();
  const text = `${JSON.stringify(data)}\n`;
  if (out) {
    writeFileSync(out, text);
    console.error(`wrote ${out}`);
  } else process.stdout.write(text);
}
