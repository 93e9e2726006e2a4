/**
 * The event log and webhooks as a backend meets them (embedded mode, SQLite synchronous=FULL, the
 * real HTTP server on loopback):
 *  - recording: events appended per second (with and without a webhook: the outbox row is in the
 *    same transaction);
 *  - reading over HTTP with N events in the company: a page of 100 newest first / oldest first / one
 *    user's, a 10,000-row CSV, the attendance of the day;
 *  - delivery: events recorded → signed POSTs acknowledged by a local receiver (throughput, and
 *    record-to-receipt latency); the live feed (record-to-SSE latency).
 *
 *   bun run bench:events [-- --events 20000 --deliveries 2000 --json bench/results/events.json]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { NewEvent } from "../lib/core/mod.ts";
import { createEngine } from "../lib/engine/mod.ts";
import { eventStoreFor, LocalFaceService, SqliteEventStore } from "../lib/service/mod.ts";
import { Integration } from "../server/integration/mod.ts";
import { startServer } from "../server/http/serve.ts";
import { quantile } from "./lfw-metrics.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    events: { type: "string", default: "20000" },
    deliveries: { type: "string", default: "2000" },
    users: { type: "string", default: "500" },
    json: { type: "string" },
  },
});
const N = Number(values.events);
const DELIVERIES = Number(values.deliveries);
const USERS = Number(values.users);
const r2 = (v: number) => Math.round(v * 100) / 100;
const pct = (xs: number[], q: number) => r2(quantile([...xs].sort((a, b) => a - b), q));
const rows: Array<Record<string, unknown>> = [];
const row = (measure: string, value: string, extra: Record<string, unknown> = {}) => {
  rows.push({ measure, value, ...extra });
  console.log(`${measure.padEnd(58)} ${value}`);
};

const dir = mkdtempSync(join(tmpdir(), "facegate-bench-events-"));
const load0 = loadavg()[0];
const engine = await createEngine({ ortThreads: 1 });
const service = await LocalFaceService.create({ engine, env: {}, config: { store: "sqlite", dataDir: dir, dataSource: "NONE" }, log: () => {} });
const store = eventStoreFor(service.store) as SqliteEventStore;
const integration = new Integration({ log: store, outbox: store, config: { retryBaseMs: 100 } });
const server = startServer({ api: service, config: { port: 0, host: "127.0.0.1", rateLimitPerMinute: 0 }, integration });
const url = server.url;
const ev = (i: number, companyId = "acme"): NewEvent => ({
  companyId,
  userId: `user-${i % USERS}`,
  confidence: 0.6 + (i % 30) / 100,
  threshold: 0.4,
  kioskId: `door-${i % 4}`,
  source: "kiosk",
  frames: 3,
});

try {
  // ------------------------------------------------------------ recording
  let t = performance.now();
  const appendMs: number[] = [];
  for (let i = 0; i < N; i++) {
    const a = performance.now();
    await integration.recorder.record(ev(i));
    appendMs.push(performance.now() - a);
  }
  let s = (performance.now() - t) / 1000;
  row(`record ${N} events (no webhook): events/s`, `${Math.round(N / s)}`, { perSecond: N / s, p50Ms: pct(appendMs, 0.5), p99Ms: pct(appendMs, 0.99) });
  row("record: ms per event p50 / p99", `${pct(appendMs, 0.5)} / ${pct(appendMs, 0.99)}`);

  // ------------------------------------------------------------ reading over HTTP
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const a = performance.now();
    const res = await fetch(`${url}${path}`, { headers });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${text.slice(0, 200)}`);
    return { ms: performance.now() - a, text, next: res.headers.get("x-next-cursor") };
  };
  const timeIt = async (label: string, path: string, times = 30, headers: Record<string, string> = {}) => {
    const ms: number[] = [];
    for (let i = 0; i < times; i++) ms.push((await get(path, headers)).ms);
    row(`${label}: ms p50 / p99`, `${pct(ms, 0.5)} / ${pct(ms, 0.99)}`, { p50Ms: pct(ms, 0.5), p99Ms: pct(ms, 0.99), events: N });
  };
  await timeIt(`GET events, newest 100 of ${N}`, "/v1/companies/acme/events?limit=100");
  await timeIt(`GET events, oldest 100 of ${N}`, "/v1/companies/acme/events?limit=100&order=asc");
  await timeIt(`GET events, one user's newest 100 (${N / USERS} each)`, "/v1/companies/acme/events?limit=100&user_id=user-7");
  // a deep page: the cursor is keyset, so page 500 costs what page 1 does
  let cursor = "";
  for (let i = 0; i < 5; i++) cursor = JSON.parse((await get(`/v1/companies/acme/events?limit=1000${cursor ? `&cursor=${cursor}` : ""}`)).text).next_cursor;
  await timeIt("GET events, page 100 after 5,000 skipped (cursor)", `/v1/companies/acme/events?limit=100&cursor=${cursor}`);
  await timeIt("GET events as CSV, 10,000 rows", "/v1/companies/acme/events?limit=10000", 10, { Accept: "text/csv" });
  const today = new Date().toISOString().slice(0, 10);
  await timeIt(`GET attendance of the day (${N} events, ${USERS} users)`, `/v1/companies/acme/attendance?date=${today}`, 5);

  // ------------------------------------------------------------ webhook delivery
  const sent = new Map<string, number>();
  const received: number[] = [];
  let done: () => void = () => {};
  const all = new Promise<void>((r) => (done = r));
  const receiver = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      await req.text();
      const id = req.headers.get("facegate-event-id") ?? "";
      const at = sent.get(id);
      if (at !== undefined) {
        received.push(performance.now() - at);
        if (received.length === DELIVERIES) done();
      }
      return new Response("ok");
    },
  });
  await store.putWebhook("acme", { url: `http://127.0.0.1:${receiver.port}/h`, secret: "bench-secret-0123456789" });
  t = performance.now();
  const withHook: number[] = [];
  for (let i = 0; i < DELIVERIES; i++) {
    const a = performance.now();
    const e = await integration.recorder.record(ev(i));
    withHook.push(performance.now() - a);
    sent.set(e.id, a);
  }
  const recordS = (performance.now() - t) / 1000;
  await all;
  s = (performance.now() - t) / 1000;
  receiver.stop(true);
  row(`record ${DELIVERIES} events with a webhook (outbox row too): events/s`, `${Math.round(DELIVERIES / recordS)}`, { perSecond: DELIVERIES / recordS, p50Ms: pct(withHook, 0.5) });
  row(`webhook: ${DELIVERIES} events recorded and acknowledged: deliveries/s`, `${Math.round(DELIVERIES / s)}`, { perSecond: DELIVERIES / s, concurrency: integration.config.concurrency });
  row("webhook burst: record → receiver, ms p50 / p99 (queueing included)", `${pct(received, 0.5)} / ${pct(received, 0.99)}`, { p50Ms: pct(received, 0.5), p99Ms: pct(received, 0.99) });

  // one event at a time (what a kiosk produces): record → receiver
  const spaced: number[] = [];
  const receiver2 = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      await req.text();
      const at = sent.get(req.headers.get("facegate-event-id") ?? "");
      if (at !== undefined) spaced.push(performance.now() - at);
      return new Response("ok");
    },
  });
  await store.putWebhook("acme", { url: `http://127.0.0.1:${receiver2.port}/h`, secret: "bench-secret-0123456789" });
  sent.clear();
  for (let i = 0; i < 200; i++) {
    const a = performance.now();
    const e = await integration.recorder.record(ev(i));
    sent.set(e.id, a);
    await Bun.sleep(20);
  }
  const deadline = Date.now() + 10_000;
  while (spaced.length < 200 && Date.now() < deadline) await Bun.sleep(10);
  receiver2.stop(true);
  row("webhook, one event at a time: record → receiver, ms p50 / p99", `${pct(spaced, 0.5)} / ${pct(spaced, 0.99)}`, { p50Ms: pct(spaced, 0.5), p99Ms: pct(spaced, 0.99), n: spaced.length });

  // ------------------------------------------------------------ live feed
  const feed = await fetch(`${url}/v1/companies/live/events/stream`);
  const reader = feed.body!.getReader();
  const live: number[] = [];
  const liveSent = new Map<string, number>();
  const reading = (async () => {
    let buf = "";
    while (live.length < 500) {
      const { value, done: end } = await reader.read();
      if (end) break;
      buf += new TextDecoder().decode(value);
      for (const m of buf.matchAll(/^id: (.+)$/gm)) {
        const at = liveSent.get(m[1]);
        if (at !== undefined) {
          live.push(performance.now() - at);
          liveSent.delete(m[1]);
        }
      }
      buf = buf.slice(buf.lastIndexOf("\n\n") + 2);
    }
  })();
  await Bun.sleep(100);
  for (let i = 0; i < 500; i++) {
    const a = performance.now();
    const e = await integration.recorder.record(ev(i, "live"));
    liveSent.set(e.id, a);
    await Bun.sleep(2);
  }
  await reading;
  await reader.cancel();
  row("live feed (SSE): record → event received, ms p50 / p99", `${pct(live, 0.5)} / ${pct(live, 0.99)}`, { p50Ms: pct(live, 0.5), p99Ms: pct(live, 0.99) });
} finally {
  integration.endStreams();
  await server.stop(1000);
  await integration.close();
  await service.close();
  await engine.dispose();
  rmSync(dir, { recursive: true, force: true });
}

const result = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, loadAverageBefore: load0, loadAverageAfter: loadavg()[0] },
  settings: { events: N, deliveries: DELIVERIES, users: USERS, sqliteSynchronous: "FULL" },
  rows,
};
if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
console.log(`load average ${load0.toFixed(2)} → ${loadavg()[0].toFixed(2)}`);
