/**
 * The operating point of a company: gallery size, threshold, expected false accepts, and the
 * calibration drawn as two SVG plots (error rates by threshold; DET: missed people against accepted
 * strangers), with the setting to move it within the server's bounds.
 */
import { ApiError, describeError } from "./api.ts";
import { lineChart } from "./charts.ts";
import type { ViewContext } from "./context.ts";
import { fmt, h, replace, seg } from "./dom.ts";
import { OperatingPointBody, UsersPage, type CurvePoint, type OperatingPoint } from "./schemas.ts";

/** Strangers accepted as somebody among n enrolled people at per-comparison rate far: 1 − (1 − far)^n. */
export function fpirFromFar(far: number, n: number): number {
  if (n <= 0 || far <= 0) return 0;
  if (far >= 1) return 1;
  return -Math.expm1(n * Math.log1p(-far));
}

/** The curve at threshold t (linear interpolation between calibration points). */
export function at(curve: CurvePoint[], t: number, n: number): { far: number; frr: number | null; fpir: number } {
  if (curve.length === 0) return { far: Number.NaN, frr: null, fpir: Number.NaN };
  let i = curve.findIndex((p) => p.threshold >= t);
  if (i < 0) i = curve.length - 1;
  const hi = curve[i];
  const lo = curve[Math.max(0, i - 1)];
  const w = hi.threshold === lo.threshold ? 1 : (t - lo.threshold) / (hi.threshold - lo.threshold);
  const mix = (a: number, b: number) => a + (b - a) * Math.min(1, Math.max(0, w));
  const far = mix(lo.far, hi.far);
  const frr = lo.frr !== null && hi.frr !== null ? mix(lo.frr, hi.frr) : null;
  const fpir = lo.fpir !== null && hi.fpir !== null ? mix(lo.fpir, hi.fpir) : fpirFromFar(far, n);
  return { far, frr, fpir };
}

/** The lowest threshold whose expected FPIR is within the target (what a target setting means). */
export function thresholdForTarget(curve: CurvePoint[], n: number, target: number): number | null {
  for (const p of curve) if ((p.fpir ?? fpirFromFar(p.far, n)) <= target) return p.threshold;
  return null;
}

const FLOOR = 1e-5;

const SOURCES: Record<string, string> = {
  explicit: "the server's FACE_RECOGNITION_THRESHOLD (it wins over company settings)",
  company_threshold: "this company's fixed threshold",
  company_fpir_target: "this company's false-accept target",
  fpir_target: "the server's false-accept target (FACE_FPIR_TARGET)",
  uncalibrated_default: "the default threshold (no calibration for this model)",
};

