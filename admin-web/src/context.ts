/** What every view gets: the signed-in client, the key's reach, navigation and feedback. */
import type { Api } from "./api.ts";
import type { WhoAmI } from "./schemas.ts";

export interface ViewContext {
  api: Api;
  me: WhoAmI;
  /** Aborted when the view is left: streams, timers and cameras stop. */
  signal: AbortSignal;
  navigate(hash: string): void;
  toast(message: string, kind?: "ok" | "error"): void;
  /** A modal question; resolves true when the person confirms. */
  confirm(title: string, body: string, action: string): Promise<boolean>;
  /** The company list in the header changed (created or deleted). */
  companiesChanged(): void;
}

export type View = (ctx: ViewContext, main: HTMLElement) => Promise<void> | void;
