/**
 * Gateway mode (NATS_URL set): every operation goes to NATS workers through FaceClient (with
 * FACEGATE_SHARDS: ShardedFaceClient, one client per shard, routed by company); the event
 * log is the JetStream events stream, webhooks are durable consumers on it shared by every gateway.
 * NATS_USER/NATS_PASS/NATS_TOKEN, NATS_REQUEST_TIMEOUT_MS etc. come from the env.
 */
import { connectFaceApi, loadNatsConfig, NatsEventLog, shardBucket, ShardedFaceClient } from "../../lib/nats/mod.ts";
import { DEFAULT_INTEGRATION_CONFIG, Integration } from "../integration/mod.ts";
import { forgetDeletedCompaniesNats } from "../integration/events/company-deletes-nats.ts";
import { destinationPolicyFor } from "../integration/webhooks/destinations.ts";
import { JetStreamWebhooks } from "../integration/webhooks/jetstream.ts";
import type { ComposeOptions, Composition } from "./composition.ts";

export async function composeGateway(natsUrl: string, { env, integrationConfig, logger, outputs }: ComposeOptions): Promise<Composition> {
  const client = await connectFaceApi({ servers: natsUrl, name: `facegate-gateway-${process.pid}`, env });
  try {
    const nats = loadNatsConfig(env);
    const days = env.EVENTS_RETENTION_DAYS ? integrationConfig?.retentionDays : undefined;
    const log = await NatsEventLog.open({
      nc: client.nc,
      stream: nats.eventsStream,
      subjectPrefix: nats.subjectPrefix,
      maxAgeSeconds: nats.eventsMaxAgeSeconds,
      // in a JetStream cluster the event log is replicated like the gallery (NATS_KV_REPLICAS)
      replicas: nats.replicas,
      ...(days !== undefined ? { enforceMaxAgeSeconds: days * 86_400 } : {}),
    });
    const webhookConfig = { ...DEFAULT_INTEGRATION_CONFIG, ...integrationConfig };
    const destinations = destinationPolicyFor(webhookConfig);
    const webhooks = await JetStreamWebhooks.open({
      destinations,
      nc: client.nc,
      stream: log.stream,
      subjectPrefix: nats.subjectPrefix,
      bucket: env.NATS_WEBHOOKS_BUCKET || undefined,
      replicas: nats.replicas,
      config: webhookConfig,
      log: (level, msg, fields) => logger[level](msg, fields),
    });
    const integration = new Integration({
      log,
      webhooks: { admin: webhooks, runner: webhooks },
      destinations,
      outputs,
      // retention is the stream's max_age (NATS_EVENTS_MAX_AGE_S, or EVENTS_RETENTION_DAYS when set)
      config: { ...integrationConfig, retentionDays: 0 },
      logger: (level, msg, fields) => logger[level](msg, fields),
    });
    const warnDelete = (msg: string, fields?: Record<string, unknown>) => logger.warn(msg, fields);
    if (client instanceof ShardedFaceClient) {
      // a bucket per shard; a move's cleanup of the old shard is not a company delete
      for (const shard of client.shards) {
        const movedAway = async (companyId: string) => (await client.map.fresh(companyId)).shard !== shard;
        await forgetDeletedCompaniesNats(client.nc, shardBucket(shard, nats.bucket), integration, warnDelete, movedAway);
      }
    } else {
      await forgetDeletedCompaniesNats(client.nc, nats.bucket, integration, warnDelete);
    }
    return { api: client, integration };
  } catch (error) {
    await client.close().catch(() => undefined);
    throw error;
  }
}
