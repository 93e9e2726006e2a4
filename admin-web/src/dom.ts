/** Small DOM helpers: elements built with text nodes only (never innerHTML), SVG elements, formatting. */

type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;
export type Child = Node | string | number | null | undefined | false;

function apply(el: Element, attrs: Attrs): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
}

function append(el: Element, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** `h("button", { type: "button", onclick: fn }, "Save")`: attributes, listeners (on*) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from the page`);
  return el as T;
}

export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

export const fmt = {
  int: (n: number): string => n.toLocaleString("en-US"),
  pct: (x: number, digits = 2): string => {
    if (!Number.isFinite(x)) return "–";
    const p = x * 100;
    // Small rates keep two significant digits (0.0012 %), larger ones a fixed number of decimals.
    if (p !== 0 && Math.abs(p) < 0.1) return `${p.toPrecision(2)} %`;
    return `${p.toFixed(digits)} %`;
  },
  score: (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : "–"),
  time: (iso: string): string => {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : d.toLocaleString("en-GB", { hour12: false });
  },
  ms: (seconds: number): string => (Number.isFinite(seconds) ? `${(seconds * 1000).toFixed(seconds < 0.01 && seconds > 0 ? 1 : 0)} ms` : "–"),
};

/** A path segment for the hash router (user and company ids may hold any printable character). */
export const seg = (id: string): string => encodeURIComponent(id);
