/** The page's elements, looked up once (a missing id is a build mistake: it throws at start). */
export const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
};

export const els = {
  body: document.body,
  conn: $("conn"),
  connText: $("conn-text"),
  companyLabel: $("company-label"),
  viewport: $("viewport"),
  video: $<HTMLVideoElement>("video"),
  overlay: $<HTMLCanvasElement>("overlay"),
  capture: $<HTMLCanvasElement>("capture"),
  cameraMessage: $("camera-message"),
  state: $("state"),
  headline: $("headline"),
  subline: $("subline"),
  recent: $<HTMLOListElement>("recent"),
  enrollForm: $<HTMLFormElement>("enroll-form"),
  enrollUser: $<HTMLInputElement>("enroll-user"),
  enrollCount: $<HTMLInputElement>("enroll-count"),
  enrollInterval: $<HTMLInputElement>("enroll-interval"),
  enrollCreateCompany: $<HTMLInputElement>("enroll-create-company"),
  enrollExisting: $<HTMLInputElement>("enroll-existing"),
  enrollGo: $<HTMLButtonElement>("enroll-go"),
  enrollStatus: $("enroll-status"),
  enrollShots: $("enroll-shots"),
  dialog: $<HTMLDialogElement>("settings"),
  settingsForm: $<HTMLFormElement>("settings-form"),
  setCompany: $<HTMLInputElement>("set-company"),
  setKey: $<HTMLInputElement>("set-key"),
  setKiosk: $<HTMLInputElement>("set-kiosk"),
  setCamera: $<HTMLSelectElement>("set-camera"),
  setFps: $<HTMLInputElement>("set-fps"),
  setConfirm: $<HTMLInputElement>("set-confirm"),
  setWindow: $<HTMLInputElement>("set-window"),
  setMirror: $<HTMLInputElement>("set-mirror"),
  stats: {
    fps: $("stat-fps"),
    latency: $("stat-latency"),
    server: $("stat-server"),
    frames: $("stat-frames"),
    dropped: $("stat-dropped"),
  },
};
