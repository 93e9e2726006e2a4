#!/usr/bin/env bun
/**
 * Fetches the model weights (models/fetch-models.ts) into the models folder.
 *
 *   bun run models            fetch what is missing or corrupt
 *   bun run models --check    verify only; exit 1 listing what is missing or corrupt
 */
import { fetchModels } from "./fetch-models.ts";

const checkOnly = process.argv.includes("--check");
const { failures, dir } = fetchModels({ checkOnly });
if (failures > 0) {
  console.error(`${failures} model file(s) missing or corrupt in ${dir}${checkOnly ? "; run `bun run models`" : ""}`);
  process.exit(1);
}
