/**
 * The app's own /metrics families: gallery gauges, the security counters (failed keys, body
 * budget) and the admission limiter's state. (FaceApi calls are timed by the desk: server/desk.)
 */
import type { FaceApi } from "../../lib/core/mod.ts";
import type { AuthThrottle } from "./auth-throttle.ts";
import type { AdmissionSnapshot } from "../desk/limits.ts";
import { byLabel, type MetricFamily, type ServerMetrics } from "../observe/metrics.ts";
import type { BodyBudgetSnapshot } from "./middleware/body-budget.ts";

export function galleryGauges(stats: Awaited<ReturnType<FaceApi["getCacheStats"]>>): MetricFamily[] {
  const companies = Object.entries(stats.companies).slice(0, 1000); // bounded label cardinality
  return [
    { name: "facegate_gallery_companies", help: "Companies in the gallery.", values: [{ value: stats.companiesCount }] },
    { name: "facegate_gallery_users", help: "Users in the gallery.", values: [{ value: stats.usersCount }] },
    { name: "facegate_gallery_faces", help: "Faces (embeddings) in the gallery.", values: [{ value: stats.facesCount }] },
    {
      name: "facegate_gallery_company_faces",
      help: "Faces per company (first 1000 companies).",
      values: companies.map(([company, s]) => ({ labels: { company }, value: s.faces })),
    },
    {
      name: "facegate_gallery_company_users",
      help: "Users per company (first 1000 companies).",
      values: companies.map(([company, s]) => ({ labels: { company }, value: s.users })),
    },
    { name: "facegate_store_revision", help: "Store revision applied by the gallery.", values: [{ value: stats.revision }] },
    { name: "facegate_tasks_processed_total", help: "Operations processed by the service.", values: [{ value: stats.totalTasksProcessed }] },
  ];
}

export function securityFamilies(throttle: AuthThrottle, b: BodyBudgetSnapshot): MetricFamily[] {
  return [
    { name: "facegate_auth_failures_total", help: "Requests and kiosk connections with a wrong API key.", type: "counter", values: [{ value: throttle.failures }] },
    { name: "facegate_auth_throttled_total", help: "Key checks refused (429) while the client address backed off after wrong keys.", type: "counter", values: [{ value: throttle.throttled }] },
    { name: "facegate_body_budget_bytes", help: "BODY_BUDGET_BYTES: bytes of request bodies the server reads and holds at once.", values: [{ value: b.capacity }] },
    { name: "facegate_body_budget_held_bytes", help: "Bytes of the body budget reserved by requests in progress.", values: [{ value: b.held }] },
    byLabel(
      "facegate_body_budget_refused_total",
      "Requests refused before their body was read: budget full (reason=full, 503) or the key's share held (reason=key_share, 429).",
      "reason",
      { full: b.refused - b.refusedPerKey, key_share: b.refusedPerKey },
    ),
  ];
}

export function admissionFamilies(a: AdmissionSnapshot): MetricFamily[] {
  return [
    { name: "facegate_admission_in_flight", help: "Engine-bound requests running (admitted, work not finished).", values: [{ value: a.inFlight }] },
    { name: "facegate_admission_queued", help: "Engine-bound requests waiting for a slot.", values: [{ value: a.queued }] },
    byLabel(
      "facegate_admission_limit",
      "Admission limits: MAX_INFLIGHT (kind=in_flight; 0 = off), MAX_QUEUE (kind=queue), and the calls in flight below which a kiosk frame may start (kind=kiosk_slots, KIOSK_SHARE of MAX_INFLIGHT).",
      "kind",
      { in_flight: a.maxInFlight, queue: a.maxQueue, kiosk_slots: a.kioskSlots },
      "gauge",
    ),
    { name: "facegate_admission_kiosk_in_flight", help: "Kiosk frames running (admitted, work not finished).", values: [{ value: a.kioskInFlight }] },
    { name: "facegate_admission_admitted_total", help: "Engine-bound requests and kiosk frames that got a slot.", type: "counter", values: [{ value: a.admitted }] },
    byLabel(
      "facegate_admission_rejected_total",
      "Engine-bound requests refused without running: queue_full (503 UNAVAILABLE), timeout (deadline expired while queued, 503 TIMEOUT), client_gone; kiosk_shed: kiosk frames dropped because no kiosk slot was free (they never queue).",
      "reason",
      { queue_full: a.rejected.queueFull, timeout: a.rejected.timeout, client_gone: a.rejected.clientGone, kiosk_shed: a.rejected.kioskShed },
    ),
  ];
}
