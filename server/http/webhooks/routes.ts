/**
 * Webhook routes: PUT (create or replace URL and secret), GET (status: pending, dead letters, last
 * error), DELETE, and POST .../webhook/retry (dead letters back to the queue). Manage scope.
 */
import { randomBytes } from "node:crypto";
import type { z } from "zod";
import { FaceError, WebhookConfigSchema, type FaceApi, type WebhookStatus } from "../../../lib/core/mod.ts";
import type { WebhookAdmin } from "../../integration/webhooks/types.ts";
import type { Scope } from "../auth.ts";
import type { AnyRoute, RouteDef } from "../routes.ts";
import { DeletedBody, describeIssues } from "../wire.ts";
import { isStandardSecret } from "../../integration/webhooks/signature.ts";
import type { DestinationPolicy } from "../../integration/webhooks/destinations.ts";
import { RequeuedBody, WebhookBody, WebhookPutBody } from "../events/wire.ts";

export const WEBHOOK_SCOPE: Scope = "manage";

function route<S extends z.ZodType>(def: RouteDef<S>): AnyRoute {
  return def as unknown as AnyRoute;
}

export function webhookToWire(s: WebhookStatus, secret?: string): z.input<typeof WebhookBody> {
  return {
    company_id: s.companyId,
    url: s.url,
    secret_hint: s.secretHint,
    ...(secret !== undefined ? { secret } : {}),
    created_at: s.createdAt,
    updated_at: s.updatedAt,
    pending: s.pending,
    dead_letters: s.deadLetters,
    delivered: s.delivered,
    last_error: s.lastError,
    last_error_at: s.lastErrorAt,
    last_success_at: s.lastSuccessAt,
    recent_dead_letters: s.recentDeadLetters.map((d) => ({ event_id: d.eventId, attempts: d.attempts, last_error: d.lastError, dead_at: d.deadAt })),
  };
}

/** The outbox and the deliverer's wake-up; throws UNAVAILABLE while starting or without webhooks. */
export type WebhookDeps = () => { admin: WebhookAdmin; kick: () => void; destinations: DestinationPolicy };

export function webhookRoutes(deps: WebhookDeps): AnyRoute[] {
  const status = async (companyId: string) => {
    const { admin: outbox } = deps();
    const s = await outbox.webhookStatus(companyId);
    if (!s) throw new FaceError("NOT_FOUND", `company ${JSON.stringify(companyId)} has no webhook`);
    return s;
  };
  return [
    route({
      method: "PUT",
      path: "/v1/companies/:company/webhook",
      operationId: "put_webhook",
      summary:
        "Set the company's webhook: every event is POSTed to `url` as JSON, signed with `secret` (Facegate-Signature: t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">, and the Standard Webhooks headers webhook-id, webhook-timestamp, webhook-signature); a secret is generated and returned once when omitted",
      tag: "webhooks",
      scope: WEBHOOK_SCOPE,
      body: { schema: WebhookPutBody, kinds: ["json"] },
      ok: { status: 200, schema: WebhookBody, description: "the webhook's status (with `secret` when it was generated)" },
      errors: ["COMPANY_NOT_FOUND"],
      async run({ api, params, body, opts }) {
        await requireCompany(api, params.company, opts);
        // Standard Webhooks' convention: whsec_ + base64 of the key bytes (its verifiers decode it).
        const generated = body.secret === undefined ? `whsec_${randomBytes(24).toString("base64")}` : undefined;
        if (body.secret?.startsWith("whsec_") && !isStandardSecret(body.secret)) {
          throw new FaceError("INVALID_ARGUMENT", "secret: a whsec_ secret is whsec_ + base64 of at least 16 bytes (the Standard Webhooks convention); any other secret is used as its bytes");
        }
        const checked = WebhookConfigSchema.safeParse({ url: body.url, secret: body.secret ?? generated });
        if (!checked.success) throw new FaceError("INVALID_ARGUMENT", describeIssues(checked.error));
        // Not loopback, private, link-local or metadata (after DNS; checked again at each delivery).
        await deps().destinations.check(checked.data.url);
        await deps().admin.putWebhook(params.company, checked.data);
        return { body: webhookToWire(await status(params.company), generated) };
      },
    }),
    route({
      method: "GET",
      path: "/v1/companies/:company/webhook",
      operationId: "get_webhook",
      summary: "The company's webhook: URL, pending deliveries, dead letters, last error and last success (never the secret)",
      tag: "webhooks",
      scope: WEBHOOK_SCOPE,
      ok: { status: 200, schema: WebhookBody, description: "status" },
      errors: ["NOT_FOUND"],
      async run({ params }) {
        return { body: webhookToWire(await status(params.company)) };
      },
    }),
    route({
      method: "DELETE",
      path: "/v1/companies/:company/webhook",
      operationId: "delete_webhook",
      summary: "Remove the company's webhook and drop its undelivered events (the events stay in the log)",
      tag: "webhooks",
      scope: WEBHOOK_SCOPE,
      ok: { status: 200, schema: DeletedBody, description: "`deleted` is false when there was none" },
      errors: [],
      async run({ params }) {
        return { body: { deleted: await deps().admin.deleteWebhook(params.company) } };
      },
    }),
    route({
      method: "POST",
      path: "/v1/companies/:company/webhook/retry",
      operationId: "retry_webhook",
      summary: "Put the dead letters back in the queue (after the receiver was fixed)",
      tag: "webhooks",
      scope: WEBHOOK_SCOPE,
      ok: { status: 200, schema: RequeuedBody, description: "how many were re-queued" },
      errors: ["NOT_FOUND"],
      async run({ params }) {
        await status(params.company);
        const { admin, kick } = deps();
        const requeued = await admin.requeueDead(params.company);
        kick();
        return { body: { requeued } };
      },
    }),
  ];
}

async function requireCompany(api: FaceApi, companyId: string, opts: { minRevision?: number }): Promise<void> {
  await api.listUsers({ companyId, limit: 1 }, opts); // COMPANY_NOT_FOUND when unknown
}
