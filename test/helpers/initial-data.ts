/** Initial-data documents for tests. */
export const vec = (seed: number, dim = 512): number[] => Array.from({ length: dim }, (_, i) => Math.sin(seed * 13.1 + i * 0.7));

/** A valid document in the old system's format: 2 companies, 3 users (one without faces), 3 faces. */
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
