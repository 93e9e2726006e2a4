/** Boxes and names drawn over the preview, in the coordinates of the frames that were sent. */
import type { FaceResult, FaceState } from "../../server/kiosk/protocol.ts";

export const STATE_COLORS: Record<FaceState, string> = {
  detecting: "#38bdf8",
  verifying: "#f59e0b",
  checking_liveness: "#f59e0b",
  challenge: "#a78bfa",
  recognized: "#22c55e",
  not_live: "#ef4444",
  unknown: "#ef4444",
};

const STATE_LABELS: Record<FaceState, string> = {
  detecting: "…",
  verifying: "verifying",
  checking_liveness: "checking",
  challenge: "action?",
  recognized: "",
  not_live: "not live",
  unknown: "unknown",
};

/**
 * Draws `faces` found in a frame of `frameW` x `frameH`. The canvas has the frame's size and is
 * stretched over the video by CSS, so boxes line up without per-pixel math; `mirror` matches a
 * mirrored preview (the text itself stays readable).
 */
export function drawOverlay(
  canvas: HTMLCanvasElement,
  faces: readonly FaceResult[],
  frameW: number,
  frameH: number,
  mirror: boolean,
): void {
  if (canvas.width !== frameW || canvas.height !== frameH) {
    canvas.width = frameW;
    canvas.height = frameH;
  }
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const line = Math.max(2, Math.round(frameW / 160));
  const maxFontPx = Math.max(14, Math.round(frameW / 26));
  ctx.textBaseline = "bottom";
  for (const face of faces) {
    const [bx, by, bw, bh] = face.bbox;
    const x = mirror ? frameW - bx - bw : bx;
    const color = STATE_COLORS[face.state];
    ctx.strokeStyle = color;
    ctx.lineWidth = line;
    ctx.strokeRect(x, by, bw, bh);

    const name = face.name ?? face.userId ?? "";
    const status = STATE_LABELS[face.state];
    // The name and state only: the confidence is shown once, on the card (one figure per person).
    let label = [name, status].filter(Boolean).join(" · ") || "…";
    // The label fits the box: a smaller font first, then an ellipsis.
    let fontPx = maxFontPx;
    const fits = () => ctx.measureText(label).width + fontPx * 0.6 <= Math.max(bw, 60);
    ctx.font = `700 ${fontPx}px system-ui, sans-serif`;
    while (!fits() && fontPx > 12) {
      fontPx -= 1;
      ctx.font = `700 ${fontPx}px system-ui, sans-serif`;
    }
    while (!fits() && label.length > 2) label = `${label.slice(0, -2)}…`;
    const tw = ctx.measureText(label).width + fontPx * 0.6;
    const th = fontPx * 1.35;
    const ly = by - th >= 0 ? by : by + bh + th;
    // Keep the label inside the frame when the face is near an edge.
    const lx = Math.max(0, Math.min(x - line / 2, frameW - tw));
    ctx.fillStyle = color;
    ctx.fillRect(lx, ly - th, tw, th);
    ctx.fillStyle = "#0c0f14";
    ctx.fillText(label, lx + fontPx * 0.3, ly - fontPx * 0.15);
  }
}
