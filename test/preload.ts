/** Loaded before every test file (bunfig.toml): prints which suites skipped, why, and how to enable them. */
import { afterAll } from "bun:test";
import { skipSummary } from "./helpers/skips.ts";

// In a preload, afterAll is global: it runs once, after the last file.
afterAll(() => {
  const summary = skipSummary();
  if (summary) console.error(summary);
});
