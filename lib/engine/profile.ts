/**
 * Per-stage timing of the ONNX pipeline, for `bench:lfw --profile`. Off unless a recorder is set
 * (one null check per stage then); process-wide, so it measures the in-process engine only.
 */

export const STAGES = [
  "decode",
  "detect.resize",
  "detect.run",
  "detect.post",
  "landmarks.1",
  "landmarks.2",
  "align",
  "embed.run",
] as const;
export type Stage = (typeof STAGES)[number];
export type StageRecorder = (stage: Stage, ms: number) => void;

let recorder: StageRecorder | undefined;

/** Sets (or clears, with `undefined`) the function that receives every stage's duration. */
export function recordStages(r: StageRecorder | undefined): void {
  recorder = r;
}

/** A start time when profiling, 0 otherwise (no clock read). */
export function stageStart(): number {
  return recorder ? performance.now() : 0;
}

export function stageEnd(stage: Stage, start: number): void {
  if (recorder) recorder(stage, performance.now() - start);
}
