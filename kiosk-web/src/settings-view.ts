/** The settings dialog (S): company, key, kiosk name, camera, rate, vote overrides, mirror; kept in localStorage. */
import type { Settings } from "../../server/kiosk/protocol.ts";
import { $, els } from "./dom.ts";
import { readForm, saveSettings, type PageSettings } from "./params.ts";

export interface SettingsViewDeps {
  settings: () => PageSettings;
  serverSettings: () => Settings | null;
  fillCameras: () => void;
  /** The new settings (saved already); what they require. */
  apply(next: PageSettings, needs: { reconnect: boolean; recamera: boolean }): void;
}

export function initSettingsView(deps: SettingsViewDeps): { open: () => void } {
  function open(): void {
    const settings = deps.settings();
    const serverSettings = deps.serverSettings();
    els.setCompany.value = settings.company;
    els.setKey.value = settings.key;
    els.setKiosk.value = settings.kiosk;
    els.setFps.value = String(settings.fps);
    els.setConfirm.value = settings.confirm?.toString() ?? "";
    els.setWindow.value = settings.window?.toString() ?? "";
    els.setConfirm.placeholder = String(serverSettings?.confirmFrames ?? 3);
    els.setWindow.placeholder = String(serverSettings?.windowFrames ?? 5);
    els.setMirror.checked = settings.mirror;
    deps.fillCameras();
    if (!els.dialog.open) els.dialog.showModal();
    (settings.company ? els.setKey : els.setCompany).focus();
  }

  els.settingsForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const settings = deps.settings();
    const next = readForm(els.settingsForm, settings);
    const reconnect =
      next.company !== settings.company ||
      next.key !== settings.key ||
      next.kiosk !== settings.kiosk ||
      next.confirm !== settings.confirm ||
      next.window !== settings.window ||
      els.conn.dataset.status === "error";
    const recamera = next.camera !== settings.camera;
    saveSettings(next);
    els.dialog.close();
    deps.apply(next, { reconnect, recamera });
  });
  $("set-cancel").addEventListener("click", () => els.dialog.close());
  return { open };
}
