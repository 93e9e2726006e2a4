/** One webhook request: the signed POST of an event's JSON; resolves to null (2xx) or the error. */
import type { DestinationPolicy } from "./destinations.ts";
import { SIGNATURE_HEADER, sign, standardHeaders } from "./signature.ts";

export interface WebhookRequest {
  url: string;
  secret: string;
  eventId: string;
  payload: string;
  /** 1 for the first attempt. */
  attempt: number;
}

/**
 * The URL is checked again here (DNS may have changed since it was set) and the request goes to the
 * address that was checked: the host name travels only in the Host header and as the TLS server name.
 */
export async function postEvent(r: WebhookRequest, timeoutMs: number, destinations: DestinationPolicy): Promise<string | null> {
  // One timestamp for both signatures (the same instant, signed twice).
  const t = Math.floor(Date.now() / 1000);
  try {
    const to = await destinations.check(r.url);
    const res = await fetch(to.url, {
      method: "POST",
      ...(to.serverName ? { tls: { serverName: to.serverName } } : {}),
      headers: {
        ...(to.host ? { Host: to.host } : {}),
        "Content-Type": "application/json",
        "User-Agent": "facegate-webhook/1",
        "Facegate-Event-Id": r.eventId,
        "Idempotency-Key": r.eventId,
        "Facegate-Delivery-Attempt": String(r.attempt),
        [SIGNATURE_HEADER]: sign(r.secret, r.payload, t),
        ...standardHeaders(r.secret, r.eventId, r.payload, t),
      },
      body: r.payload,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel().catch(() => {});
    return res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}`;
  } catch (e) {
    if (e instanceof Error) return e.name === "TimeoutError" ? `timed out after ${timeoutMs} ms` : e.message;
    return String(e);
  }
}

/** Exponential back-off with jitter: step base·2^(attempts-1) capped at max, drawn from 50-100 % of it. */
export function backoffMs(attempts: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.min(attempts - 1, 30));
  return Math.round(step * (0.5 + 0.5 * random()));
}
