/**
 * Company, user and face ids (issue 10): surrounding whitespace is refused with a message naming the
 * field (a trailing space is a typo to report, not a second company); Unicode is normalised to NFC, so
 * the two spellings of "Café" (precomposed é, and e + combining accent) are one company, for the
 * service and for API keys alike; an unknown company on recognize keeps the old answer and says
 * `company_found: false`.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { ApiKeys } from "../../../server/http/auth.ts";
import { loadServerConfig } from "../../../server/config/server.ts";
import { b64, sample, startTestServer, type TestServer } from "../harness.ts";

// engine work on a shared machine: more than bun's 5 s default also under a bare `bun test FILE` (bun applies
// setDefaultTimeout only when the test file itself calls it; `bun run test` passes --timeout 60000)
setDefaultTimeout(60_000);

const COMPOSED = "Caf\u00e9"; // é as one code point (NFC)
const DECOMPOSED = "Cafe\u0301"; // e + COMBINING ACUTE ACCENT (NFD)
const CAFE_KEY = "cafe-key-0001";
const ADMIN = "admin-key-0001";
const path = (id: string) => `/v1/companies/${encodeURIComponent(id)}`;

describe("ids: whitespace refused, Unicode NFC", () => {
  let srv: TestServer;
  const logs: Array<[string, string]> = [];
  beforeAll(async () => {
    // the key names the company in the decomposed spelling; requests use both
    const keys = ApiKeys.fromConfig(loadServerConfig({ API_KEYS: JSON.stringify({ [ADMIN]: ["*"], [CAFE_KEY]: [DECOMPOSED] }) }));
    srv = await startTestServer({ keys, log: (level, message) => logs.push([level, message]) });
  });
  afterAll(async () => {
    await srv?.stop();
  });

  test("surrounding whitespace is INVALID_ARGUMENT naming the field; inside an id it is fine", async () => {
    for (const id of ["acme ", " acme", "acme\u00a0", "\u3000acme"]) {
      const r = await srv.call("POST", "/v1/companies", { key: ADMIN, json: { company_id: id } });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe("INVALID_ARGUMENT");
      expect(r.body.error.message).toContain("must not start or end with whitespace");
      expect(r.body.error.message).toMatch(/company_?[iI]d/);
    }
    expect((await srv.call("POST", "/v1/companies", { key: ADMIN, json: { company_id: "acme corp" } })).status).toBe(201);
    // on recognize too: a clear 400 instead of an answer that looks like a stranger
    const typo = await srv.call("POST", `${path("acme corp ")}/recognize`, { key: ADMIN, json: { image: b64(sample(1)) } });
    expect(typo.status).toBe(400);
    expect(typo.body.error.message).toContain("whitespace");
  });

  test("two spellings of Café are one company: created once, answered in NFC, reached by either, and by the key", async () => {
    const first = await srv.call("POST", "/v1/companies", { key: CAFE_KEY, json: { company_id: DECOMPOSED } });
    expect(first.status).toBe(201);
    expect(first.body.company_id).toBe(COMPOSED);
    const again = await srv.call("POST", "/v1/companies", { key: CAFE_KEY, json: { company_id: COMPOSED } });
    expect(again.body).toMatchObject({ company_id: COMPOSED, created: false });
    const enrolled = await srv.call("POST", `${path(COMPOSED)}/users`, { key: CAFE_KEY, json: { user_id: `Zo${"e\u0308"}`, face_id: "f1", image: b64(sample(2)) } });
    expect(enrolled.status).toBe(201);
    expect(enrolled.body.user_id).toBe("Zo\u00eb");
    const r = await srv.call("POST", `${path(DECOMPOSED)}/recognize`, { key: CAFE_KEY, json: { image: b64(sample(2)) } });
    expect(r.body).toMatchObject({ user_id: "Zo\u00eb", company_found: true });
    expect((await srv.call("GET", `${path(DECOMPOSED)}/users/${encodeURIComponent("Zo\u00eb")}/faces`, { key: CAFE_KEY })).body.face_ids).toEqual(["f1"]);
    const stats = await srv.call("GET", "/v1/stats?detail=companies", { key: ADMIN });
    expect(Object.keys(stats.body.cache_info).filter((c) => c.normalize("NFD") === DECOMPOSED)).toEqual([COMPOSED]);
  });

  test("an unknown company on recognize: the old answer, company_found false, one warning in the log", async () => {
    const before = logs.length;
    for (let i = 0; i < 3; i++) {
      const r = await srv.call("POST", `${path("Cafe")}/recognize`, { key: ADMIN, json: { image: b64(sample(2)) } });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ user_id: null, confidence: 0, bbox: null, company_found: false });
    }
    const warnings = logs.slice(before).filter(([l, m]) => l === "warn" && m.includes('"Cafe"') && m.includes("does not exist"));
    expect(warnings.length).toBe(1);
  });
});
