/**
 * The README's first steps stay true: Bun's install on its own line, the five-call walkthrough's
 * pasted answers still match the wire schemas the server answers with (field for field), and no
 * test count typed by hand (the run prints its own).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { z } from "zod";
import { CompanyCreatedBody, DeletedBody, EnrolledBody, RecognizeResponseBody } from "../server/http/wire.ts";

const README = readFileSync(join(import.meta.dir, "..", "README.md"), "utf8");

/** The walkthrough's code block: each curl command with the JSON answer pasted under it. */
function walkthrough(): Array<{ command: string; answer: unknown }> {
  const at = README.indexOf("<!-- walkthrough -->");
  expect(at).toBeGreaterThan(0);
  const block = README.slice(at).split("```")[1];
  const lines = block.split("\n").map((l) => l.trim());
  const calls: Array<{ command: string; answer: unknown }> = [];
  for (const [i, line] of lines.entries()) {
    if (!line.startsWith("curl ")) continue;
    calls.push({ command: line, answer: JSON.parse(lines[i + 1]) });
  }
  return calls;
}

describe("README", () => {
  test("Bun is installed on its own line, never glued to the start command", () => {
    for (const line of README.split("\n")) expect(line).not.toMatch(/npm install -g bun\s*&&/);
    expect(README).toMatch(/If you do not have it: `npm install -g bun`/);
    expect(README).toContain("bun install && bun run models && bun run start   # 1.");
    expect(README).toContain("bun run test                                     # 2.");
  });

  test("the five calls: create a company, enroll, recognize, a stranger, delete; answers match the wire schemas", () => {
    const calls = walkthrough();
    const expected: Array<[RegExp, z.ZodObject]> = [
      [/\/v1\/companies -H/, CompanyCreatedBody],
      [/\/v1\/companies\/acme\/users -F/, EnrolledBody],
      [/\/recognize -F image=@aaron-2/, RecognizeResponseBody],
      [/\/recognize -F image=@stranger/, RecognizeResponseBody],
      [/-X DELETE .*\/users\/aaron/, DeletedBody],
    ];
    expect(calls).toHaveLength(expected.length);
    for (const [i, [command, schema]] of expected.entries()) {
      expect(calls[i].command).toMatch(command);
      // strict: a renamed or dropped wire field makes the pasted answer stale
      const parsed = schema.strict().safeParse(calls[i].answer);
      expect({ command: calls[i].command, issues: parsed.error?.issues ?? [] }).toEqual({ command: calls[i].command, issues: [] });
    }
    const [, enrolled, known, stranger] = calls.map((c) => c.answer as Record<string, unknown>);
    expect(enrolled.embedding).toBeUndefined(); // enroll answers leave the 512 floats out by default
    expect(enrolled.faces_found).toBe(1);
    expect(known.user_id).toBe("aaron");
    expect(stranger.user_id).toBeNull();
    expect(stranger.confidence as number).toBeLessThan(stranger.threshold as number);
  });

  test("where the data lives, how to start clean, the cluster's --port", () => {
    expect(README).toContain("`DATA_DIR`");
    expect(README).toContain("rm -rf ./data");
    expect(README).toMatch(/bun run cluster -- --workers 2 --port 8081/);
  });

  test("no test count typed by hand: the run prints its own", () => {
    expect(README).not.toMatch(/\b\d{2,} tests\b/);
    expect(README).toMatch(/the run prints its own counts/);
  });
});
