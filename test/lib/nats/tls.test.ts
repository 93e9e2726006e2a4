/**
 * TLS and credentials against a real nats-server: a throwaway CA, server and client certificates
 * made with `openssl` at test time; a server that requires TLS and verifies client certificates
 * (JetStream on); a server with nkey users; a server in operator mode (JWTs made here) for .creds.
 * Every entry point's connection goes through `connectionOptions(config)`: the worker
 * (startFaceWorker, env), the gateway's FaceClient.connect (env or options) and the kiosk event sink.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, nkeys } from "@nats-io/transport-node";
import { type FaceError, type IdentifiedEvent, UnavailableError } from "../../../lib/core/internal.ts";
import { createEngine, type FaceEngine } from "../../../lib/engine/mod.ts";
import { FaceClient } from "../../../lib/nats/client.ts";
import { connectionOptions, fileAuthenticator, loadNatsConfig, tlsOptions } from "../../../lib/nats/config.ts";
import { LazyNatsEventSink } from "../../../server/kiosk/events.ts";
import { startFaceWorker, type RunningWorker } from "../../../server/compose/worker.ts";
import { faceApiSample } from "../../helpers/datasets.ts";
import { startTestNatsServer, type NatsServer } from "../../helpers/nats-server.ts";
import { describeWithTools, toolPath } from "../../helpers/tools.ts";

let dir: string;
const f = (name: string) => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync(toolPath("openssl") ?? "openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** CA `name` (key + self-signed cert). */
function makeCa(name: string): void {
  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
    "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.pem`);
}

/** A leaf certificate `name` signed by CA `ca`, with the given extensions (SAN, usage). */
function makeLeaf(name: string, ca: string, ext: string): void {
  writeFileSync(f(`${name}.ext`), ext);
  openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", `/CN=${name}`,
    "-keyout", `${name}.key`, "-out", `${name}.csr`);
  openssl("x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial",
    "-days", "2", "-extfile", `${name}.ext`, "-out", `${name}.pem`);
}

async function rejectsUnavailable(p: Promise<unknown>): Promise<FaceError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(UnavailableError);
    return e as FaceError;
  }
  throw new Error("expected UnavailableError, got a connection");
}

// ---------------------------------------------------------------- JWTs for operator mode (creds)

type KeyPair = ReturnType<typeof nkeys.createAccount>;

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

