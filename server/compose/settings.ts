/**
 * Every environment variable of every part, with its default and one line of meaning: what
 * `.env.example` is generated from (`bun run facegate env-example`). Defaults are read from each
 * part's own config (its default object or its zod schema), so a changed default changes the file.
 *
 * test/server/compose/settings.test.ts fails when a variable is read in code but missing here, or
 * listed here but read nowhere, and when `.env.example` is not what this catalog generates.
 */
import { parseEngineConfig } from "../../lib/engine/mod.ts";
import { DEFAULT_MARKER_RETENTION_MS, parseNatsConfig } from "../../lib/nats/mod.ts";
import { parseServiceConfig } from "../../lib/service/mod.ts";
import { DEFAULT_SERVER_CONFIG, GATEWAY_MAX_INFLIGHT } from "../config/server.ts";
import { DEFAULT_INTEGRATION_CONFIG } from "../integration/config.ts";
import { loadKioskConfig } from "../kiosk/config.ts";
import { loadMqttConfig } from "../integration/mqtt/mod.ts";

export interface Setting {
  name: string;
  /** As written in the file; "" when unset by default (the variable is then absent). */
  default: string;
  meaning: string;
}

export interface SettingsPart {
  title: string;
  /** Which processes read it. */
  readBy: string;
  settings: Setting[];
}

const show = (value: unknown): string => {
  if (value === undefined || value === null) return "";
  if (Array.isArray(value)) return value.join(",");
  return String(value);
};

