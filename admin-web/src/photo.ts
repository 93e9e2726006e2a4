/**
 * Choosing a photo to enroll: a file (picker or drag and drop) or a frame from the webcam, taken with
 * the kiosk page's own camera code (kiosk-web/src/camera.ts). And the outcome card: the photo with
 * the face box drawn over it, and the server's answer in words beside it.
 */
import { Camera, listCameras } from "../../kiosk-web/src/camera.ts";
import { Detected } from "./schemas.ts";
import type { Api } from "./api.ts";
import { h, replace, s } from "./dom.ts";

export interface Photo {
  blob: Blob;
  /** File name, or "camera-<time>.jpg". */
  name: string;
}

export interface PickerOptions {
  /** Called with each chosen photo (the picker shows its preview). */
  onPhoto(photo: Photo | null): void;
  signal: AbortSignal;
  idPrefix: string;
}

/** Photos larger than this are refused here (the server's limit is lower by default). */
const MAX_BYTES = 20 * 1024 * 1024;

export function photoPicker(o: PickerOptions): HTMLElement {
  // Hidden and out of the tab order: the drop zone is the control (Enter or Space opens the picker).
  const input = h("input", { type: "file", accept: "image/jpeg,image/png,image/webp", id: `${o.idPrefix}-file`, class: "visually-hidden", tabindex: -1 });
  const preview = h("div", { class: "preview", id: `${o.idPrefix}-preview`, "aria-live": "polite" });
  const message = h("p", { class: "muted small", role: "status" });
  let previewUrl: string | null = null;
  const show = (photo: Photo | null): void => {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    if (!photo) {
      replace(preview);
      o.onPhoto(null);
      return;
    }
    previewUrl = URL.createObjectURL(photo.blob);
    replace(preview, h("img", { src: previewUrl, alt: `chosen photo ${photo.name}` }), h("span", { class: "small" }, photo.name));
    o.onPhoto(photo);
  };
  const take = (file: File | undefined): void => {
    if (!file) return;
    if (!/^image\//.test(file.type) && !/\.(jpe?g|png|webp)$/i.test(file.name)) {
      message.textContent = `${file.name} is not an image.`;
      return;
    }
    if (file.size > MAX_BYTES) {
      message.textContent = `${file.name} is larger than ${MAX_BYTES / 1024 / 1024} MB.`;
      return;
    }
    message.textContent = "";
    show({ blob: file, name: file.name });
  };
  input.addEventListener("change", () => take(input.files?.[0]));

  const drop = h(
    "div",
    { class: "dropzone", tabindex: 0, role: "button", id: `${o.idPrefix}-drop`, "aria-label": "Choose a photo: drop an image here, or press Enter to pick a file" },
    h("strong", {}, "Drop a photo here"),
    h("span", { class: "muted" }, " or "),
    h("label", { for: input.id, class: "link" }, "choose a file"),
  );
  drop.addEventListener("click", (e) => {
    if ((e.target as HTMLElement).tagName !== "LABEL") input.click();
  });
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      input.click();
    }
  });
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    take(e.dataTransfer?.files?.[0]);
  });

  // The webcam, opened on demand and closed when the view is left.
  const video = h("video", { autoplay: true, muted: true, playsinline: true, class: "camera-video", id: `${o.idPrefix}-video` });
  const canvas = h("canvas", { hidden: true });
  const cameraSelect = h("select", { id: `${o.idPrefix}-camera-select`, "aria-label": "camera" });
  const camera = new Camera(video);
  const shoot = h("button", { type: "button", id: `${o.idPrefix}-shoot`, class: "primary", disabled: true }, "Take photo");
  const cameraBox = h("div", { class: "camera", hidden: true }, video, h("div", { class: "row" }, cameraSelect, shoot));
  const openCamera = h("button", { type: "button", id: `${o.idPrefix}-camera` }, "Use the webcam");
  const startCamera = async (deviceId: string): Promise<void> => {
    shoot.disabled = true;
    message.textContent = "Opening the camera…";
    try {
      await camera.start(deviceId);
      const cams = await listCameras();
      replace(cameraSelect, ...cams.map((c) => h("option", { value: c.deviceId, selected: c.deviceId === camera.deviceId }, c.label)));
      message.textContent = "";
      shoot.disabled = false;
    } catch (error) {
      message.textContent = `The camera could not be opened: ${error instanceof Error ? error.message : String(error)}`;
    }
  };
  openCamera.addEventListener("click", () => {
    if (!cameraBox.hidden) {
      camera.stop();
      cameraBox.hidden = true;
      openCamera.textContent = "Use the webcam";
      return;
    }
    cameraBox.hidden = false;
    openCamera.textContent = "Close the webcam";
    void startCamera("");
  });
  cameraSelect.addEventListener("change", () => void startCamera(cameraSelect.value));
  shoot.addEventListener("click", async () => {
    // Full resolution up to 1280 px, high quality: this photo becomes a stored face.
    const blob = await camera.grab(canvas, 1280, 0.92);
    if (!blob) {
      message.textContent = "The camera has no picture yet.";
      return;
    }
    show({ blob, name: `camera-${new Date().toISOString().slice(11, 19).replaceAll(":", "")}.jpg` });
  });
  o.signal.addEventListener("abort", () => {
    camera.stop();
    if (previewUrl) URL.revokeObjectURL(previewUrl);
  });

  const root = h("div", { class: "picker" }, drop, input, h("div", { class: "row" }, openCamera), cameraBox, canvas, message, preview);
  return Object.assign(root, { clear: () => show(null) });
}

