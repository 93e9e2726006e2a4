/**
 * export-data: writes the embedded store (DATA_DIR/facegate.db) as initial data, so it can be checked
 * (check-data), moved, or loaded into another deployment (DATA_SOURCE=LOCAL_FILE), or handed back to
 * the old system's workers (`--format old`: their initial_db.json).
 *
 *   bun run export-data -- --out backup.json [--format facegate|old]      (stdout without --out)
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { exportInitialData, type ExportOptions, Gallery, type GalleryStore } from "../core/internal.ts";
import { databasePath, loadServiceConfig } from "./config.ts";
import { SqliteGalleryStore } from "./sqlite-store.ts";

/** Any store's contents as initial data (facegate's format unless `format: "old"`). */
export async function exportStore(store: GalleryStore, options: ExportOptions = {}): Promise<Record<string, unknown>> {
  const gallery = new Gallery();
  const stop = await store.watch((e) => gallery.apply(e));
  stop();
  return exportInitialData(gallery.export(), options);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { out: { type: "string" }, format: { type: "string", default: "facegate" } },
  });
  if (values.format !== "facegate" && values.format !== "old") {
    console.error(`export-data: --format must be facegate or old, not ${JSON.stringify(values.format)}`);
    process.exit(2);
  }
  const store = new SqliteGalleryStore({ path: databasePath(loadServiceConfig(process.env)) });
  const data = await exportStore(store, { format: values.format });
  store.close();
  const text = `${JSON.stringify(data)}\n`;
  if (values.out) {
    writeFileSync(values.out, text);
    console.error(`wrote ${values.out}`);
  } else process.stdout.write(text);
}
