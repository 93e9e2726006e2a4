/**
 * The HTTP relay call: a POST of the door command's JSON, signed like webhooks when the rule has a
 * secret (Facegate-Signature and the Standard Webhooks headers, the same `webhook-id` on every
 * attempt, so a relay can drop a retried duplicate), each attempt bounded by `timeout_ms`,
 * retried after a short pause while attempts remain and the budget (from the decision) lasts.
 */
import { SIGNATURE_HEADER, sign, standardHeaders } from "../webhooks/signature.ts";

export interface RelayCall {
  url: string;
  secret?: string;
  /** Idempotency key: the same on every attempt. */
  id: string;
  body: string;
  timeoutMs: number;
  retries: number;
  /** performance.now() after which no attempt starts. */
  deadline: number;
}

export interface RelayOutcome {
  ok: boolean;
  attempts: number;
  /** The last attempt's error (null when it succeeded). */
  error: string | null;
}

const PAUSE_MS = [50, 150, 400, 1000];

export async function callRelay(c: RelayCall): Promise<RelayOutcome> {
  let error: string | null = null;
  let attempts = 0;
  for (let attempt = 0; attempt <= c.retries; attempt++) {
    if (attempt > 0) {
      const pause = PAUSE_MS[Math.min(attempt - 1, PAUSE_MS.length - 1)];
      if (performance.now() + pause >= c.deadline) break;
      await new Promise((r) => setTimeout(r, pause));
    }
    if (performance.now() >= c.deadline) break;
    attempts++;
    const t = Math.floor(Date.now() / 1000);
    try {
      const res = await fetch(c.url, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "User-Agent": "facegate-door/1",
          "Idempotency-Key": c.id,
          "Facegate-Delivery-Attempt": String(attempts),
          ...(c.secret ? { [SIGNATURE_HEADER]: sign(c.secret, c.body, t), ...standardHeaders(c.secret, c.id, c.body, t) } : {}),
        },
        body: c.body,
        redirect: "manual",
        signal: AbortSignal.timeout(Math.max(1, Math.min(c.timeoutMs, c.deadline - performance.now()))),
      });
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) return { ok: true, attempts, error: null };
      error = `HTTP ${res.status}`;
    } catch (e) {
      error = e instanceof Error ? (e.name === "TimeoutError" ? `timed out after ${c.timeoutMs} ms` : e.message) : String(e);
    }
  }
  return { ok: false, attempts, error: error ?? "no time left in the budget" };
}
