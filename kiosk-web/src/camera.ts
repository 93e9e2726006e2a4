/** Camera: selection by deviceId, preview in a <video>, and JPEG frames drawn through a canvas. */

export interface CameraInfo {
  deviceId: string;
  label: string;
}

export async function listCameras(): Promise<CameraInfo[]> {
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices
    .filter((d) => d.kind === "videoinput")
    .map((d, i) => ({ deviceId: d.deviceId, label: d.label || `Camera ${i + 1}` }));
}

export class Camera {
  private stream: MediaStream | null = null;

  constructor(private readonly video: HTMLVideoElement) {}

  get ready(): boolean {
    return this.video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA && this.video.videoWidth > 0;
  }

  get deviceId(): string {
    return this.stream?.getVideoTracks()[0]?.getSettings().deviceId ?? "";
  }

  /** Opens the camera (640x480 preferred: enough for faces at kiosk distance, cheap to send). */
  async start(deviceId: string): Promise<void> {
    this.stop();
    const video: MediaTrackConstraints = { width: { ideal: 640 }, height: { ideal: 480 } };
    if (deviceId) video.deviceId = { exact: deviceId };
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ video, audio: false });
    } catch (error) {
      // A stored deviceId may be gone (camera unplugged): fall back to any camera.
      if (!deviceId) throw error;
      this.stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 } },
        audio: false,
      });
    }
    this.video.srcObject = this.stream;
    await this.video.play().catch(() => {});
    if (!this.ready) {
      await new Promise<void>((resolve) => {
        const done = () => resolve();
        this.video.addEventListener("loadeddata", done, { once: true });
        setTimeout(done, 3000);
      });
    }
  }

  stop(): void {
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    this.video.srcObject = null;
  }

  /** Draws the current frame, at most `maxWidth` wide, into `canvas` and encodes it as JPEG. */
  async grab(canvas: HTMLCanvasElement, maxWidth: number, quality: number): Promise<Blob | null> {
    const { videoWidth: vw, videoHeight: vh } = this.video;
    if (!vw || !vh) return null;
    const scale = Math.min(1, maxWidth / vw);
    canvas.width = Math.round(vw * scale);
    canvas.height = Math.round(vh * scale);
    const ctx = canvas.getContext("2d");
    if (!ctx) return null;
    ctx.drawImage(this.video, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
  }
}
