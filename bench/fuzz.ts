/**
 * `bun run fuzz [-- --seed 1 --count 10000 --json bench/results/fuzz.json]`: malformed inputs of
 * every kind against real processes (bench/fuzz/run.ts); prints a table, writes JSON, exits 1 on
 * any crash, hang, undocumented answer, internal error, touched gallery or memory not back to its
 * baseline.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { CATEGORIES, runFuzz } from "./fuzz/run.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    seed: { type: "string", default: "1" },
    count: { type: "string", default: "10000" },
    warmup: { type: "string" },
    json: { type: "string" },
    quiet: { type: "boolean", default: false },
  },
});
const seed = Number(values.seed);
const count = Number(values.count);
if (!Number.isInteger(seed) || !Number.isInteger(count) || count < 10) {
  console.error("usage: bun run fuzz -- [--seed N] [--count N >= 10] [--json FILE]");
  process.exit(2);
}

const result = await runFuzz({ seed, count, warmup: values.warmup === undefined ? undefined : Number(values.warmup), log: values.quiet ? undefined : (l) => console.error(l) });

const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(`\nfuzz: seed ${seed}, ${result.inputs} inputs in ${result.seconds} s (after a warm-up round of ${result.warmupInputs}, checked too)\n`);
console.log(`${"category".padEnd(13)}${pad("inputs", 8)}${pad("2xx", 7)}${pad("4xx/5xx doc.", 13)}${pad("failures", 10)}  top answers`);
for (const c of CATEGORIES) {
  const r = result.categories[c];
  const documented = Object.values(r.errors).reduce((a, b) => a + b, 0);
  const failures = Object.values(r.failures).reduce((a, b) => a + b, 0);
  const top = Object.entries(r.errors)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([k, v]) => `${k.replace(/^error:/, "")} ${v}`)
    .join(", ");
  console.log(`${c.padEnd(13)}${pad(r.inputs, 8)}${pad(r.ok, 7)}${pad(documented, 13)}${pad(failures, 10)}  ${top}`);
  for (const e of r.examples) console.log(`    ! ${e}`);
}
const m = result.memory;
console.log(`\ncrashes ${result.crashes}, hangs ${result.hangs}, undocumented answers ${result.undocumented}, internal errors ${result.internal}, health ${result.health}`);
const f = result.kioskFrames;
console.log(`kiosk frames: received ${f.received} = processed ${f.processed} + dropped ${f.dropped} + rejected ${f.rejected} + errors ${f.errors}: ${f.accounted}`);
console.log(`gallery of the protected company untouched: ${result.gallery.untouched} (${result.gallery.detail})`);
console.log(`RSS server: baseline ${m.server.baselineMb} MB, peak ${m.server.peakMb} MB, after ${m.server.afterMb} MB (back: ${m.server.backToBaseline})`);
console.log(`RSS worker: baseline ${m.worker.baselineMb} MB, peak ${m.worker.peakMb} MB, after ${m.worker.afterMb} MB (back: ${m.worker.backToBaseline})`);
console.log(result.passed ? "PASSED" : "FAILED");
if (values.json) {
  mkdirSync(dirname(values.json), { recursive: true });
  writeFileSync(values.json, `${JSON.stringify({ date: new Date().toISOString(), ...result }, null, 2)}\n`);
}
process.exit(result.passed ? 0 : 1);
