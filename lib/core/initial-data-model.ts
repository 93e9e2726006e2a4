/**
 * Which model an initial-data file's vectors come from. The old system's `initial_db.json` names none:
 * its vectors are InsightFace buffalo_l's (ArcFace `w600k_r50`), so an undeclared old file only loads
 * into an engine running that recognizer; anywhere else searching them would match nobody, or the wrong
 * person, so the load is refused (MODEL_MISMATCH) with the three ways out. Runtime-free.
 */

/** The recognizer the old system ran (buffalo_l's ArcFace): what an undeclared old file holds. */
export const OLD_SYSTEM_RECOGNIZER = "w600k_r50";

/** True for the model id of an InsightFace engine running the old recognizer (`w600k_r50@<sha256 prefix>`). */
export function isOldSystemModel(modelId: string): boolean {
  return modelId === OLD_SYSTEM_RECOGNIZER || modelId.startsWith(`${OLD_SYSTEM_RECOGNIZER}@`);
}

/** The refusal: what is wrong and the three ways out, in one message (logged at start, printed by import). */
export function undeclaredModelMessage(engineModel: string): string {
  return (
    "MODEL_MISMATCH: the file names no embedding model (the old system's initial_db.json never does), so its vectors " +
    `are taken to be the old system's (InsightFace buffalo_l, ${OLD_SYSTEM_RECOGNIZER}), and this engine produces ` +
    `${engineModel}: searched here they would match nobody or the wrong person, so nothing is loaded. Three ways out: ` +
    "(1) run the InsightFace engine with the old model files, INSIGHTFACE_DETECTOR=<buffalo_l>/det_10g.onnx " +
    `INSIGHTFACE_RECOGNIZER=<buffalo_l>/${OLD_SYSTEM_RECOGNIZER}.onnx (its model id ${OLD_SYSTEM_RECOGNIZER}@... must match; ` +
    "with another recognizer file name set INITIAL_DATA_MODEL to the engine's model id); " +
    "(2) re-enroll from the original photos: bun run facegate migrate <initial_db.json> <photos folder>; " +
    "(3) declare the model the vectors come from: INITIAL_DATA_MODEL=<model id> (or \"model\" in the file, as facegate's export writes it)"
  );
}
