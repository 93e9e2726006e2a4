/** Line charts drawn as SVG by the page (no chart library): axes with ticks, log or linear scales, markers. */
import { s } from "./dom.ts";

export interface Series {
  name: string;
  points: Array<[number, number]>;
  /** CSS class for the stroke colour (style.css: .c1 … .c4). */
  cls: string;
}

export interface Axis {
  min: number;
  max: number;
  log?: boolean;
  label: string;
  format?: (v: number) => string;
  ticks?: number[];
}

export interface ChartOptions {
  title: string;
  x: Axis;
  y: Axis;
  width?: number;
  height?: number;
  /** Vertical lines (e.g. the current threshold). */
  markers?: Array<{ x: number; label: string; cls: string }>;
  /** Points to highlight (e.g. the operating point on the DET curve). */
  dots?: Array<{ x: number; y: number; label: string; cls: string }>;
}

function scale(axis: Axis, from: number, to: number): (v: number) => number {
  if (axis.log) {
    const lo = Math.log10(axis.min);
    const hi = Math.log10(axis.max);
    return (v) => from + ((Math.log10(Math.min(axis.max, Math.max(axis.min, v))) - lo) / (hi - lo)) * (to - from);
  }
  return (v) => from + ((Math.min(axis.max, Math.max(axis.min, v)) - axis.min) / (axis.max - axis.min || 1)) * (to - from);
}

function ticksOf(axis: Axis): number[] {
  if (axis.ticks) return axis.ticks;
  if (axis.log) {
    const out: number[] = [];
    for (let e = Math.ceil(Math.log10(axis.min)); e <= Math.floor(Math.log10(axis.max)); e++) out.push(10 ** e);
    return out;
  }
  const span = axis.max - axis.min;
  const step = 10 ** Math.floor(Math.log10(span / 4 || 1));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((st) => span / st <= 6) ?? step * 10;
  const out: number[] = [];
  for (let v = Math.ceil(axis.min / nice) * nice; v <= axis.max + 1e-9; v += nice) out.push(Number(v.toPrecision(12)));
  return out;
}

const logLabel = (v: number): string => (v >= 0.01 ? `${+(v * 100).toPrecision(3)}%` : `${+(v * 100).toPrecision(2)}%`);

export function lineChart(series: Series[], o: ChartOptions): SVGSVGElement {
  const width = o.width ?? 560;
  // The legend sits in a band above the plot (one row per series), never over the curves.
  const legendRows = series.length > 1 ? series.length : 0;
  const height = (o.height ?? 300) + legendRows * 16;
  const m = { left: 58, right: 14, top: 14 + legendRows * 16, bottom: 44 };
  const sx = scale(o.x, m.left, width - m.right);
  const sy = scale(o.y, height - m.bottom, m.top);
  const fx = o.x.format ?? (o.x.log ? logLabel : (v: number) => String(v));
  const fy = o.y.format ?? (o.y.log ? logLabel : (v: number) => String(v));
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": o.title });
  // Marker labels near the right edge go left of their line.
  const labelX = (x: number) => (x > width - m.right - 90 ? { x: x - 4, anchor: "end" } : { x: x + 4, anchor: "start" });
  svg.append(s("title", {}, o.title));
  const grid = s("g", { class: "grid" });
  for (const t of ticksOf(o.x)) {
    const x = sx(t);
    grid.append(s("line", { x1: x, x2: x, y1: m.top, y2: height - m.bottom }));
    grid.append(s("text", { x, y: height - m.bottom + 16, "text-anchor": "middle" }, fx(t)));
  }
  for (const t of ticksOf(o.y)) {
    const y = sy(t);
    grid.append(s("line", { x1: m.left, x2: width - m.right, y1: y, y2: y }));
    grid.append(s("text", { x: m.left - 6, y: y + 4, "text-anchor": "end" }, fy(t)));
  }
  svg.append(grid);
  svg.append(s("text", { class: "axis-label", x: (m.left + width - m.right) / 2, y: height - 6, "text-anchor": "middle" }, o.x.label));
  svg.append(
    s("text", { class: "axis-label", x: 12, y: (m.top + height - m.bottom) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${(m.top + height - m.bottom) / 2})` }, o.y.label),
  );
  svg.append(s("rect", { class: "frame", x: m.left, y: m.top, width: width - m.left - m.right, height: height - m.top - m.bottom }));
  for (const line of series) {
    const pts = line.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (pts.length === 0) continue;
    const d = pts.map(([x, y], i) => `${i === 0 ? "M" : "L"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
    svg.append(s("path", { class: `series ${line.cls}`, d, "data-series": line.name }, s("title", {}, line.name)));
  }
  for (const mk of o.markers ?? []) {
    const x = sx(mk.x);
    svg.append(s("line", { class: `marker ${mk.cls}`, x1: x, x2: x, y1: m.top, y2: height - m.bottom }));
    const at = labelX(x);
    svg.append(s("text", { class: `marker-label ${mk.cls}`, x: at.x, y: m.top + 12 + (mk.cls === "m-new" ? 14 : 0), "text-anchor": at.anchor }, mk.label));
  }
  for (const dot of o.dots ?? []) {
    svg.append(s("circle", { class: `dot ${dot.cls}`, cx: sx(dot.x), cy: sy(dot.y), r: 5 }, s("title", {}, dot.label)));
  }
  if (legendRows > 0) {
    const legend = s("g", { class: "legend" });
    series.forEach((line, i) => {
      const y = 14 + i * 16;
      legend.append(s("line", { class: `series ${line.cls}`, x1: m.left, x2: m.left + 24, y1: y - 4, y2: y - 4 }));
      legend.append(s("text", { x: m.left + 30, y }, line.name));
    });
    svg.append(legend);
  }
  return svg;
}

/** A small time series chart (System view): the last values, newest on the right. */
export function sparkChart(title: string, values: Array<[number, number]>, o: { unit: (v: number) => string; cls: string; windowMs: number; floor: number }): SVGSVGElement {
  const now = values.length ? values[values.length - 1][0] : Date.now();
  const finite = values.filter(([, v]) => Number.isFinite(v)).map(([, v]) => v);
  // An idle server draws a flat line at the bottom of a readable scale, not a scale of zeros.
  const max = Math.max(o.floor, Math.max(0, ...finite) * 1.15);
  return lineChart([{ name: title, points: values.map(([t, v]) => [(t - now) / 1000, v]), cls: o.cls }], {
    title,
    width: 360,
    height: 160,
    x: { min: -o.windowMs / 1000, max: 0, label: "seconds ago", format: (v) => String(Math.round(-v)) },
    y: { min: 0, max, label: "", format: o.unit, ticks: [0, max / 2, max].map((v) => Number(v.toPrecision(2))) },
  });
}
