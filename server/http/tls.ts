/**
 * HTTPS served by Bun itself (TLS_CERT_FILE / TLS_KEY_FILE): the certificate and key read and checked
 * (a pair that does not match is refused at start and at reload), and a watcher that reports when
 * either file changes (renewals replace files by rename: the directory is watched, not the inode).
 */
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { createSecureContext } from "node:tls";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsCredentials {
  cert: string;
  key: string;
  /** SHA-256 of cert + key: a reload that changes nothing is skipped. */
  digest: string;
  /** The leaf certificate's subject, names and expiry (for the log line). */
  summary: { subject: string; altNames: string | undefined; validTo: string; fingerprint256: string };
}

export class TlsFilesError extends Error {
  readonly code = "INVALID_ARGUMENT";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TlsFilesError";
  }
}

/** Reads and checks the pair (PEM, a key that belongs to the certificate); throws TlsFilesError naming the file. */
export function loadTlsCredentials(files: TlsFiles): TlsCredentials {
  const read = (name: string, path: string): string => {
    try {
      return readFileSync(path, "utf8");
    } catch (cause) {
      throw new TlsFilesError(`${name}=${JSON.stringify(path)}: cannot read it (${(cause as NodeJS.ErrnoException).code ?? cause})`, { cause });
    }
  };
  const cert = read("TLS_CERT_FILE", files.certFile);
  const key = read("TLS_KEY_FILE", files.keyFile);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (cause) {
    throw new TlsFilesError(`TLS_CERT_FILE=${JSON.stringify(files.certFile)}: not a PEM certificate (${(cause as Error).message})`, { cause });
  }
  try {
    // What the TLS stack itself will do with them: a key that is not the certificate's fails here.
    createSecureContext({ cert, key });
  } catch (cause) {
    throw new TlsFilesError(
      `TLS_KEY_FILE=${JSON.stringify(files.keyFile)} does not go with TLS_CERT_FILE=${JSON.stringify(files.certFile)} (${(cause as Error).message})`,
      { cause },
    );
  }
  return {
    cert,
    key,
    digest: createHash("sha256").update(cert).update("\0").update(key).digest("hex"),
    summary: { subject: leaf.subject, altNames: leaf.subjectAltName, validTo: leaf.validTo, fingerprint256: leaf.fingerprint256 },
  };
}

/**
 * Calls `onChange` (debounced) when the certificate or key file is written, replaced or renamed into
 * place. Returns a function that stops watching.
 */
export function watchTlsFiles(files: TlsFiles, onChange: () => void, debounceMs = 250): () => void {
  const targets = [files.certFile, files.keyFile].map((p) => resolve(p));
  const dirs = [...new Set(targets.map((p) => dirname(p)))];
  const names = new Set(targets.map((p) => basename(p)));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watchers: FSWatcher[] = [];
  for (const dir of dirs) {
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        // Some platforms give no name: treat it as ours. Kubernetes secrets swap a ..data symlink.
        if (name !== null && !names.has(String(name)) && !String(name).startsWith("..")) return;
        clearTimeout(timer);
        timer = setTimeout(onChange, debounceMs);
      });
      watchers.push(w);
    } catch {
      // a directory that cannot be watched: SIGHUP still reloads
    }
  }
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
