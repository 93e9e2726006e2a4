/**
 * check-data: loads the configured initial-data source, prints the statistics block and every
 * warning, and exits non-zero on errors (the old system's `--test-mode`). Nothing is written.
 *
 *   bun run check-data                       # DATA_SOURCE / DATA_FILE / API_URL / API_TIMEOUT from the environment
 *   bun run check-data -- --file data.json   # a file, whatever DATA_SOURCE says
 *   bun run check-data -- --url http://host/export --timeout 10
 *   options: --dim N (expected embedding dimension, default 512), --strict (warnings are errors too)
 *
 * Exit codes: 0 valid (warnings allowed unless --strict), 1 errors, 2 bad usage or configuration.
 */
import { formatInitialDataStats } from "../core/initial-data.ts";
import { loadServiceConfig, parseServiceConfig, type ServiceConfig } from "./config.ts";
import { loadInitialData } from "./initial-data-source.ts";

export interface CheckDataResult {
  code: 0 | 1 | 2;
  output: string[];
}

/** The whole command as a function (tested without spawning a process). */
export async function checkData(argv: string[], env: Record<string, string | undefined>): Promise<CheckDataResult> {
  const output: string[] = [];
  const flag = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  let config: ServiceConfig;
  try {
    const overrides: Partial<ServiceConfig> = {};
    const file = flag("file");
    const url = flag("url");
    if (file) Object.assign(overrides, { dataSource: "LOCAL_FILE", dataFile: file });
    if (url) Object.assign(overrides, { dataSource: "API", apiUrl: url });
    const timeout = flag("timeout");
    if (timeout) overrides.apiTimeout = Number(timeout);
    config = parseServiceConfig({ ...loadServiceConfig(env), ...overrides });
  } catch (error) {
    return { code: 2, output: [`check-data: ${(error as Error).message}`] };
  }
  if (config.dataSource === "NONE") {
    return { code: 0, output: ["DATA_SOURCE=NONE: no initial data configured (use --file PATH or --url URL, or set DATA_SOURCE)"] };
  }
  const dim = Number(flag("dim") ?? 512);
  if (!Number.isInteger(dim) || dim < 1) return { code: 2, output: ["check-data: --dim must be a positive integer"] };
  const loaded = await loadInitialData(config, { expectedDim: dim, maxWarnings: 10_000 });
  if (!loaded.report) {
    output.push(`${loaded.source}: ERROR ${loaded.error}`);
    return { code: 1, output };
  }
  output.push(formatInitialDataStats(loaded.report, loaded.source));
  for (const e of loaded.report.errors) output.push(`ERROR ${e}`);
  for (const w of loaded.report.warnings) output.push(`WARNING ${w}`);
  const failed = loaded.report.errors.length > 0 || (argv.includes("--strict") && loaded.report.warnings.length > 0);
  output.push(failed ? "check-data: FAILED" : "check-data: OK");
  return { code: failed ? 1 : 0, output };
}

if (import.meta.main) {
  const result = await checkData(process.argv.slice(2), process.env);
  for (const line of result.output) (result.code === 0 ? console.log : console.error)(line);
  process.exit(result.code);
}
