/**
 * Every suite that skipped in this run, with why and how to enable it. The describe helpers
 * (datasets.ts, tools.ts) record here instead of printing one line each between hundreds of
 * others; test/preload.ts prints the list once, after the run's own summary.
 */
export interface Skip {
  suite: string;
  reason: string;
  enable: string;
}

const KEY = Symbol.for("facegate.test.skips");
type Holder = { [KEY]?: Skip[] };

/** The process-wide list (one bun test process runs every file; a symbol keeps one list across module copies). */
export function skips(): Skip[] {
  const holder = globalThis as Holder;
  return (holder[KEY] ??= []);
}

export function recordSkip(skip: Skip): void {
  skips().push(skip);
}

/** The end-of-run summary, or "" when nothing skipped. */
export function skipSummary(list: readonly Skip[] = skips()): string {
  if (list.length === 0) return "";
  const byReason = new Map<string, { enable: string; suites: string[] }>();
  for (const s of list) {
    const entry = byReason.get(s.reason) ?? { enable: s.enable, suites: [] };
    entry.suites.push(s.suite);
    byReason.set(s.reason, entry);
  }
  const lines = [`\n${list.length} suite(s) skipped:`];
  for (const [reason, { enable, suites }] of byReason) {
    lines.push(`  ${reason}`);
    for (const suite of suites) lines.push(`    - ${suite}`);
    lines.push(`    to run them: ${enable}`);
  }
  return lines.join("\n");
}