export function settingsCatalog(): SettingsPart[] {
  const server = DEFAULT_SERVER_CONFIG;
  const events = DEFAULT_INTEGRATION_CONFIG;
  const kiosk = loadKioskConfig({});
  const mqtt = loadMqttConfig({ MQTT_URL: "mqtt://localhost:1883" })!;
  const nats = parseNatsConfig({});
  const service = parseServiceConfig({});
  const engine = parseEngineConfig({});
  const s = (name: string, value: unknown, meaning: string): Setting => ({ name, default: show(value), meaning });
  return [
    {
      title: "HTTP server",
      readBy: "bun run start (embedded server and NATS gateway)",
      settings: [
        s("PORT", server.port, "port to listen on (0: any free port, logged in the `listening` line)"),
        s("HOST", "", "address to listen on; default 127.0.0.1 without API keys, 0.0.0.0 with keys"),
        s("AUTH_MODE", "", "keys (X-API-Key required) or open (no keys, every caller is admin); default: keys when keys are configured"),
        s("API_KEYS", "", 'JSON map of keys: {"<key>": ["*"]} admin, {"<key>": ["acme"]}, or {"<key>": {"companies": [...], "scopes": [...]}}'),
        s("API_KEYS_FILE", "", "a file holding the API_KEYS JSON (use one of the two)"),
        s("TLS_CERT_FILE", "", "PEM certificate (chain) for HTTPS and wss, served by Bun; reloaded on change or SIGHUP (docs/tls.md)"),
        s("TLS_KEY_FILE", "", "PEM private key of TLS_CERT_FILE (both or neither)"),
        s("LOG_LEVEL", server.logLevel, "debug, info, warn, error or silent (JSON lines on stdout)"),
        s("MAX_BODY_BYTES", server.maxBodyBytes, "largest request body (e.g. 10mb); larger ones get 413"),
        s("BODY_BUDGET_BYTES", server.bodyBudgetBytes, "request bodies held at once, all requests together (default: 64 MiB or 4 x MAX_BODY_BYTES)"),
        s("RATE_LIMIT_PER_MINUTE", server.rateLimitPerMinute, "requests per minute per key (per client address in open mode); 0: no limit"),
        s("RATE_LIMIT_BURST", server.rateLimitBurst, "requests a key may send at once before the per-minute rate applies"),
        s("AUTH_FAIL_LIMIT", server.authFailLimit, "failed keys per client address before back-off (429, doubling up to 5 min); 0: off"),
        s("THRESHOLD_FLOOR", server.thresholdFloor, "non-admin keys may not ask for a recognition threshold below this"),
        s("TRUST_PROXY", "", "whose X-Forwarded-For the per-address limits believe: empty none, a hop count (1), or proxy addresses/CIDRs (docs/tls.md)"),
        s("ALLOWED_HOSTS", "", "Host header allow-list, comma-separated (DNS rebinding); empty: localhost and IP literals in open mode, no check with keys"),
        s("CORS_ORIGINS", "", "allowed CORS origins, comma-separated; * for any; empty: no CORS headers"),
        s("REQUEST_TIMEOUT_MS", server.requestTimeoutMs, "per request; past it 503 TIMEOUT; 0: none"),
        s("MAX_BATCH_PAIRS", server.maxBatchPairs, "pairs in one POST /v1/verify/batch"),
        s("MAX_INFLIGHT", "", `engine-bound requests running at once; default one per core (gateway mode: ${GATEWAY_MAX_INFLIGHT}); 0: no admission control`),
        s("MAX_QUEUE", server.maxQueue, "engine-bound requests waiting for a slot; beyond it 503 with Retry-After"),
        s("KIOSK_SHARE", server.kioskShare, "kiosk frames start only while fewer than this part of MAX_INFLIGHT (at least 1) is in flight and no request waits; else they are shed, never queued"),
        s("NATS_URL", "", "NATS server URL(s), comma-separated: set, the server is a gateway to NATS workers (and workers connect here)"),
      ],
    },
    {
      title: "Event log and webhooks",
      readBy: "bun run start",
      settings: [
        s("EVENTS_RETENTION_DAYS", events.retentionDays, "events older than this are deleted (0: kept forever); NATS mode: the stream's max age when set"),
        s("WEBHOOK_RETRY_BASE_MS", events.retryBaseMs, "first retry delay of a failed delivery; doubled per attempt, with jitter"),
        s("WEBHOOK_RETRY_MAX_MS", events.retryMaxMs, "longest delay between two attempts"),
        s("WEBHOOK_RETRY_HOURS", events.retryHours, "an event undelivered this long after it was recorded becomes a dead letter (0: one attempt)"),
        s("WEBHOOK_TIMEOUT_MS", events.timeoutMs, "per delivery request"),
        s("WEBHOOK_CONCURRENCY", events.concurrency, "delivery requests at once"),
        s("WEBHOOK_ALLOW_PRIVATE", events.webhookAllowPrivate, "true: webhooks may POST to loopback, private, link-local and metadata addresses (refused by default)"),
        s("WEBHOOK_ALLOWED_HOSTS", events.webhookAllowedHosts, "host names, *.domains, addresses or CIDR ranges webhooks may reach although internal, comma-separated"),
        s("NATS_WEBHOOKS_BUCKET", "facegate_webhooks", "NATS mode: the KV bucket of webhook settings and dead letters"),
      ],
    },
    {
      title: "Kiosk WebSocket",
      readBy: "bun run start",
      settings: [
        s("KIOSK_CONFIRM_FRAMES", kiosk.confirmFrames, "frames of a face that must match the same person before `identified`"),
        s("KIOSK_WINDOW_FRAMES", kiosk.windowFrames, "vote window; that many frames without a match: unknown"),
        s("KIOSK_COOLDOWN_MS", kiosk.cooldownMs, "no second identification of the same person at the same kiosk within this time"),
        s("KIOSK_THRESHOLD", "", "cosine threshold for kiosk recognitions (0.3-0.99); default: the company's operating point"),
        s("KIOSK_MAX_FACES", kiosk.maxFaces, "faces per frame reported and tracked"),
        s("KIOSK_MAX_FRAME_BYTES", kiosk.maxFrameBytes, "larger frames are refused (the session stays open)"),
        s("KIOSK_IDLE_TIMEOUT_MS", kiosk.idleTimeoutMs, "a session without a message this long is closed (4408)"),
        s("KIOSK_FRAME_TIMEOUT_MS", kiosk.frameTimeoutMs, "bound on one frame's recognition"),
        s("KIOSK_MAX_SESSIONS", kiosk.maxSessions, "authenticated sessions at once per server (more: closed with 1013)"),
        s("KIOSK_MAX_SESSIONS_PER_ADDRESS", kiosk.maxSessionsPerAddress, "sessions at once from one client address"),
        s("KIOSK_AGGREGATE", kiosk.aggregate, "decide each face on the weighted mean of its recent frames' embeddings"),
        s("KIOSK_LIVENESS", kiosk.liveness, "off, passive or challenge (sessions may raise it, never lower it)"),
        s("KIOSK_LIVENESS_EVIDENCE_FRAMES", kiosk.livenessEvidenceFrames, "frames with signs of a live face needed before `identified`"),
        s("KIOSK_LIVENESS_WINDOW_MS", kiosk.livenessWindowMs, "a face without them this long is `not_live`"),
        s("KIOSK_CHALLENGE_ACTIONS", kiosk.challengeActions, "what challenge mode asks for: turn_left, turn_right, blink, smile"),
        s("KIOSK_CHALLENGE_TIMEOUT_MS", kiosk.challengeTimeoutMs, "time to perform a challenge"),
        s("KIOSK_CHALLENGE_COMPANIES", kiosk.challengeCompanies, "companies whose kiosks always run challenge mode, comma-separated"),
      ],
    },
    {
      title: "Site: stranger events, MQTT, the door (docs/integration.md)",
      readBy: "bun run start",
      settings: [
        s("STRANGER_EVENTS", kiosk.strangerEvents ? "on" : "off", "on: a face that stays unknown for the decision window records one `unknown` event per track, every company"),
        s("STRANGER_EVENTS_COMPANIES", kiosk.strangerCompanies, "or only these companies, comma-separated"),
        s("STRANGER_EVENTS_PER_MINUTE", kiosk.strangerPerMinute, "at most this many unknown events per kiosk in any minute"),
        s("MQTT_URL", "", "mqtt://host:1883 or mqtts://host:8883: publish identified / unknown / not_live per company and kiosk, Home Assistant discovery"),
        s("MQTT_USERNAME", "", "broker user"),
        s("MQTT_PASSWORD", "", "broker password"),
        s("MQTT_CA_FILE", "", "PEM of the CA that signed the broker's certificate (mqtts://)"),
        s("MQTT_TLS_INSECURE", "off", "on: do not verify the broker's certificate (tests only)"),
        s("MQTT_TOPIC_PREFIX", mqtt.topicPrefix, "first topic level: <prefix>/<company>/<kiosk>/<type>"),
        s("MQTT_CLIENT_ID", "", "the persistent session's id, one per server; default facegate-<hostname>"),
        s("MQTT_DISCOVERY", mqtt.discovery ? "on" : "off", "Home Assistant MQTT discovery: each kiosk a device (Last person sensor, Door lock)"),
        s("MQTT_DISCOVERY_PREFIX", mqtt.discoveryPrefix, "Home Assistant's discovery prefix"),
        s("MQTT_MAX_QUEUE", mqtt.maxQueue, "messages held while the broker is away; beyond, new ones are dropped (counted)"),
        s("DOORS", "", 'JSON list of door rules: [{"company": "acme", "kiosk": "front", "http": {"url": "...", "secret": "whsec_..."}}] or {"mqtt": {"topic": "..."}}'),
        s("DOORS_FILE", "", "a file holding the DOORS JSON (use one of the two)"),
      ],
    },
    {
      title: "Recognition service and gallery",
      readBy: "bun run start (embedded) and bun run worker",
      settings: [
        s("DATA_DIR", service.dataDir, "where the SQLite database lives"),
        s("STORE", service.store, "sqlite (durable) or memory (nothing survives a restart)"),
        s("SQLITE_SYNCHRONOUS", service.sqliteSynchronous, "FULL (survives power loss) or NORMAL (survives process crashes)"),
        s("FACE_RECOGNITION_THRESHOLD", "", "a fixed cosine threshold for every company (the old system's setting); unset: from FACE_FPIR_TARGET"),
        s("FACE_FPIR_TARGET", service.fpirTarget, "stranger presentations a company may accept as somebody; each company's threshold follows from it"),
        s("FACE_USER_SCORE", service.userScore, "mean (a person's template) or max (their best face)"),
        s("FACE_CALIBRATION_FILE", "", "score calibration (default: the one shipped for the engine's model)"),
        s("RECOGNIZE_MAX_FACES", service.recognizeMaxFaces, "faces per image recognition embeds"),
        s("ENROLL_QUALITY", service.enrollQuality, "the enrollment quality gate: enforce or off"),
        s("ENROLL_MIN_FACE_SIZE", service.enrollMinFaceSize, "shorter side of the enrolled face box, pixels"),
        s("ENROLL_MIN_SHARPNESS", service.enrollMinSharpness, "variance of the Laplacian of the face at 64x64 grey"),
        s("ENROLL_MAX_YAW", service.enrollMaxYaw, "degrees, from the landmarks"),
        s("ENROLL_MAX_PITCH", service.enrollMaxPitch, "degrees, from the landmarks"),
        s("ENROLL_MAX_ROLL", service.enrollMaxRoll, "degrees, from the landmarks"),
        s("ENROLL_MIN_DETECTION_SCORE", service.enrollMinDetectionScore, "detector confidence an enrolled face needs"),
        s("ENROLL_MAX_SECOND_FACE_RATIO", service.enrollMaxSecondFaceRatio, "second-largest face area / the enrolled face's (1: no check)"),
        s("ENROLL_MULTIPLE_FACES", service.enrollMultipleFaces, "several faces in an enrollment image: largest, or reject"),
        s("WORKER_ID", "", "reported by stats and health; default <hostname>-<pid>"),
        s("DATA_SOURCE", service.dataSource, "initial data for an empty store at start: NONE, LOCAL_FILE or API"),
        s("DATA_FILE", "", "the initial-data JSON for LOCAL_FILE (default DATA_DIR/initial_db.json)"),
        s("API_URL", "", "GET returns the initial-data JSON (DATA_SOURCE=API)"),
        s("API_TIMEOUT", service.apiTimeout, "seconds for API_URL"),
        s("INITIAL_DATA_MODEL", "", "model id of initial data that names none (old-format files); unset, their vectors are the old system's model"),
        s("SEARCH_THREADS", "", "2: large companies are scanned by two threads; 1: one; default 2 on 2+ cores"),
        s("MIN_REVISION_WAIT_MS", service.minRevisionWaitMs, "how long a call waits for its minRevision"),
        s("IDEMPOTENCY_TTL_MS", service.idempotencyTtlMs, "embedded: how long a write's first answer is kept for retries with its Idempotency-Key"),
        s("IDEMPOTENCY_MAX_KEYS", service.idempotencyMaxKeys, "embedded: Idempotency-Keys kept at most (the oldest forgotten first)"),
      ],
    },
    {
      title: "Face engine",
      readBy: "bun run start (embedded) and bun run worker",
      settings: [
        s("FACE_ENGINE", engine.engine, "onnx or human"),
        s("FACE_EMBEDDERS", engine.embedders.join(","), "the recognizer (fr_feature or mobilefacenet), or two of them for score-level fusion (fr_feature,mobilefacenet)"),
        s("FACE_DETECTION_THRESHOLD", engine.detectionThreshold, "detector score a face needs (0-1)"),
        s("MIN_FACE_SIZE", engine.minFaceSize, "faces narrower or lower than this (original pixels) are dropped"),
        s("ORT_THREADS", engine.ortThreads, "intra-op threads per ONNX session"),
        s("FACE_EXECUTION_PROVIDER", engine.executionProvider, "auto (CUDA when present), cpu or cuda"),
        s("FACE_ENGINE_WORKERS", "", "engine worker threads (0: in the calling thread); default one per core for bun run start, 1 for a worker"),
        s("FACE_ENGINE_TIMEOUT_MS", engine.callTimeoutMs, "with workers: an engine call not answered within this fails and its worker is replaced"),
        s("INSIGHTFACE_DETECTOR", "", "path of an SCRFD-style detector ONNX file (replaces the shipped detector)"),
        s("INSIGHTFACE_RECOGNIZER", "", "path of an ArcFace-style recognizer ONNX file (replaces the shipped recognizer)"),
        s("MAX_IMAGE_BYTES", engine.imageLimits.maxBytes, "encoded image size limit, bytes"),
        s("MAX_IMAGE_PIXELS", engine.imageLimits.maxPixels, "width x height limit, checked on the header before decoding"),
        s("MAX_IMAGE_SIDE", engine.imageLimits.maxDimension, "longest side limit, checked before decoding"),
        s("HUMAN_BACKEND", "", "FACE_ENGINE=human: auto or a tfjs backend"),
        s("HUMAN_DETECTION_THRESHOLD", "", "FACE_ENGINE=human: its detector's score threshold (0-1)"),
        s("FACEGATE_MODELS_DIR", "", "where the model files are (default: models/ in a checkout)"),
      ],
    },
    {
      title: "NATS (workers, gateway, events)",
      readBy: "bun run worker, and bun run start with NATS_URL",
      settings: [
        s("NATS_USER", "", "user name (with NATS_PASS)"),
        s("NATS_PASS", "", "password (with NATS_USER)"),
        s("NATS_TOKEN", "", "token authentication"),
        s("NATS_CREDS_FILE", "", "a .creds file (user JWT + seed), read at every connect"),
        s("NATS_NKEY_SEED_FILE", "", "a file holding a user nkey seed (SU...), read at every connect"),
        s("NATS_TLS_CA_FILE", "", "PEM CA bundle of the NATS servers' certificates (default: the system CAs)"),
        s("NATS_TLS_CERT_FILE", "", "client certificate (mutual TLS), with NATS_TLS_KEY_FILE"),
        s("NATS_TLS_KEY_FILE", "", "client key"),
        s("NATS_TLS_REQUIRED", nats.tlsRequired, "refuse a connection without TLS (implied by tls:// or any NATS_TLS_* file)"),
        s("NATS_CONNECT_TIMEOUT_MS", nats.connectTimeoutMs, "per connection attempt"),
        s("NATS_REQUEST_TIMEOUT_MS", nats.requestTimeoutMs, "the gateway's per-attempt request timeout"),
        s("NATS_RETRIES", nats.retries, "gateway retries of idempotent operations"),
        s("NATS_KV_BUCKET", nats.bucket, "the gallery's JetStream KV bucket"),
        s("NATS_KV_REPLICAS", nats.replicas, "replicas of a new bucket and events stream (1, 3 or 5 in a cluster)"),
        s("NATS_KV_MARKER_RETENTION_MS", DEFAULT_MARKER_RETENTION_MS, "delete markers older than this are purged (0: never)"),
        s("NATS_IDEMPOTENCY_BUCKET", nats.idempotencyBucket, "KV bucket of the writes' Idempotency-Keys (the gallery's replicas)"),
        s("NATS_IDEMPOTENCY_TTL_MS", nats.idempotencyTtlMs, "how long a write's first answer is kept for its retries"),
        s("NATS_EVENTS_STREAM", nats.eventsStream, "the JetStream stream of recognition events"),
        s("NATS_EVENTS_MAX_AGE_S", nats.eventsMaxAgeSeconds, "how long events are kept (0: forever)"),
        s("NATS_SUBJECT_PREFIX", nats.subjectPrefix, "prefix of every subject (several deployments on one NATS)"),
        s("WORKER_CONCURRENCY", nats.concurrency, "requests a worker processes at once"),
        s("WORKER_TIMEOUT_MS", nats.workerTimeoutMs, "a request running longer on a worker is answered TIMEOUT"),
        s("WORKER_DRAIN_TIMEOUT_MS", nats.drainTimeoutMs, "how long a stopping worker waits for its requests"),
        s("FACEGATE_SHARDS", "", "shard list (s1,s2), the same for every process; unset: one shard, the unsharded layout (docs/nats.md \"Shards\")"),
        s("WORKER_SHARDS", "", "the shards a worker serves (default: every shard of FACEGATE_SHARDS)"),
      ],
    },
    {
      title: "Command line and local cluster",
      readBy: "bun run facegate, bun run cluster",
      settings: [
        s("FACEGATE_API_KEY", "", "the key `facegate enroll/recognize --url` sends when --key is not given"),
        s("FACEGATE_DATASETS", "", "the shared datasets folder `facegate calibrate` reads (default ../shared/datasets)"),
        s("NATS_SERVER_BIN", "", "the nats-server program bun run cluster starts (default: nats-server on PATH)"),
      ],
    },
  ];
}

/** The text of `.env.example`. */
export function renderEnvExample(parts: SettingsPart[] = settingsCatalog()): string {
  const lines = [
    "# facegate: every setting of every part, with its default and what it does.",
    "# Generated by `bun run facegate env-example` from the configs (server/compose/settings.ts);",
    "# a test fails when it and the code disagree. Copy it to .env (Bun reads .env at start),",
    "# uncomment what you change. A commented variable takes the default shown; an empty one has none.",
  ];
  for (const part of parts) {
    lines.push("", `# ---- ${part.title} · read by ${part.readBy}`);
    for (const setting of part.settings) {
      lines.push(`# ${setting.meaning}`, `# ${setting.name}=${setting.default}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