/** A NATS v2 JWT signed by `issuer` (ed25519-nkey); the server checks the signature chain. */
function jwt(issuer: KeyPair, sub: string, name: string, nats: Record<string, unknown>): string {
  const header = b64url(new TextEncoder().encode(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" })));
  const claims = { jti: crypto.randomUUID().replaceAll("-", "").toUpperCase(), iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub, nats: { version: 2, ...nats } };
  const payload = b64url(new TextEncoder().encode(JSON.stringify(claims)));
  const sig = b64url(issuer.sign(new TextEncoder().encode(`${header}.${payload}`)));
  return `${header}.${payload}.${sig}`;
}

function credsFile(userJwt: string, seed: Uint8Array): string {
  return [
    "-----BEGIN NATS USER JWT-----",
    userJwt,
    "------END NATS USER JWT------",
    "",
    "************************* IMPORTANT *************************",
    "NKEY Seed printed below can be used to sign and prove identity.",
    "",
    "-----BEGIN USER NKEY SEED-----",
    new TextDecoder().decode(seed),
    "------END USER NKEY SEED------",
    "",
  ].join("\n");
}

const USER_LIMITS = { type: "user", pub: {}, sub: {}, subs: -1, data: -1, payload: -1 };

// Certificates for every suite below come from openssl; the server suites also need nats-server.
describeWithTools(["openssl"], "NATS TLS and credentials", () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "facegate-tls-"));
    makeCa("ca");
    makeCa("other-ca");
    makeLeaf("server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    makeLeaf("client", "ca", "extendedKeyUsage=clientAuth\n");
    makeLeaf("stranger", "other-ca", "extendedKeyUsage=clientAuth\n");
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe("config", () => {
    test("TLS and credential variables are read, checked and named in errors", () => {
      const c = loadNatsConfig({ NATS_URL: "tls://127.0.0.1:4222", NATS_TLS_CA_FILE: f("ca.pem"), NATS_TLS_CERT_FILE: f("client.pem"), NATS_TLS_KEY_FILE: f("client.key") });
      expect(c.tlsCaFile).toBe(f("ca.pem"));
      expect(tlsOptions(c)).toEqual({ caFile: f("ca.pem"), certFile: f("client.pem"), keyFile: f("client.key") });
      expect(connectionOptions(c).tls).toEqual({ caFile: f("ca.pem"), certFile: f("client.pem"), keyFile: f("client.key") });
      // tls:// or NATS_TLS_REQUIRED alone: TLS with the system CAs, refused if the server has none.
      expect(tlsOptions(loadNatsConfig({ NATS_URL: "tls://h:4222" }))).toEqual({});
      expect(tlsOptions(loadNatsConfig({ NATS_TLS_REQUIRED: "true" }))).toEqual({});
      expect(tlsOptions(loadNatsConfig({ NATS_TLS_REQUIRED: "false" }))).toBeUndefined();
      expect("tls" in connectionOptions(loadNatsConfig({}))).toBe(false);

      expect(() => loadNatsConfig({ NATS_TLS_CA_FILE: f("missing.pem") })).toThrow(/NATS_TLS_CA_FILE: cannot read .*missing\.pem \(ENOENT\)/);
      expect(() => loadNatsConfig({ NATS_TLS_CERT_FILE: f("client.pem") })).toThrow(/NATS_TLS_KEY_FILE: .*both or neither/);
      expect(() => loadNatsConfig({ NATS_TLS_KEY_FILE: f("client.key") })).toThrow(/NATS_TLS_CERT_FILE: .*both or neither/);
      expect(() => loadNatsConfig({ NATS_TLS_REQUIRED: "maybe" })).toThrow(/NATS_TLS_REQUIRED/);
      expect(() => loadNatsConfig({ NATS_CREDS_FILE: f("nope.creds") })).toThrow(/NATS_CREDS_FILE: cannot read/);
      expect(() => loadNatsConfig({ NATS_CREDS_FILE: f("ca.pem") })).toThrow(/NATS_CREDS_FILE: .*not a NATS \.creds file/);
      expect(() => loadNatsConfig({ NATS_NKEY_SEED_FILE: f("ca.pem") })).toThrow(/NATS_NKEY_SEED_FILE: .*user nkey seed/);
      try {
        loadNatsConfig({ NATS_TLS_CA_FILE: f("missing.pem") });
      } catch (e) {
        expect((e as FaceError).code).toBe("INVALID_ARGUMENT"); // main/worker exit 2
      }
    });

    test("a creds file becomes a JWT authenticator that signs the server's nonce with the file's seed", () => {
      const account = nkeys.createAccount();
      const user = nkeys.createUser();
      const userJwt = jwt(account, user.getPublicKey(), "u", USER_LIMITS);
      writeFileSync(f("unit.creds"), credsFile(userJwt, user.getSeed()));
      const seedFile = f("unit.nk");
      writeFileSync(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`);
      expect(() => loadNatsConfig({ NATS_CREDS_FILE: f("unit.creds"), NATS_NKEY_SEED_FILE: seedFile })).toThrow(/one authentication method/);
      expect(() => loadNatsConfig({ NATS_CREDS_FILE: f("unit.creds"), NATS_TOKEN: "t" })).toThrow(/NATS_CREDS_FILE \+ NATS_TOKEN/);

      const auth = fileAuthenticator(loadNatsConfig({ NATS_CREDS_FILE: f("unit.creds") }))!("nonce-1") as { jwt: string; nkey: string; sig: string };
      expect(auth.jwt).toBe(userJwt);
      expect(auth.nkey).toBe(user.getPublicKey());
      expect(nkeys.fromPublic(user.getPublicKey()).verify(new TextEncoder().encode("nonce-1"), Buffer.from(auth.sig, "base64url"))).toBe(true);
      const nk = fileAuthenticator(loadNatsConfig({ NATS_NKEY_SEED_FILE: seedFile }))!("n") as { nkey: string };
      expect(nk.nkey).toBe(user.getPublicKey());
    });
  });

  describeWithTools(["nats-server"], "mutual TLS (server verifies client certificates, JetStream on)", () => {
    let server: NatsServer;
    let engine: FaceEngine;
    let worker: RunningWorker | undefined;
    let tlsEnv: Record<string, string>;

    beforeAll(async () => {
      server = await startTestNatsServer({
        extraConfig: `tls { cert_file: ${JSON.stringify(f("server.pem"))}, key_file: ${JSON.stringify(f("server.key"))}, ca_file: ${JSON.stringify(f("ca.pem"))}, verify: true, timeout: 2 }`,
      });
      tlsEnv = {
        NATS_URL: `tls://127.0.0.1:${server.port}`,
        NATS_TLS_CA_FILE: f("ca.pem"),
        NATS_TLS_CERT_FILE: f("client.pem"),
        NATS_TLS_KEY_FILE: f("client.key"),
      };
      engine = await createEngine();
    }, 60_000);

    afterAll(async () => {
      await worker?.close().catch(() => undefined);
      await engine?.dispose();
      await server?.cleanup();
    });

    test("worker (env), gateway client (env and options) and kiosk event sink all connect over mutual TLS", async () => {
      // Worker: its own connection from the environment, KV bucket over TLS, real engine.
      worker = await startFaceWorker({ engine, env: tlsEnv, service: { workerId: "tls-w1" }, log: () => {} });
      const info = worker.nc.info;
      expect(info?.tls_required || info?.tls_available).toBe(true);

      // Gateway path: servers given, the rest from the environment (what server/main.ts does).
      const gateway = await FaceClient.connect({ servers: `nats://127.0.0.1:${server.port}`, env: tlsEnv, name: "gw", retries: 0 });
      try {
        await gateway.createCompany({ companyId: "acme" });
        const faces = await gateway.detectFaces({ image: faceApiSample(1) });
        expect(faces.faces.length).toBeGreaterThan(0);
        expect(gateway.lastWorker).toBe("tls-w1");
        const who = { companyId: "acme", userId: "nobody" };
        expect(await gateway.getUserFaces(who)).toEqual(await worker.service.getUserFaces(who));
        expect(worker.service.gallery.revision).toBeGreaterThan(0); // the createCompany went through the KV bucket
      } finally {
        await gateway.close();
      }

      // Library path: explicit options, no environment.
      const lib = await FaceClient.connect({
        servers: `nats://127.0.0.1:${server.port}`,
        tlsCaFile: f("ca.pem"),
        tlsCertFile: f("client.pem"),
        tlsKeyFile: f("client.key"),
        env: {},
      });
      try {
        expect((await lib.healthCheck()).workerInfo.workerId).toBe("tls-w1");
      } finally {
        await lib.close();
      }

      // Kiosk events sink (gateway's own connection).
      const sink = new LazyNatsEventSink({ ...tlsEnv, NATS_EVENTS_STREAM: "TLS_EVENTS" });
      const event: IdentifiedEvent = { type: "identified", companyId: "acme", userId: "jane", confidence: 0.7, bbox: null, at: "2024-01-01T00:00:00.000Z", sessionId: "s1" };
      try {
        await sink.publish(event);
      } finally {
        await sink.close();
      }
      const check = await connect({ ...connectionOptions(loadNatsConfig(tlsEnv)), maxReconnectAttempts: 0 });
      try {
        expect((await (await jetstreamManager(check)).streams.info("TLS_EVENTS")).state.messages).toBe(1);
      } finally {
        await check.close();
      }
    }, 60_000);

    test("wrong CA, no client certificate, a client certificate from another CA, or no TLS settings: UnavailableError, no hang", async () => {
      const url = `nats://127.0.0.1:${server.port}`;
      const cases: Record<string, string>[] = [
        { NATS_TLS_CA_FILE: f("other-ca.pem"), NATS_TLS_CERT_FILE: f("client.pem"), NATS_TLS_KEY_FILE: f("client.key") },
        { NATS_TLS_CA_FILE: f("ca.pem") },
        { NATS_TLS_CA_FILE: f("ca.pem"), NATS_TLS_CERT_FILE: f("stranger.pem"), NATS_TLS_KEY_FILE: f("stranger.key") },
        {},
      ];
      for (const env of cases) {
        // A refused client certificate shows only as a connect timeout (TLS 1.3: the server's alert
        // comes after the client's handshake is done), so keep it short here.
        const err = await rejectsUnavailable(FaceClient.connect({ servers: url, env: { ...env, NATS_CONNECT_TIMEOUT_MS: "1500" } }));
        expect(err.message).toContain("cannot connect to NATS");
      }
    }, 20_000);
  });

  describeWithTools(["nats-server"], "nkey users", () => {
    let server: NatsServer;
    const user = nkeys.createUser();

    beforeAll(async () => {
      server = await startTestNatsServer({ extraConfig: `authorization { users = [ { nkey: ${user.getPublicKey()} } ] }` });
      writeFileSync(f("user.nk"), new TextDecoder().decode(user.getSeed()));
      writeFileSync(f("other.nk"), new TextDecoder().decode(nkeys.createUser().getSeed()));
    });
    afterAll(async () => {
      await server?.cleanup();
    });

    test("NATS_NKEY_SEED_FILE signs in; another seed or none is refused", async () => {
      const ok = await FaceClient.connect({ servers: server.url, env: { NATS_NKEY_SEED_FILE: f("user.nk") } });
      try {
        await ok.nc.flush();
        expect(ok.nc.isClosed()).toBe(false);
      } finally {
        await ok.close();
      }
      await rejectsUnavailable(FaceClient.connect({ servers: server.url, env: { NATS_NKEY_SEED_FILE: f("other.nk") } }));
      await rejectsUnavailable(FaceClient.connect({ servers: server.url, env: {} }));
    }, 30_000);
  });

  describeWithTools(["nats-server"], "operator mode (.creds)", () => {
    let server: NatsServer;

    beforeAll(async () => {
      const operator = nkeys.createOperator();
      const system = nkeys.createAccount(); // JetStream (on in every test server) needs a system account
      const account = nkeys.createAccount();
      const user = nkeys.createUser();
      const operatorJwt = jwt(operator, operator.getPublicKey(), "op", { type: "operator" });
      const systemJwt = jwt(operator, system.getPublicKey(), "SYS", { type: "account", limits: { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 } });
      const accountJwt = jwt(operator, account.getPublicKey(), "acc", {
        type: "account",
        limits: { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 },
      });
      writeFileSync(f("user.creds"), credsFile(jwt(account, user.getPublicKey(), "u", USER_LIMITS), user.getSeed()));
      // A user of an account the server does not know.
      const stranger = nkeys.createUser();
      writeFileSync(f("stranger.creds"), credsFile(jwt(nkeys.createAccount(), stranger.getPublicKey(), "s", USER_LIMITS), stranger.getSeed()));
      server = await startTestNatsServer({
        extraConfig: [
          `operator: ${operatorJwt}`,
          `system_account: ${system.getPublicKey()}`,
          "resolver: MEMORY",
          `resolver_preload: { ${system.getPublicKey()}: ${systemJwt}, ${account.getPublicKey()}: ${accountJwt} }`,
        ].join("\n"),
      });
    });
    afterAll(async () => {
      await server?.cleanup();
    });

    test("NATS_CREDS_FILE signs in with the user JWT; an unknown account or no creds is refused", async () => {
      const ok = await FaceClient.connect({ servers: server.url, env: { NATS_CREDS_FILE: f("user.creds") } });
      try {
        const sub = ok.nc.subscribe("echo", { callback: (_e, m) => void m.respond(m.data) });
        const reply = await ok.nc.request("echo", "hi", { timeout: 2000 });
        expect(reply.string()).toBe("hi");
        sub.unsubscribe();
      } finally {
        await ok.close();
      }
      await rejectsUnavailable(FaceClient.connect({ servers: server.url, env: { NATS_CREDS_FILE: f("stranger.creds") } }));
      await rejectsUnavailable(FaceClient.connect({ servers: server.url, env: {} }));
    }, 30_000);
  });
});
