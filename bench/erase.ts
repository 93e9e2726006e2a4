/**
 * What erasure costs: deleting a user (2 faces, 512-d) from a durable SQLite store with 10,000 faces,
 * with erasure (secure_delete + a truncating WAL checkpoint after the delete, the default) and without
 * (eraseOnDelete: false), and whether the deleted embedding's bytes are still in the files afterwards.
 *
 *   bun run bench:erase [-- --faces 10000 --deletes 60 --json bench/results/erase.json]
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { FaceRecord } from "../lib/core/internal.ts";
import { SqliteGalleryStore } from "../lib/service/mod.ts";
import { quantile } from "./lfw-metrics.ts";
import { randomUnit, rng } from "../test/helpers/vectors.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { faces: { type: "string", default: "10000" }, deletes: { type: "string", default: "60" }, json: { type: "string" } },
});
const FACES = Number(values.faces);
const DELETES = Number(values.deletes);
const DIM = 512;
const dir = mkdtempSync(join(tmpdir(), "facegate-bench-erase-"));
const ms = (v: number) => Math.round(v * 100) / 100;

function onDisk(path: string, bytes: Buffer): boolean {
  return [path, `${path}-wal`].some((f) => existsSync(f) && readFileSync(f).includes(bytes));
}

interface Row {
  erase: boolean;
  faces: number;
  deleteUserMedianMs: number;
  deleteUserP95Ms: number;
  addFaceMedianMs: number;
  deletedBytesLeftOnDisk: number;
}

async function run(erase: boolean): Promise<Row> {
  const path = join(dir, erase ? "on" : "off", "facegate.db");
  const store = new SqliteGalleryStore({ path, eraseOnDelete: erase });
  const rand = rng(7);
  const users = Math.ceil(FACES / 2);
  const faces: FaceRecord[] = [];
  for (let u = 0; u < users; u++) {
    for (let f = 0; f < 2 && faces.length < FACES; f++) faces.push({ companyId: "acme", userId: `u${u}`, faceId: `f${f}`, embedding: randomUnit(rand, DIM), model: "bench" });
  }
  await store.bulkLoad({ companies: ["acme"], users: Array.from({ length: users }, (_, u) => ({ companyId: "acme", userId: `u${u}` })), faces });
  const adds: number[] = [];
  for (let i = 0; i < DELETES; i++) {
    const t = performance.now();
    await store.addFace({ companyId: "acme", userId: `u${i}`, faceId: "extra", embedding: randomUnit(rand, DIM), model: "bench" });
    adds.push(performance.now() - t);
  }
  const deletes: number[] = [];
  let left = 0;
  for (let i = 0; i < DELETES; i++) {
    const probe = Buffer.from(faces[2 * i]!.embedding.slice(0, 8).buffer);
    const t = performance.now();
    await store.deleteUser("acme", `u${i}`);
    deletes.push(performance.now() - t);
    if (onDisk(path, probe)) left++;
  }
  store.close();
  deletes.sort((a, b) => a - b);
  adds.sort((a, b) => a - b);
  return {
    erase,
    faces: FACES,
    deleteUserMedianMs: ms(quantile(deletes, 0.5)),
    deleteUserP95Ms: ms(quantile(deletes, 0.95)),
    addFaceMedianMs: ms(quantile(adds, 0.5)),
    deletedBytesLeftOnDisk: left,
  };
}

try {
  const rows = [await run(false), await run(true)];
  console.log(`| erasure | faces in store | delete user (2 faces): median / p95 | add face: median | deleted users whose embedding bytes stay on disk |`);
  console.log(`|---|---|---|---|---|`);
  for (const r of rows) {
    console.log(`| ${r.erase ? "on (default)" : "off"} | ${r.faces} | ${r.deleteUserMedianMs} ms / ${r.deleteUserP95Ms} ms | ${r.addFaceMedianMs} ms | ${r.deletedBytesLeftOnDisk} of ${DELETES} |`);
  }
  if (values.json) {
    const out = { date: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model, loadavg: loadavg(), synchronous: "FULL", dim: DIM, deletes: DELETES, rows };
    writeFileSync(values.json, `${JSON.stringify(out, null, 1)}\n`);
    console.log(`wrote ${values.json}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
