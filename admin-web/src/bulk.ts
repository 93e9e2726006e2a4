/**
 * Bulk enrollment: a zip or a folder of `<person>/<photos>` (or a CSV id,name,file with the photos),
 * sent through POST .../enroll-batch two batches at a time, with a progress bar, one outcome per
 * photo, cancel, and resume (the photos done before, kept in this browser, are not sent again; the
 * server's answer for a face it holds already is "duplicate", so another browser enrolls nothing
 * twice either). At the end: the company's operating point for its new size.
 */
import { unzipSync } from "fflate";
import { z } from "zod";
import { describeError } from "./api.ts";
import type { ViewContext } from "./context.ts";
import { fmt, h, replace, seg } from "./dom.ts";
import { batches, FINAL_OUTCOMES, itemKey, planBulk, planSignature, type BulkFile, type BulkItem, type BulkPlan } from "./bulk-plan.ts";
import { OperatingPointBody } from "./schemas.ts";

const BatchAnswer = z.object({
  results: z.array(z.object({ index: z.number(), user_id: z.string(), face_id: z.string(), outcome: z.string(), code: z.string().optional(), message: z.string().optional() })),
  stopped: z.object({ code: z.string(), message: z.string() }).optional(),
});

const LABEL: Record<string, string> = {
  enrolled: "enrolled",
  duplicate: "already enrolled",
  skipped: "done before (skipped)",
  quality: "refused: quality",
  no_face: "no face",
  invalid_image: "not an image",
  model_mismatch: "model mismatch",
  error: "error",
  not_done: "not done",
};
const ORDER = ["enrolled", "duplicate", "skipped", "quality", "no_face", "invalid_image", "model_mismatch", "error", "not_done"];
const STORE = "facegate.bulk.";

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** The chosen files → paths and bytes; a zip is opened in the page (fflate). */
async function readChosen(files: File[]): Promise<BulkFile[]> {
  const out: BulkFile[] = [];
  for (const f of files) {
    const bytes = new Uint8Array(await f.arrayBuffer());
    if (/\.zip$/i.test(f.name)) {
      const entries = unzipSync(bytes, { filter: (e) => !e.name.endsWith("/") && /\.(jpe?g|png|webp|csv)$/i.test(e.name) });
      for (const [path, data] of Object.entries(entries)) out.push({ path, bytes: data });
    } else out.push({ path: (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name, bytes });
  }
  return out;
}

export async function bulkView(ctx: ViewContext, main: HTMLElement, company: string): Promise<void> {
  const base = `/v1/companies/${seg(company)}`;
  const files = h("input", { type: "file", id: "bulk-files", multiple: true, accept: ".zip,.csv,image/jpeg,image/png,image/webp" }) as HTMLInputElement;
  const folder = h("input", { type: "file", id: "bulk-folder", multiple: true }) as HTMLInputElement;
  folder.setAttribute("webkitdirectory", "");
  const start = h("button", { type: "button", class: "primary", id: "bulk-start", disabled: true }, "Enroll");
  const cancel = h("button", { type: "button", id: "bulk-cancel", disabled: true }, "Cancel");
  const progress = h("progress", { id: "bulk-progress", max: 1, value: 0 }) as HTMLProgressElement;
  const status = h("p", { class: "status", id: "bulk-status", role: "status", "aria-live": "polite" }, "Choose a zip or a folder of <person>/<photos>, or a CSV id,name,file with its photos.");
  const counts = h("ul", { class: "counts", id: "bulk-counts" });
  const results = h("tbody", { id: "bulk-results" });
  const op = h("p", { class: "muted", id: "bulk-op" });
  replace(
    main,
    h("p", { class: "crumbs" }, h("a", { href: `#/c/${seg(company)}/people` }, `‹ People in ${company}`)),
    h("h1", {}, `Bulk enrollment into ${company}`),
    h(
      "section",
      { class: "card" },
      h("div", { class: "row" }, h("label", {}, "Zip, CSV or photos ", files), h("label", {}, "or a folder ", folder)),
      h("div", { class: "row" }, start, cancel),
      progress,
      status,
      counts,
      op,
    ),
    h(
      "section",
      { class: "card", "aria-label": "outcomes" },
      h("table", { class: "list" }, h("thead", {}, h("tr", {}, h("th", {}, "Person"), h("th", {}, "Photo"), h("th", {}, "Outcome"))), results),
    ),
  );

  let plan: BulkPlan | null = null;
  let abort: AbortController | null = null;
  const choose = async (input: HTMLInputElement) => {
    try {
      status.textContent = "Reading…";
      plan = planBulk(await readChosen([...(input.files ?? [])]));
      const people = new Set(plan.items.map((i) => i.userId)).size;
      status.textContent = `${fmt.int(plan.items.length)} photos of ${fmt.int(people)} people${plan.ignored.length ? `; ${plan.ignored.length} files left out` : ""}.`;
      start.disabled = plan.items.length === 0;
    } catch (error) {
      status.textContent = describeError(error, "Reading the files");
      status.className = "status error";
    }
  };
  files.addEventListener("change", () => void choose(files));
  folder.addEventListener("change", () => void choose(folder));

  const tally: Record<string, number> = {};
  const showCounts = () => replace(counts, ...ORDER.filter((o) => tally[o]).map((o) => h("li", { "data-outcome": o }, `${LABEL[o]}: `, h("b", {}, fmt.int(tally[o]!)))));
  const row = (item: BulkItem, outcome: string, message?: string) =>
    results.append(h("tr", { "data-outcome": outcome, "data-user": item.userId }, h("td", {}, item.userId), h("td", {}, item.faceId), h("td", { title: message ?? "" }, message ? `${LABEL[outcome] ?? outcome}: ${message}` : (LABEL[outcome] ?? outcome))));

  const run = async (items: BulkItem[]) => {
    const key = STORE + planSignature(company, items);
    const done: Record<string, string> = JSON.parse(localStorage.getItem(key) ?? "{}");
    for (const k of Object.keys(tally)) delete tally[k];
    results.replaceChildren();
    progress.max = items.length;
    progress.value = 0;
    const todo: BulkItem[] = [];
    for (const item of items) {
      if (FINAL_OUTCOMES.has(done[itemKey(item)] ?? "")) {
        tally.skipped = (tally.skipped ?? 0) + 1;
        progress.value++;
      } else todo.push(item);
    }
    showCounts();
    abort = new AbortController();
    const signal = abort.signal;
    const queue = batches(todo);
    let stopped: string | null = null;
    const worker = async () => {
      for (let batch = queue.shift(); batch && !signal.aborted && !stopped; batch = queue.shift()) {
        const body = { items: batch.map((i) => ({ user_id: i.userId, face_id: i.faceId, image: base64(i.bytes), ...(i.name ? { name: i.name } : {}) })) };
        const answer = await ctx.api.call("POST", `${base}/enroll-batch`, BatchAnswer, { json: body });
        for (const r of answer.results) {
          const item = batch[r.index]!;
          tally[r.outcome] = (tally[r.outcome] ?? 0) + 1;
          if (FINAL_OUTCOMES.has(r.outcome)) done[itemKey(item)] = r.outcome;
          row(item, r.outcome, r.outcome === "enrolled" || r.outcome === "duplicate" ? undefined : r.message);
          if (r.outcome !== "not_done") progress.value++;
        }
        localStorage.setItem(key, JSON.stringify(done));
        showCounts();
        status.textContent = `${fmt.int(progress.value)} of ${fmt.int(items.length)} photos…`;
        if (answer.stopped) stopped = `${answer.stopped.code}: ${answer.stopped.message}`;
      }
    };
    start.disabled = true;
    cancel.disabled = false;
    status.className = "status";
    try {
      // two batches in flight: the server's engine workers (one per core) both have a photo to work on
      await Promise.all([worker(), worker()]);
      const left = items.length - progress.value;
      status.textContent = signal.aborted
        ? `Cancelled: ${fmt.int(progress.value)} of ${fmt.int(items.length)} photos done; Enroll again to go on.`
        : stopped
          ? `Stopped (${stopped}): ${fmt.int(left)} photos not done; Enroll again to go on.`
          : `Done: ${fmt.int(items.length)} photos.`;
      document.body.dataset.bulk = signal.aborted ? "cancelled" : stopped ? "stopped" : "done";
    } catch (error) {
      status.textContent = `${describeError(error, "Enrolling")}; Enroll again to go on (what is done is kept).`;
      status.className = "status error";
      document.body.dataset.bulk = "failed";
    } finally {
      cancel.disabled = true;
      start.disabled = false;
      abort = null;
    }
    // the company's operating point for its new size (its threshold follows the number of people)
    try {
      const p = await ctx.api.get(`${base}/operating-point`, OperatingPointBody, { signal: ctx.signal });
      op.textContent = `Operating point now: threshold ${p.threshold.toFixed(3)} for ${fmt.int(p.gallerySize)} people${p.expectedFpir != null ? `, expected stranger acceptance ${(p.expectedFpir * 100).toFixed(2)} %` : ""}.`;
    } catch {
      op.textContent = "";
    }
  };
  start.addEventListener("click", () => {
    delete document.body.dataset.bulk;
    if (plan) void run(plan.items);
  });
  cancel.addEventListener("click", () => abort?.abort());
  ctx.signal.addEventListener("abort", () => abort?.abort());
}
