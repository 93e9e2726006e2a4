/** Initial-data documents for tests. */
export const vec = (seed: number, dim = 512): number[] => Array.from({ length: dim }, (_, i) => Math.sin(seed * 13.1 + i * 0.7));

/** A valid document in facegate's own format (lists of records): 2 companies, 3 users (one without faces), 3 faces. */
export function validDocument(): Record<string, unknown> {
  return {
    model: "fr_feature@87aacdfe",
    companies: [{ company_id: "acme", created_at: "2024-01-01T00:00:00Z" }, "beta"],
    users: [
      { company_id: "acme", user_id: "alice", name: "Alice" },
      { company_id: "acme", user_id: "bob" },
      { company_id: "beta", user_id: "carol" },
    ],
    faces: [
      { company_id: "acme", user_id: "alice", face_id: "a1" },
      { company_id: "acme", user_id: "alice", face_id: "a2" },
      { company_id: "beta", user_id: "carol", face_id: "c1" },
    ],
    embeddings: [
      { company_id: "acme", user_id: "alice", face_id: "a1", embedding: vec(1) },
      { company_id: "acme", user_id: "alice", face_id: "a2", embedding: vec(2) },
      { company_id: "beta", user_id: "carol", face_id: "c1", embedding: vec(3) },
    ],
  };
}

/**
 * The old system's format exactly (its initial_db.json, ARCHITECTURE §4): maps keyed by id, embeddings
 * keyed by face id. 2 companies (one without users), 3 users (one without faces), 3 faces.
 */
export function oldDocument(): { companies: Record<string, object>; users: Record<string, Record<string, { user_id: string; faces: string[] }>>; faces: Record<string, Array<{ face_id: string; user_id: string }>>; embeddings: Record<string, number[]> } {
  return {
    companies: { company_123: {}, company_456: {}, company_789: {} },
    users: {
      company_123: {
        user_001: { user_id: "user_001", faces: ["face_001", "face_002"] },
        user_002: { user_id: "user_002", faces: [] },
      },
      company_456: { user_003: { user_id: "user_003", faces: ["face_004"] } },
    },
    faces: {
      company_123: [
        { face_id: "face_001", user_id: "user_001" },
        { face_id: "face_002", user_id: "user_001" },
      ],
      company_456: [{ face_id: "face_004", user_id: "user_003" }],
    },
    embeddings: { face_001: vec(1), face_002: vec(2), face_004: vec(4) },
  };
}
