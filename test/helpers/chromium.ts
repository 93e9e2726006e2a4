/**
 * Debian's Chromium for the page tests: the flags every test launches it with (headless, no
 * sandbox as root, no background traffic on this closed network), a camera played from a Y4M file,
 * and the page errors a test asserts to be none.
 */
import type { Page } from "playwright-core";
import { toolPath } from "./tools.ts";

export const CHROMIUM = toolPath("chromium") ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Flags for a fake webcam that plays `y4m` (permission granted without a prompt). */
export function fakeCameraArgs(y4m: string): string[] {
  return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", `--use-file-for-fake-video-capture=${y4m}`, ...CHROMIUM_ARGS];
}

/**
 * Collects uncaught page errors and console errors into `errors`. Failed HTTP calls ("Failed to load
 * resource") are left out: refused requests (4xx) are part of the flows under test.
 */
export function collectPageErrors(page: Page, errors: string[]): void {
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) errors.push(message.text());
  });
}
