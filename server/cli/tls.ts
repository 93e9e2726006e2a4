/**
 * `facegate tls init --name kiosk-gw.lan --ip 192.168.1.20`: a local certificate authority and a
 * server certificate for LAN names and addresses, made with openssl, so kiosks on the LAN get a
 * secure context (browsers give `getUserMedia` only to https or localhost pages).
 *
 * The CA (ca.pem, ca.key) is made once and kept: running the command again (new names, or a renewal
 * before the 397 days run out) issues a new server certificate from the same CA, so kiosks that trust
 * it keep trusting it, and a running server picks the new files up by itself (server/http/tls.ts).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createHash, X509Certificate, createPublicKey } from "node:crypto";

export interface TlsInitOptions {
  dir: string;
  names: string[];
  ips: string[];
  /** Server certificate validity (default 397: what Apple and browsers accept for a server certificate). */
  days?: number;
  openssl?: string;
}

export interface TlsInitResult {
  caFile: string;
  certFile: string;
  keyFile: string;
  caCreated: boolean;
  /** SHA-256 of the CA certificate (what a person compares when installing it). */
  caFingerprint256: string;
  /** base64 SHA-256 of the server key's SubjectPublicKeyInfo (Chromium's --ignore-certificate-errors-spki-list, HPKP-style pins). */
  serverSpki: string;
}

export class TlsInitError extends Error {}

const NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;

export function tlsInit(options: TlsInitOptions): TlsInitResult {
  const { names, ips } = options;
  if (names.length === 0 && ips.length === 0) throw new TlsInitError("give at least one --name (a LAN host name) or --ip (the address kiosks use)");
  for (const n of names) if (!NAME.test(n) || isIP(n) !== 0) throw new TlsInitError(`--name ${JSON.stringify(n)} is not a host name (use --ip for addresses)`);
  for (const ip of ips) if (isIP(ip) === 0) throw new TlsInitError(`--ip ${JSON.stringify(ip)} is not an IP address`);
  const days = options.days ?? 397;
  if (!Number.isInteger(days) || days < 1 || days > 825) throw new TlsInitError("--days must be a whole number from 1 to 825 (Apple refuses longer server certificates)");
  const dir = resolve(options.dir);
  mkdirSync(dir, { recursive: true });
  const caFile = join(dir, "ca.pem");
  const caKey = join(dir, "ca.key");
  const certFile = join(dir, "server.pem");
  const keyFile = join(dir, "server.key");
  const openssl = options.openssl ?? "openssl";
  const work = mkdtempSync(join(tmpdir(), "facegate-tls-"));
  const run = (args: string[]) => {
    const r = Bun.spawnSync([openssl, ...args], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new TlsInitError(`openssl ${args[0]} failed: ${r.stderr.toString().trim()}`);
  };
  try {
    const caCreated = !(existsSync(caFile) && existsSync(caKey));
    if (caCreated) {
      const host = names[0] ?? ips[0];
      writeFileSync(
        join(work, "ca.cnf"),
        [
          "[req]",
          "distinguished_name = dn",
          "prompt = no",
          "x509_extensions = v3_ca",
          "[dn]",
          `CN = facegate local CA (${host})`,
          "O = facegate",
          "[v3_ca]",
          "basicConstraints = critical, CA:TRUE, pathlen:0",
          "keyUsage = critical, keyCertSign, cRLSign",
          "subjectKeyIdentifier = hash",
          "",
        ].join("\n"),
      );
      run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(work, "ca.key"), "-out", join(work, "ca.pem"), "-days", "3650", "-config", join(work, "ca.cnf")]);
      renameSync(join(work, "ca.key"), caKey);
      chmodSync(caKey, 0o600);
      renameSync(join(work, "ca.pem"), caFile);
    }
    const san = [...names.map((n) => `DNS:${n}`), ...ips.map((ip) => `IP:${ip}`)].join(", ");
    writeFileSync(
      join(work, "server.cnf"),
      [
        "[req]",
        "distinguished_name = dn",
        "prompt = no",
        "[dn]",
        `CN = ${names[0] ?? ips[0]}`,
        "[v3_server]",
        "basicConstraints = critical, CA:FALSE",
        "keyUsage = critical, digitalSignature",
        "extendedKeyUsage = serverAuth",
        `subjectAltName = ${san}`,
        "subjectKeyIdentifier = hash",
        "authorityKeyIdentifier = keyid",
        "",
      ].join("\n"),
    );
    run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(work, "server.key"), "-out", join(work, "server.csr"), "-config", join(work, "server.cnf")]);
    run(["x509", "-req", "-in", join(work, "server.csr"), "-CA", caFile, "-CAkey", caKey, "-CAcreateserial", "-out", join(work, "server.pem"), "-days", String(days), "-sha256", "-extfile", join(work, "server.cnf"), "-extensions", "v3_server"]);
    chmodSync(join(work, "server.key"), 0o600);
    // Key first, then the certificate: a server watching the files reloads on the second rename, when
    // both are new (a reload between the two sees a mismatched pair, refuses it and keeps the old one).
    renameSync(join(work, "server.key"), keyFile);
    renameSync(join(work, "server.pem"), certFile);
    const ca = new X509Certificate(readFileSync(caFile));
    const spki = createPublicKey(readFileSync(keyFile)).export({ type: "spki", format: "der" });
    return {
      caFile,
      certFile,
      keyFile,
      caCreated,
      caFingerprint256: ca.fingerprint256,
      serverSpki: createHash("sha256").update(spki).digest("base64"),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export const TLS_HELP = `usage: bun run facegate tls init --name <lan-name> [--name ...] [--ip <address> ...] [--dir DIR] [--days N]

Makes a local certificate authority (once: DIR/ca.pem, DIR/ca.key) and a server certificate for the
given names and addresses (DIR/server.pem, DIR/server.key), with openssl. Kiosk browsers need https
for the camera (getUserMedia) on any address but localhost. Install DIR/ca.pem on each kiosk as a
trusted authority (docs/deploy.md, "HTTPS for kiosks"), then start the server with
TLS_CERT_FILE=DIR/server.pem TLS_KEY_FILE=DIR/server.key. Run it again to add names or renew: the CA
is kept, a running server reloads the new certificate by itself (or on SIGHUP). Keep ca.key offline
once the certificates you need are made: whoever has it can make certificates your kiosks trust.

options:
  --name NAME   a DNS name kiosks use (repeat for more)
  --ip ADDR     an IP address kiosks use (repeat for more)
  --dir DIR     where the files go (default ./tls)
  --days N      server certificate validity (default 397, at most 825)

example:
  bun run facegate tls init --name kiosk-gw.lan --ip 192.168.1.20
`;

export function formatTlsInit(r: TlsInitResult): string {
  return [
    r.caCreated ? `created a local CA: ${r.caFile} (key ${r.caFile.replace(/ca\.pem$/, "ca.key")}, keep it private)` : `used the existing CA ${r.caFile}`,
    `server certificate: ${r.certFile}`,
    `server key:         ${r.keyFile}`,
    `CA SHA-256 fingerprint (compare it on each kiosk when installing ca.pem): ${r.caFingerprint256}`,
    "",
    "start the server with:",
    `  TLS_CERT_FILE=${r.certFile} TLS_KEY_FILE=${r.keyFile} bun run start`,
    "",
  ].join("\n");
}
