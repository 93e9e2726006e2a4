/**
 * The README's container section stays true to the repository: every file it names exists, and the
 * answers it pasted from the composed system are the walkthrough's (the embedded server's), as it says.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers/datasets.ts";

const README = readFileSync(join(ROOT, "README.md"), "utf8");

function section(heading: string): string {
  const at = README.indexOf(heading);
  expect(at).toBeGreaterThan(0);
  const next = README.indexOf("\n## ", at + heading.length);
  return README.slice(at, next < 0 ? undefined : next);
}

/** The JSON answer lines pasted under each command that ends in `name` (`-F image=@aaron-2.jpg`, ...). */
function answersAfter(text: string, needle: string): string[] {
  const lines = text.split("\n").map((l) => l.trim());
  return lines.flatMap((l, i) => (l.includes("curl ") && l.includes(needle) && lines[i + 1]?.startsWith("{") ? [lines[i + 1]] : []));
}

describe("README: containers", () => {
  const containers = section("## Containers: one image, compose with scaled workers, systemd");

  test("every file it names exists", () => {
    const paths = [...new Set(containers.match(/\b(?:deploy\/[\w./-]+\.(?:yaml|sh|service|Containerfile)|Containerfile|docs\/deploy\.md|\.env\.example)\b/g) ?? [])];
    expect(paths.length).toBeGreaterThanOrEqual(6);
    for (const p of paths) expect({ path: p, exists: existsSync(join(ROOT, p)) }).toEqual({ path: p, exists: true });
  });

  test("the composed system's pasted answers are the embedded walkthrough's, to the digit", () => {
    const walkthrough = section("### Five calls");
    for (const needle of ['{"company_id": "acme"}', "image=@aaron-1.jpg", "image=@aaron-2.jpg"]) {
      const embedded = answersAfter(walkthrough, needle);
      const composed = answersAfter(containers, needle);
      expect(embedded).toHaveLength(1);
      expect(composed.length).toBeGreaterThanOrEqual(1);
      for (const answer of composed) expect(answer).toBe(embedded[0]);
    }
  });
});