export async function operatingView(ctx: ViewContext, main: HTMLElement, company: string): Promise<void> {
  const path = `/v1/companies/${seg(company)}/operating-point`;
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  replace(main, h("h1", {}, "Operating point ", h("span", { class: "muted" }, `of ${company}`)), status);

  let op: OperatingPoint;
  try {
    op = await ctx.api.get(path, OperatingPointBody, { signal: ctx.signal });
  } catch (error) {
    if (ctx.signal.aborted) return;
    status.className = "status error";
    status.textContent = describeError(error, "The operating point");
    if (error instanceof ApiError && error.missingRoute) {
      // Still useful: how many people a stranger is compared with.
      const users = await ctx.api.get(`/v1/companies/${seg(company)}/users`, UsersPage, { query: { limit: 1 } }).catch(() => null);
      if (users?.total !== undefined) main.append(h("p", {}, `Gallery size: ${fmt.int(users.total)} people. Each stranger at a kiosk is compared with all of them.`));
    }
    return;
  }
  draw(op);

  function draw(p: OperatingPoint): void {
    const n = p.gallerySize;
    const now = at(p.curve, p.threshold, n);
    const facts = h(
      "dl",
      { class: "facts", id: "op-facts" },
      h("div", {}, h("dt", {}, "Gallery size"), h("dd", { id: "op-gallery" }, `${fmt.int(n)} people`)),
      h("div", {}, h("dt", {}, "Threshold"), h("dd", { id: "op-threshold" }, fmt.score(p.threshold))),
      h("div", {}, h("dt", {}, "Set by"), h("dd", { id: "op-source", "data-source": p.source }, SOURCES[p.source] ?? (p.source || "–"))),
      h("div", {}, h("dt", {}, "False-accept target"), h("dd", { id: "op-target" }, p.fpirTarget !== null ? fmt.pct(p.fpirTarget) : "–")),
      h(
        "div",
        {},
        h("dt", {}, "Expected false accepts"),
        h("dd", { id: "op-fpir" }, fmt.pct(p.expectedFpir ?? now.fpir), h("span", { class: "muted small" }, " of strangers accepted as somebody")),
      ),
      h("div", {}, h("dt", {}, "Expected misses"), h("dd", { id: "op-fnir" }, p.expectedFnir !== null ? fmt.pct(p.expectedFnir) : now.frr !== null ? fmt.pct(now.frr) : "–", h("span", { class: "muted small" }, " of enrolled people not recognized in one photo"))),
    );

    // ---- plots
    const plots = h("div", { class: "plots" });
    const drawPlots = (preview: number | null): void => {
      const c = p.curve;
      if (c.length < 2) {
        replace(plots, h("p", { class: "muted" }, "The server sent no calibration curve to draw."));
        return;
      }
      const tMin = Math.max(c[0].threshold, p.bounds.threshold[0] - 0.1);
      const tMax = Math.min(c[c.length - 1].threshold, p.bounds.threshold[1]);
      const inRange = c.filter((q) => q.threshold >= tMin && q.threshold <= tMax);
      const fpirOf = (q: CurvePoint) => q.fpir ?? fpirFromFar(q.far, n);
      const markers = [{ x: p.threshold, label: `now ${fmt.score(p.threshold)}`, cls: "m-now" }];
      if (preview !== null && Math.abs(preview - p.threshold) > 1e-6) markers.push({ x: preview, label: `new ${fmt.score(preview)}`, cls: "m-new" });
      const rates = lineChart(
        [
          { name: `strangers accepted (${fmt.int(n)} people)`, points: inRange.map((q) => [q.threshold, Math.max(FLOOR, fpirOf(q))]), cls: "c1" },
          { name: "false accept, one comparison", points: inRange.map((q) => [q.threshold, Math.max(FLOOR, q.far)]), cls: "c2" },
          ...(inRange.every((q) => q.frr !== null) ? [{ name: "enrolled people missed", points: inRange.map((q): [number, number] => [q.threshold, Math.max(FLOOR, q.frr ?? 0)]), cls: "c3" }] : []),
        ],
        { title: "Error rates by threshold", x: { min: tMin, max: tMax, label: "threshold (cosine similarity)" }, y: { min: FLOOR, max: 1, log: true, label: "rate" }, markers },
      );
      rates.id = "plot-rates";
      const det = c.every((q) => q.frr !== null)
        ? lineChart([{ name: "DET", points: c.filter((q) => fpirOf(q) >= FLOOR && (q.frr ?? 0) >= 1e-4).map((q) => [fpirOf(q), q.frr ?? 0]), cls: "c1" }], {
            title: "DET: missed people against accepted strangers",
            x: { min: FLOOR, max: 1, log: true, label: `strangers accepted (FPIR, ${fmt.int(n)} people)` },
            y: { min: 1e-4, max: 1, log: true, label: "missed (FNIR)" },
            dots: [
              { x: Math.max(FLOOR, now.fpir), y: Math.max(1e-4, now.frr ?? 0), label: `now: threshold ${fmt.score(p.threshold)}`, cls: "m-now" },
              ...(preview !== null && Math.abs(preview - p.threshold) > 1e-6
                ? [(() => {
                    const q = at(c, preview, n);
                    return { x: Math.max(FLOOR, q.fpir), y: Math.max(1e-4, q.frr ?? 0), label: `new: threshold ${fmt.score(preview)}`, cls: "m-new" };
                  })()]
                : []),
            ],
          })
        : null;
      if (det) det.id = "plot-det";
      replace(plots, h("figure", {}, rates, h("figcaption", {}, "Error rates by threshold (log scale)")), det ? h("figure", {}, det, h("figcaption", {}, "DET curve: each point is one threshold")) : null);
    };

    // ---- the setting
    const mode = {
      target: h("input", { type: "radio", name: "op-mode", id: "op-mode-target", value: "target", checked: p.fpirTarget !== null }),
      threshold: h("input", { type: "radio", name: "op-mode", id: "op-mode-threshold", value: "threshold", checked: p.fpirTarget === null }),
    };
    const [tLo, tHi] = p.bounds.threshold;
    const [fLo, fHi] = p.bounds.fpirTarget;
    const value = h("input", { id: "op-value", type: "number", required: true, "aria-describedby": "op-hint" });
    const slider = h("input", { id: "op-slider", type: "range", "aria-label": "setting", "aria-describedby": "op-hint" });
    const hint = h("p", { id: "op-hint", class: "muted small" });
    const preview = h("p", { id: "op-preview", role: "status", "aria-live": "polite" });
    const save = h("button", { type: "submit", class: "primary", id: "op-save" }, "Save the operating point");
    const reset = h("button", { type: "button", id: "op-reset", hidden: !p.hasSetting }, "Back to the server's default");
    const put = async (body: Record<string, number | null>, what: string): Promise<void> => {
      save.disabled = true;
      reset.disabled = true;
      try {
        const next = await ctx.api.call("PUT", path, OperatingPointBody, { json: body });
        ctx.toast(`${what}: threshold now ${fmt.score(next.threshold)}.`, "ok");
        replace(main, main.firstElementChild, status);
        status.textContent = "";
        status.className = "status";
        draw(next);
      } catch (error) {
        status.className = "status error";
        status.textContent = describeError(error, "Changing the operating point");
        save.disabled = false;
        reset.disabled = false;
      }
    };
    reset.addEventListener("click", () => void put({ fpir_target: null, threshold: null }, "Back to the default"));
    const isTarget = () => mode.target.checked;
    // The slider runs in log space for a target (1e-4 … 1e-1), linear for a threshold.
    const configure = (): void => {
      if (isTarget()) {
        Object.assign(value, { min: String(fLo), max: String(fHi), step: "any" });
        Object.assign(slider, { min: String(Math.log10(fLo)), max: String(Math.log10(fHi)), step: "0.01" });
        value.value = String(p.fpirTarget ?? Math.min(fHi, Math.max(fLo, 0.01)));
        hint.textContent = `Fraction of strangers that may be accepted as somebody, ${fLo} to ${fHi}: the threshold follows the gallery size.`;
      } else {
        Object.assign(value, { min: String(tLo), max: String(tHi), step: "0.005" });
        Object.assign(slider, { min: String(tLo), max: String(tHi), step: "0.005" });
        value.value = p.threshold.toFixed(3);
        hint.textContent = `A fixed cosine threshold, ${tLo} to ${tHi}: false accepts then grow with the gallery.`;
      }
      syncSlider();
      update();
    };
    const syncSlider = (): void => {
      const v = Number(value.value);
      slider.value = String(isTarget() ? Math.log10(Math.max(v, 1e-9)) : v);
    };
    const chosenThreshold = (): number | null => {
      const v = Number(value.value);
      if (!Number.isFinite(v)) return null;
      return isTarget() ? thresholdForTarget(p.curve, n, v) : v;
    };
    const update = (): void => {
      const v = Number(value.value);
      const [lo, hi] = isTarget() ? [fLo, fHi] : [tLo, tHi];
      if (!Number.isFinite(v) || v < lo || v > hi) {
        preview.textContent = `Outside the allowed range ${lo} … ${hi}.`;
        preview.className = "error";
        save.disabled = true;
        drawPlots(null);
        return;
      }
      save.disabled = false;
      preview.className = "";
      const t = chosenThreshold();
      if (t === null || p.curve.length === 0) {
        preview.textContent = isTarget() ? `Target ${fmt.pct(v)}.` : `Threshold ${fmt.score(v)}.`;
      } else {
        const q = at(p.curve, t, n);
        preview.textContent = `Threshold ${fmt.score(t)}: about ${fmt.pct(q.fpir)} of strangers accepted${q.frr !== null ? `, ${fmt.pct(q.frr)} of enrolled people missed` : ""} (today's ${fmt.int(n)} people).`;
      }
      drawPlots(t);
    };
    value.addEventListener("input", () => {
      syncSlider();
      update();
    });
    slider.addEventListener("input", () => {
      const v = Number(slider.value);
      value.value = isTarget() ? String(Number((10 ** v).toPrecision(2))) : v.toFixed(3);
      update();
    });
    mode.target.addEventListener("change", configure);
    mode.threshold.addEventListener("change", configure);

    const form = h(
      "form",
      { class: "card", id: "op-form" },
      h("h2", {}, "Change it"),
      h(
        "fieldset",
        { class: "row" },
        h("legend", {}, "Decide by"),
        h("label", { class: "check" }, mode.target, " false-accept target"),
        h("label", { class: "check" }, mode.threshold, " fixed threshold"),
      ),
      h("label", { for: value.id }, "Value"),
      h("div", { class: "row" }, value, slider),
      hint,
      preview,
      p.source === "explicit" ? h("p", { class: "error" }, "FACE_RECOGNITION_THRESHOLD is set on the server: it wins over what is saved here.") : null,
      h("div", { class: "row" }, save, reset),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const v = Number(value.value);
      void put(isTarget() ? { fpir_target: v } : { threshold: v }, "Operating point saved");
    });

    main.append(facts, plots, form);
    configure();
  }
}
