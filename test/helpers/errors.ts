/** What a promise rejects with, for tests that check error codes. */
import { FaceError } from "../../lib/core/mod.ts";

/** The FaceError `p` rejects with; fails the test when it resolves or rejects with something else. */
export async function errorOf(p: Promise<unknown>): Promise<FaceError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FaceError) return e;
    throw e;
  }
  throw new Error("expected a FaceError");
}

/** The code of the FaceError `p` rejects with, "no error" when it resolves, or "not a FaceError: ...". */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return FaceError.is(e) ? e.code : `not a FaceError: ${String(e)}`;
  }
  return "no error";
}
