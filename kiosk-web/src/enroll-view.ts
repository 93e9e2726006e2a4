/**
 * The enrollment view: captures frames from the camera and enrolls the frames of one person
 * (./enroll.ts), showing each frame's outcome.
 */
import type { Camera } from "./camera.ts";
import { els } from "./dom.ts";
import { enroll } from "./enroll.ts";
import type { PageSettings } from "./params.ts";

/**
 * Each frame is taken at a slightly different pose (issue 9): a person's faces from a few angles
 * recognize them better than several copies of one frame. The prompt shows before each capture.
 */
export const POSE_PROMPTS = [
  "Look straight at the camera",
  "Turn your head a little to your left",
  "Turn your head a little to your right",
  "Look straight again, chin a little up",
  "Chin a little down",
] as const;

export interface EnrollViewDeps {
  camera: Camera;
  settings: () => PageSettings;
  openSettings: () => void;
}

export function initEnrollView(deps: EnrollViewDeps): void {
  els.enrollForm.addEventListener("submit", (event) => {
    event.preventDefault();
    void runEnrollment(deps);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));



async function runEnrollment(deps: EnrollViewDeps): Promise<void> {
  const { camera, openSettings } = deps;
  const settings = deps.settings();
  const userId = els.enrollUser.value.trim();
  if (!userId) return;
  if (!settings.company) {
    openSettings();
    return;
  }
  if (els.enrollGo.disabled) return;
  els.enrollGo.disabled = true;
  // Right after the page loads the camera may still be starting: wait a little before giving up.
  for (let waited = 0; !camera.ready && waited < 5000; waited += 100) {
    els.enrollStatus.textContent = "Waiting for the camera…";
    await sleep(100);
  }
  if (!camera.ready) {
    els.enrollStatus.textContent = "The camera is not ready.";
    els.enrollGo.disabled = false;
    return;
  }
  const count = Math.min(10, Math.max(1, Number.parseInt(els.enrollCount.value, 10) || 3));
  const interval = Math.min(5000, Math.max(100, Number.parseInt(els.enrollInterval.value, 10) || 1200));
  els.enrollShots.replaceChildren();
  const frames: Blob[] = [];
  const thumbs: HTMLImageElement[] = [];
  try {
    for (let i = 0; i < count; i++) {
      // The prompt first, then time to follow it, then the capture.
      els.enrollStatus.textContent = `${i + 1} of ${count}: ${POSE_PROMPTS[i % POSE_PROMPTS.length]}`;
      els.enrollStatus.classList.add("prompt");
      if (i > 0) await sleep(interval);
      const blob = await camera.grab(els.capture, 1280, 0.92);
      if (blob) {
        frames.push(blob);
        const img = document.createElement("img");
        img.alt = `capture ${i + 1}`;
        img.src = URL.createObjectURL(blob);
        thumbs.push(img);
        els.enrollShots.append(img);
      }
    }
    els.enrollStatus.classList.remove("prompt");
    els.enrollStatus.textContent = "Checking the frames…";
    // One line per frame, updated in place as the frame is checked, then enrolled or skipped.
    const lines: ({ cls: "ok" | "bad" | "other" | "wait"; text: string } | null)[] = frames.map(() => null);
    const renderLines = (summary: string, ok: boolean | null) => {
      const head = document.createElement("div");
      head.className = `enroll-summary${ok === null ? "" : ok ? " ok" : " bad"}`;
      head.textContent = summary;
      const list = document.createElement("ol");
      list.className = "enroll-lines";
      for (const line of lines) {
        if (!line) continue;
        const li = document.createElement("li");
        li.className = line.cls;
        li.textContent = line.text;
        list.append(li);
      }
      els.enrollStatus.replaceChildren(head, list);
    };
    const summary = await enroll({
      company: settings.company,
      key: settings.key,
      userId,
      frames,
      createCompany: els.enrollCreateCompany.checked,
      addToExisting: els.enrollExisting.checked,
      sameThreshold: settings.same,
      onProgress: (i, outcome) => {
        const n = `frame ${i + 1}: `;
        const line =
          outcome.kind === "checking"
            ? { cls: "wait" as const, text: `${n}checking…` }
            : outcome.kind === "enrolled"
              ? {
                  cls: "ok" as const,
                  text: `${n}enrolled as ${outcome.faceId}${outcome.similarity === null ? "" : ` (${outcome.similarity.toFixed(2)})`}${outcome.note ? ` — ${outcome.note}` : ""}`,
                }
              : outcome.kind === "skipped"
                ? { cls: "other" as const, text: `${n}skipped: different person (${outcome.similarity.toFixed(2)})` }
                : { cls: "bad" as const, text: `${n}${outcome.code} ${outcome.message}` };
        lines[i] = line;
        const thumb = thumbs[i];
        if (thumb) {
          thumb.classList.remove("ok", "bad", "other");
          if (line.cls !== "wait") thumb.classList.add(line.cls);
          thumb.title = line.text;
        }
        renderLines(outcome.kind === "checking" ? "Checking the frames…" : "Enrolling…", null);
      },
    });
    const parts: string[] = [];
    if (summary.differentPerson > 0) parts.push(`${summary.differentPerson} skipped as a different person`);
    if (summary.failed > 0) parts.push(`${summary.failed} not usable`);
    const rest = parts.length ? ` ${parts.join(", ")}.` : "";
    const head =
      summary.enrolled > 0
        ? `${userId}: ${summary.enrolled} face${summary.enrolled === 1 ? "" : "s"} enrolled${summary.created ? " (new user)" : ""}.${rest}`
        : summary.refused
          ? `${userId}: nothing enrolled: ${summary.refused}.`
          : `${userId}: nothing enrolled.${rest}`;
    renderLines(head, summary.enrolled > 0);
  } catch (error) {
    els.enrollStatus.textContent = `Enrollment failed: ${(error as Error).message}`;
  } finally {
    els.enrollGo.disabled = false;
    els.enrollStatus.classList.remove("prompt");
  }
}