export type Outcome =
  | { ok: true; title: string; detail: string; box: number[] | null }
  | { ok: false; title: string; detail: string; code: string };

/**
 * The photo with what the server saw: the stored face's box (green) or, for a refusal, every face
 * the detector finds in it (amber), and the outcome in words. Refusals ask /v1/detect for the boxes.
 */
export function outcomeCard(api: Api, photo: Photo, outcome: Outcome): HTMLElement {
  const url = URL.createObjectURL(photo.blob);
  const img = h("img", { src: url, alt: photo.name });
  const overlay = s("svg", { class: "boxes", "aria-hidden": "true" });
  const figure = h("div", { class: "shot" }, img, overlay);
  const note = h("p", { class: "small muted" });
  const card = h(
    "li",
    { class: `outcome ${outcome.ok ? "ok" : "refused"}`, "data-code": outcome.ok ? "OK" : outcome.code },
    figure,
    h("div", { class: "words" }, h("strong", {}, outcome.title), h("p", {}, outcome.detail), note),
  );
  const draw = (boxes: number[][], cls: string): void => {
    const w = img.naturalWidth;
    const hgt = img.naturalHeight;
    if (!w || !hgt) return;
    overlay.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
    const stroke = Math.max(3, Math.round(Math.min(w, hgt) / 60));
    for (const [x, y, bw, bh] of boxes) overlay.append(s("rect", { x, y, width: bw, height: bh, class: cls, "stroke-width": stroke }));
  };
  const loaded = new Promise<void>((resolve) => {
    if (img.complete && img.naturalWidth) resolve();
    else img.addEventListener("load", () => resolve(), { once: true });
  });
  void loaded.then(async () => {
    if (outcome.ok) {
      if (outcome.box) draw([outcome.box], "box-ok");
      return;
    }
    try {
      const form = new FormData();
      form.append("image", photo.blob, photo.name);
      const found = await api.call("POST", "/v1/detect", Detected, { form });
      draw(found.bboxes, "box-refused");
      note.textContent =
        found.faces_count === 0 ? "The detector finds no face in this photo." : `The detector finds ${found.faces_count} face${found.faces_count > 1 ? "s" : ""} here (boxed).`;
      card.dataset.faces = String(found.faces_count);
    } catch {
      note.textContent = "";
    }
  });
  return card;
}
