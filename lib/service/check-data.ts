/**
 * check-data: loads the configured initial-data source (either format: the old system's
 * `initial_db.json` or facegate's), prints what a worker would log at start (the counts, every
 * consistency issue, the statistics block) and exits non-zero on errors (the old system's
 * `--test-mode`). Nothing is written.
 *
 *   bun run check-data                       # DATA_SOURCE / DATA_FILE / API_URL / API_TIMEOUT from the environment
 *   bun run check-data -- --file data.json   # a file, whatever DATA_SOURCE says
 *   bun run check-data -- --url http://host/export --timeout 10
 *   options: --dim N (expected embedding dimension, default 512), --strict (issues are errors too)
 *
 * Exit codes: 0 valid (issues allowed unless --strict), 1 errors, 2 bad usage or configuration.
 */
import { parseArgs } from "node:util";
import { loadServiceConfig, parseServiceConfig, type ServiceConfig } from "./config.ts";
import { loadInitialData, sourceLogLines } from "./initial-data-source.ts";

export interface CheckDataResult {
  code: 0 | 1 | 2;
  output: string[];
}

export const CHECK_DATA_USAGE = `usage: bun run check-data [-- options]

Reads the initial data a worker would load at start (DATA_SOURCE, DATA_FILE, API_URL, API_TIMEOUT),
validates it and prints what the worker would log: counts, consistency issues, statistics.
Both formats are read: the old system's initial_db.json (maps keyed by id) and facegate's export.

options:
  --file PATH      check this file (DATA_SOURCE=LOCAL_FILE)
  --url URL        check what this URL answers (DATA_SOURCE=API)
  --timeout S      seconds to wait for --url (API_TIMEOUT, default 30)
  --dim N          expected embedding dimension (default 512)
  --strict         consistency issues fail the check too
  -h, --help       this text

exit codes: 0 valid, 1 errors (or issues with --strict), 2 bad usage or configuration
`;

const LEVEL = { info: "INFO", warn: "WARNING", error: "ERROR" } as const;

/** The whole command as a function (tested without spawning a process). */
export async function checkData(argv: string[], env: Record<string, string | undefined>): Promise<CheckDataResult> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        file: { type: "string" },
        url: { type: "string" },
        timeout: { type: "string" },
        dim: { type: "string" },
        strict: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (error) {
    return { code: 2, output: [`check-data: ${(error as Error).message}`, CHECK_DATA_USAGE] };
  }
  if (values.help) return { code: 0, output: [CHECK_DATA_USAGE] };
  let config: ServiceConfig;
  try {
    const overrides: Partial<ServiceConfig> = {};
    if (values.file) Object.assign(overrides, { dataSource: "LOCAL_FILE", dataFile: values.file });
    if (values.url) Object.assign(overrides, { dataSource: "API", apiUrl: values.url });
    if (values.timeout) overrides.apiTimeout = Number(values.timeout);
    config = parseServiceConfig({ ...loadServiceConfig(env), ...overrides });
  } catch (error) {
    return { code: 2, output: [`check-data: ${(error as Error).message}`] };
  }
  if (config.dataSource === "NONE") {
    return { code: 0, output: ["DATA_SOURCE=NONE: no initial data configured (use --file PATH or --url URL, or set DATA_SOURCE)"] };
  }
  const dim = Number(values.dim ?? 512);
  if (!Number.isInteger(dim) || dim < 1) return { code: 2, output: ["check-data: --dim must be a positive integer"] };
  const loaded = await loadInitialData(config, { expectedDim: dim, maxWarnings: 10_000, declaredModel: config.initialDataModel });
  const output = sourceLogLines(loaded).map((l) => `${LEVEL[l.level]} - ${l.message}`);
  // a missing file is only a warning for a worker (it starts empty), but there is nothing to check
  const failed = !loaded.report || loaded.report.errors.length > 0 || (values.strict && loaded.report.warningCount > 0);
  output.push(failed ? "check-data: FAILED" : "check-data: OK");
  return { code: failed ? 1 : 0, output };
}

if (import.meta.main) {
  const result = await checkData(process.argv.slice(2), process.env);
  for (const line of result.output) (result.code === 0 ? console.log : console.error)(line);
  process.exit(result.code);
}
