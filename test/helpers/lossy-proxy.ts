/**
 * An HTTP proxy that loses answers: each write (POST, PUT, DELETE) reaches the real server, which
 * applies it, but the first attempt of each Idempotency-Key gets a 503 TIMEOUT instead of the
 * server's answer (what a gateway answers when the worker's reply was lost). `GET /__lossy/keys`
 * lists how often each key was seen (the client's retries must repeat it).
 */
export interface LossyProxy {
  url: string;
  /** Attempts per Idempotency-Key; "(none)" for writes without one. */
  keys: Map<string, number>;
  stop(): Promise<void>;
}

export function startLossyProxy(target: string): LossyProxy {
  const keys = new Map<string, number>();
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/__lossy/keys") return Response.json(Object.fromEntries(keys));
      const headers = new Headers(req.headers);
      headers.delete("host");
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
      const answer = await fetch(`${target}${url.pathname}${url.search}`, { method: req.method, headers, body });
      if (req.method === "GET" || req.method === "HEAD") return answer;
      const key = req.headers.get("idempotency-key") ?? "(none)";
      const seen = (keys.get(key) ?? 0) + 1;
      keys.set(key, seen);
      const text = await answer.text();
      if (seen === 1) {
        return Response.json({ error: { code: "TIMEOUT", message: "the answer was lost on its way back (lossy proxy)" } }, { status: 503 });
      }
      return new Response(text, { status: answer.status, headers: { "Content-Type": answer.headers.get("content-type") ?? "application/json" } });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, keys, stop: () => server.stop(true) };
}
