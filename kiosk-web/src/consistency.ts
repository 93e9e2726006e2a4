/**
 * Which captured frames show the same person (pure logic, no DOM, no network).
 *
 * The server enrolls the largest face of every image it gets, so a frame in which someone else is
 * in front of the camera would add that person's face to the user — and let them through the door.
 * Before enrolling, the page embeds every frame and keeps only the frames of one person:
 *
 * 1. the anchor is the frame that agrees (cosine ≥ threshold) with the most other frames; ties go to
 *    the frame most similar to all others, then to the earlier one. A passer-by in the first frame
 *    therefore does not define the person, the one who is in most frames does;
 * 2. starting from the anchor, the frame most similar to the mean of the accepted embeddings joins
 *    while that similarity is ≥ threshold (the mean of several frames of one person is a steadier
 *    reference than any single frame; on the Hamilton clip same-person frame pairs range 0.1–0.7,
 *    other people stay ≤ 0.31);
 * 3. the same grouping on the frames left over gives the runner-up: when it is as large as the
 *    chosen group, or when several frames have a face but no two agree, it is not clear who is
 *    enrolling, and nothing is enrolled.
 */

import { cosineSimilarity as cosine } from "../../lib/core/vectors.ts";

export type Embedding = ArrayLike<number>;

/** Default same-person threshold: a bit above the recognition threshold (0.40), see docs/kiosk.md. */
export const DEFAULT_SAME_PERSON_THRESHOLD = 0.5;

function mean(vectors: readonly Embedding[]): number[] {
  const out = new Array<number>(vectors[0].length).fill(0);
  for (const v of vectors) for (let i = 0; i < out.length; i++) out[i] += v[i];
  return out;
}

export type PersonChoice =
  | {
      kind: "person";
      /** Index (into the input) of the frame that defines the person. */
      anchor: number;
      /** Indexes of the frames of that person, in input order (the anchor included). */
      members: number[];
      /** Per input frame: cosine with the mean of the members (null: no embedding). */
      similarity: (number | null)[];
    }
  | {
      kind: "ambiguous";
      /** Why nothing can be enrolled, for the page. */
      reason: string;
      similarity: (number | null)[];
    }
  | { kind: "none" };

/** Greedy grouping around the best anchor among `candidates` (indexes into `embeddings`). */
function group(embeddings: readonly (Embedding | null)[], candidates: number[], threshold: number): number[] {
  if (candidates.length === 0) return [];
  let anchor = candidates[0];
  let bestCount = -1;
  let bestSum = Number.NEGATIVE_INFINITY;
  for (const a of candidates) {
    let count = 0;
    let sum = 0;
    for (const b of candidates) {
      if (a === b) continue;
      const s = cosine(embeddings[a]!, embeddings[b]!);
      sum += s;
      if (s >= threshold) count++;
    }
    if (count > bestCount || (count === bestCount && sum > bestSum)) {
      anchor = a;
      bestCount = count;
      bestSum = sum;
    }
  }
  const members = [anchor];
  let rest = candidates.filter((i) => i !== anchor);
  for (;;) {
    const centre = mean(members.map((i) => embeddings[i]!));
    let pick = -1;
    let pickScore = Number.NEGATIVE_INFINITY;
    for (const i of rest) {
      const s = cosine(centre, embeddings[i]!);
      if (s >= threshold && s > pickScore) {
        pick = i;
        pickScore = s;
      }
    }
    if (pick < 0) break;
    members.push(pick);
    rest = rest.filter((i) => i !== pick);
  }
  return members; // members[0] is the anchor
}

/**
 * Picks the person to enroll from per-frame embeddings (null: the frame has no usable face).
 * `threshold` is the cosine similarity two faces need to count as the same person.
 */
export function choosePerson(embeddings: readonly (Embedding | null)[], threshold = DEFAULT_SAME_PERSON_THRESHOLD): PersonChoice {
  const usable = embeddings.flatMap((e, i) => (e && e.length > 0 ? [i] : []));
  if (usable.length === 0) return { kind: "none" };
  const first = group(embeddings, usable, threshold);
  const centre = mean(first.map((i) => embeddings[i]!));
  const similarity = embeddings.map((e) => (e && e.length > 0 ? cosine(centre, e) : null));
  if (usable.length > 1 && first.length === 1) {
    return { kind: "ambiguous", reason: `no two frames show the same person (threshold ${threshold})`, similarity };
  }
  const second = group(
    embeddings,
    usable.filter((i) => !first.includes(i)),
    threshold,
  );
  // A runner-up as large as the chosen group is a competitor only when it is someone else: one
  // person's frames can split into two groups (pose, light) whose means still agree.
  const rival = second.length > 0 && second.length >= first.length && cosine(centre, mean(second.map((i) => embeddings[i]!))) < threshold;
  if (rival) {
    return {
      kind: "ambiguous",
      reason: `two people appear equally often (${first.length} frames each)`,
      similarity,
    };
  }
  return { kind: "person", anchor: first[0], members: [...first].sort((a, b) => a - b), similarity };
}
