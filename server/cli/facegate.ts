#!/usr/bin/env node
/**
 * The one `facegate` command: `bun run facegate <command>` here, `npx facegate <command>` in a
 * project that depends on the package (node_modules/.bin/facegate).
 *
 *   models [--dir DIR] [--check]     fetch the model weights (server/cli/models.ts; `bun run models`)
 *   enroll <company> <folder>        folder of <user>/<images>, with a progress bar
 *   recognize <company> <image>      prints the recognition as JSON
 *   export <file>                    gallery → initial-data JSON ("-" for stdout)
 *   import <file>                    initial-data JSON → gallery (merged: existing records are kept)
 *   migrate <initial_db.json> <photos>  the old system's people re-enrolled from their original photos
 *   calibrate [folder | pairs-file]  FAR / FRR / EER table, suggested threshold, plot; with a folder
 *                                    (default LFW dev) also the calibration file behind FACE_FPIR_TARGET
 *   tls init --name N --ip A         a local CA and a server certificate for kiosks on the LAN
 *   env-example [--out FILE]         writes .env.example: every setting, its default and meaning
 *
 * enroll and recognize run in-process (the embedded service on DATA_DIR) or against a running
 * server with --url (and --key). export and import work on the local store only: the SQLite store
 * is one process per database, so stop the server first (or import at the server's start with
 * DATA_SOURCE=LOCAL_FILE).
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";
import {
  cosineSimilarity,
  exportInitialData,
  FaceError,
  formatInitialDataStats,
  parseInitialDataText,
  type FaceApi,
  type Recognition,
} from "../../lib/core/mod.ts";
import type { FaceEngine } from "../../lib/engine/mod.ts";
import type { LocalFaceService } from "../../lib/service/mod.ts";
import {
  buildCalibrationFile,
  calibrate,
  calibrationSvg,
  folderScores,
  formatCalibration,
  readLabelledFolder,
  readPairsFile,
} from "./calibrate.ts";
import { enrollFolder, progressBar } from "./enroll.ts";
import { formatTlsInit, TLS_HELP, tlsInit, TlsInitError } from "./tls.ts";
import { renderEnvExample } from "../compose/settings.ts";
import { modelsCommand, MODELS_USAGE } from "./models.ts";
import { HttpFaceClient } from "../http/client.ts";
import { toWire } from "../http/wire.ts";
import { formatMigrateReport, Journal, runMigration } from "./migrate.ts";
import { planMigration } from "./migrate-plan.ts";
import { SHARDS_HELP } from "./shards-help.ts";

const USAGE = `usage: bun run facegate <command> [options]     (bun run facegate <command> --help: its own help)

commands:
  models [--dir DIR] [--check]       fetch the model weights and verify their sha256 (bun run models)
  enroll <company> <folder>          enroll <folder>/<user>/<images> (first image creates the user)
  recognize <company> <image>        recognize the best face (--all: every face)
  export <file>                      write the gallery as initial-data JSON ("-": stdout; --format old:
                                     the old system's initial_db.json)
  import <file>                      load initial-data JSON into the gallery (merges)
  migrate <initial_db.json> <photos>  re-enroll the old system's people from their original photos
                                     (old ids, names and fields kept; resumable; --map, --journal, --report)
  shards <list|where|move>           the shard map of a sharded NATS install (move <company> <shard>)
  calibrate [folder | pairs-file]    FAR/FRR/EER table, suggested threshold, plot; a labelled folder
                                     (default: LFW dev) also gives the open-set calibration file (--out)
  tls init --name N [--ip A]         a local CA and a server certificate for HTTPS kiosks on the LAN
  env-example [--out FILE]           write .env.example (every setting with its default and meaning)

options:
  --url URL          enroll/recognize against a running server (default: in-process, DATA_DIR)
  --key KEY          API key for --url (default: $FACEGATE_API_KEY)
  --all              recognize: report every face
  --threshold T      recognize: override FACE_RECOGNITION_THRESHOLD
  --images DIR       calibrate: image folder of an LFW pairs file (default: <pairs dir>/images)
  --target-far F     calibrate: false-accept rate the suggested threshold keeps (default 0.001)
  --plot FILE        calibrate: plot image (.png or .svg; default calibration.png)
  --json FILE        calibrate: write the full curve as JSON
  --limit N          calibrate: use at most N pairs (pairs file) or N images per person (folder)
  --format F         export: facegate (default, any ids) or old (the old workers' format)
  --map FILE         migrate: CSV of face_id,file instead of <face_id>.<ext> names
  --journal FILE     migrate: the resumable journal (default <initial_db.json>.journal.jsonl)
  --report FILE      migrate: every outcome as JSON
  --company C        migrate: only this company (repeatable)
  --out FILE         calibrate: the calibration file FACE_CALIBRATION_FILE reads (folder input; default
                     for LFW dev: models/calibration/<model>.json, the one shipped with the model)
`;

/** `bun run facegate <command> --help`: the command's own usage, options and an example. */
export const COMMAND_HELP: Readonly<Record<string, string>> = {
  tls: TLS_HELP,
  models: `${MODELS_USAGE}\n`,
  shards: SHARDS_HELP,
  enroll: `usage: bun run facegate enroll <company> <folder> [--url URL] [--key KEY]

Enrolls every person of <folder>: one sub-folder per person, named by the user id, holding their
photos (JPEG, PNG or WebP). The first photo creates the user, the others are added as faces; photos
already enrolled (same face id: the file name) are skipped, so it can run again. A progress bar on a
terminal; exit 1 when a photo failed (each is listed with its error code).

options:
  --url URL    enroll through a running server (default: in-process on DATA_DIR, refused while a
               server holds that database)
  --key KEY    API key for --url, scope enroll (default: $FACEGATE_API_KEY)

example:
  bun run facegate enroll acme ./people            # ./people/ann/1.jpg, ./people/bob/a.png, ...
  bun run facegate enroll acme ./people --url http://127.0.0.1:8080 --key k-hr-0e7d4a61
`,
  recognize: `usage: bun run facegate recognize <company> <image> [--all] [--threshold T] [--url URL] [--key KEY]

Prints the recognition of <image> as JSON: user_id (null when nobody matched), confidence, bbox.

options:
  --all          every face in the image, not only the best match
  --threshold T  override the threshold in force (FACE_RECOGNITION_THRESHOLD or the operating point)
  --url URL      recognize through a running server (default: in-process on DATA_DIR)
  --key KEY      API key for --url, scope recognize (default: $FACEGATE_API_KEY)

example:
  bun run facegate recognize acme door.jpg --all
`,
  export: `usage: bun run facegate export <file | -> [--format facegate|old]

Writes the local gallery (DATA_DIR) as initial-data JSON: companies, users, faces and embeddings.
Works on the local store only: stop the server first.

options:
  --format F   facegate (default, any ids) or old (the old workers' initial_db.json)

example:
  bun run facegate export backup.json
  bun run facegate export - --format old > initial_db.json
`,
  import: `usage: bun run facegate import <file>

Loads initial-data JSON (facegate's or the old system's format) into the local gallery (DATA_DIR),
merged: existing companies, users and faces are kept. Validated first: errors are listed and nothing
is written. Works on the local store only: stop the server first, or load the file at the server's
start with DATA_SOURCE=LOCAL_FILE.

example:
  bun run facegate import backup.json
`,
  migrate: `usage: bun run facegate migrate <initial_db.json> <photos> [--url URL] [--key KEY] [options]

Re-enrolls the old system's people with this engine from their original photos (the old file's
vectors are another model's: they are not loaded). <photos> holds <face_id>.<ext> (JPEG, PNG or
WebP; in sub-folders too, e.g. the object store's bucket as downloaded), or give --map. The old ids
are kept; each person's extra fields in the old file become their name ("name", "display_name",
"full_name" or first_name + last_name) and metadata. A progress bar on a terminal.

Resumable and crash-safe: every finished face is a line in the journal; a re-run skips them (photos
that were missing, and transient errors, are tried again). A face stored but not yet journaled when
the run stopped is answered "already in the gallery", never enrolled twice. The report counts the
enrolled, the quality refusals (with the reason), photos without a face, unreadable and missing
photos; exit 1 when any face was not enrolled, 2 on bad usage.

options:
  --url URL        through a running server (default: the store in-process on DATA_DIR; stop the server first)
  --key KEY        API key for --url, scope enroll on the companies (default: $FACEGATE_API_KEY)
  --map FILE       CSV with a header: face_id,file[,company_id] (file relative to <photos>)
  --journal FILE   default <initial_db.json>.journal.jsonl
  --report FILE    every outcome as JSON (counts and each face not enrolled, with the reason)
  --company C      only this company (repeatable)
  --concurrency N  people enrolled at once (default 2)

example:
  bun run facegate migrate data/initial_db.json ./minio-export/faces --url http://127.0.0.1:8080 --key k-hr-0e7d4a61
`,
  calibrate: `usage: bun run facegate calibrate [labelled-folder | pairs-file] [options]

Embeds the photos and prints the FAR / FRR table, the equal error rate and the threshold that keeps
--target-far; draws the curves. With a labelled folder (<folder>/<person>/<images>; default: the LFW
dev set under FACEGATE_DATASETS) also writes the open-set calibration file FACE_FPIR_TARGET uses.

options:
  --target-far F   false-accept rate the suggested threshold keeps (default 0.001)
  --limit N        at most N pairs (pairs file) or N images per person (folder): a quick run
  --images DIR     image folder of an LFW pairs file (default: <pairs dir>/images)
  --plot FILE      the plot, .png or .svg (default calibration.png)
  --json FILE      the full curve as JSON
  --out FILE       the calibration file (FACE_CALIBRATION_FILE; default for LFW dev: the one shipped
                   with the model, models/calibration/<model>.json)

example:
  bun run facegate calibrate --limit 2 --plot /tmp/cal.svg --out /tmp/cal.json
  bun run facegate calibrate pairs.txt --images ./lfw --target-far 0.0001
`,
};

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  // `models` has its own options (and must run under Node from the package's bin).
  if (argv[0] === "models") return modelsCommand(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: "string" },
      key: { type: "string" },
      all: { type: "boolean", default: false },
      threshold: { type: "string" },
      images: { type: "string" },
      "target-far": { type: "string" },
      plot: { type: "string" },
      json: { type: "string" },
      limit: { type: "string" },
      format: { type: "string", default: "facegate" },
      out: { type: "string" },
      name: { type: "string", multiple: true },
      ip: { type: "string", multiple: true },
      dir: { type: "string" },
      days: { type: "string" },
      map: { type: "string" },
      journal: { type: "string" },
      report: { type: "string" },
      company: { type: "string", multiple: true },
      concurrency: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [command, ...args] = positionals;
  // `facegate enroll --help` and `facegate help enroll`: that command's help
  const about = command === "help" ? args[0] : values.help ? command : undefined;
  if (about !== undefined && Object.hasOwn(COMMAND_HELP, about)) {
    process.stdout.write(COMMAND_HELP[about]);
    return 0;
  }
  if (values.help || !command || command === "help") {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  const need = (n: number, names: string) => {
    if (args.length !== n) throw new UsageError(`${command} needs ${names}`);
  };
  const number = (name: string, text: string | undefined, fallback: number) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number`);
    return n;
  };

  switch (command) {
    case "env-example": {
      need(0, "no arguments (--out FILE, default .env.example at the repository root)");
      const out = values.out ?? join(import.meta.dir, "../..", ".env.example");
      writeFileSync(out, renderEnvExample());
      console.error(`wrote ${out}`);
      return 0;
    }
    case "tls": {
      if (args[0] !== "init" || args.length !== 1) throw new UsageError("tls needs a subcommand: tls init --name <lan-name> [--ip <address>]");
      try {
        const result = tlsInit({ dir: values.dir ?? "tls", names: values.name ?? [], ips: values.ip ?? [], days: values.days === undefined ? undefined : number("days", values.days, 397) });
        process.stdout.write(formatTlsInit(result));
        return 0;
      } catch (error) {
        if (error instanceof TlsInitError) throw new UsageError(error.message);
        throw error;
      }
    }
    case "shards": {
      const { runShards } = await import("./shards.ts");
      return runShards(args);
    }
    case "enroll": {
      need(2, "<company> <folder>");
      const [company, folder] = args;
      if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new UsageError(`${folder} is not a folder`);
      return withApi(values, async (api) => {
        const s = await enrollFolder(api, company, folder, progressBar());
        console.log(
          `enrolled into ${company}: ${s.users} users (${s.usersCreated} new), ${s.facesAdded} faces added, ${s.skipped} already there, ${s.failed.length} failed`,
        );
        for (const f of s.failed.slice(0, 20)) console.log(`  failed ${f.user}/${f.file}: ${f.code} ${f.message}`);
        if (s.failed.length > 20) console.log(`  ... and ${s.failed.length - 20} more`);
        if (s.ignored.length > 0) console.log(`  ignored (not a <user>/ folder): ${s.ignored.slice(0, 10).join(", ")}`);
        return s.failed.length > 0 ? 1 : 0;
      });
    }
    case "recognize": {
      need(2, "<company> <image>");
      const [company, file] = args;
      const image = readImage(file);
      const threshold = values.threshold === undefined ? undefined : number("threshold", values.threshold, 0);
      return withApi(values, async (api) => {
        const req = { companyId: company, image, threshold };
        if (values.all) {
          const { faces } = await api.recognizeFaces(req);
          console.log(JSON.stringify({ faces: faces.map((f: Recognition) => toWire.recognition(f)) }, null, 2));
        } else {
          console.log(JSON.stringify(toWire.recognition(await api.recognizeFace(req)), null, 2));
        }
        return 0;
      });
    }
    case "export": {
      need(1, "<file>");
      if (values.url) throw new UsageError("export reads the local store; --url is not supported (the HTTP API has no bulk export)");
      const format = values.format;
      if (format !== "facegate" && format !== "old") throw new UsageError(`--format must be facegate or old, not ${JSON.stringify(format)}`);
      return withService(async (service) => {
        const data = exportInitialData(service.gallery.export(), { format });
        const text = `${JSON.stringify(data)}\n`;
        if (args[0] === "-") process.stdout.write(text);
        else {
          writeFileSync(args[0], text);
          const s = service.gallery.stats();
          console.error(`exported ${s.companies} companies, ${s.users} users, ${s.faces} faces to ${args[0]}`);
        }
        return 0;
      });
    }
    case "import": {
      need(1, "<file>");
      if (values.url) throw new UsageError("import writes the local store; --url is not supported");
      const text = readFileSync(args[0], "utf8");
      return withService(async (service) => {
        const info = service.engine.info();
        const report = parseInitialDataText(text, {
          expectedDim: info.embeddingDim,
          engineModel: info.modelId,
          declaredModel: service.config.initialDataModel,
        });
        console.log(formatInitialDataStats(report, args[0]));
        for (const w of report.warnings) console.log(`  warning: ${w}`);
        if (report.errors.length > 0) {
          for (const e of report.errors) console.error(`  error: ${e}`);
          return 1;
        }
        const store = service.store;
        let added = { companies: 0, users: 0, faces: 0 };
        if (store.bulkLoad) added = await store.bulkLoad(report.data);
        else {
          for (const c of report.data.companies) added.companies += (await store.createCompany(c)).created ? 1 : 0;
          for (const u of report.data.users) added.users += (await store.createUser(u.companyId, u.userId)).created ? 1 : 0;
          for (const f of report.data.faces) added.faces += (await store.addFace(f)).created ? 1 : 0;
        }
        console.log(`imported: ${added.companies} companies, ${added.users} users, ${added.faces} faces added (existing records kept)`);
        return 0;
      });
    }
    case "migrate": {
      need(2, "<initial_db.json> <photos>");
      const [file, photos] = args;
      if (!existsSync(file)) throw new UsageError(`${file} not found`);
      if (!existsSync(photos) || !statSync(photos).isDirectory()) throw new UsageError(`${photos} is not a folder`);
      if (values.map && !existsSync(values.map)) throw new UsageError(`${values.map} not found`);
      const concurrency = Math.max(1, Math.min(16, Math.floor(number("concurrency", values.concurrency, 2))));
      let plan;
      try {
        plan = planMigration(readFileSync(file, "utf8"), {
          photos,
          ...(values.map ? { mapping: readFileSync(values.map, "utf8") } : {}),
          ...(values.company ? { companies: new Set(values.company) } : {}),
        });
      } catch (error) {
        throw new UsageError(`${file} is not the old system's initial_db.json: ${(error as Error).message.slice(0, 300)}`);
      }
      const journal = new Journal(values.journal ?? `${file}.journal.jsonl`);
      try {
        return await withApi(values, async (api) => {
          const report = await runMigration(api, plan, journal, { concurrency, onProgress: progressBar("migrate") });
          console.log(formatMigrateReport(report));
          if (values.report) writeFileSync(values.report, `${JSON.stringify(report, null, 1)}\n`);
          // 1 when a face is not enrolled (the report says which and why), or the run stopped
          return report.stopped || report.problems.length > 0 ? 1 : 0;
        });
      } finally {
        journal.close();
      }
    }
    case "calibrate": {
      if (args.length > 1) throw new UsageError("calibrate needs at most one <labelled-folder | pairs-file>");
      const lfwDev = join(process.env.FACEGATE_DATASETS ?? join(import.meta.dir, "../../../shared/datasets"), "lfw-dev/images");
      const input = args[0] ?? lfwDev;
      if (!existsSync(input)) throw new UsageError(`${input} not found`);
      const targetFar = number("target-far", values["target-far"], 0.001);
      if (!(targetFar > 0 && targetFar < 1)) throw new UsageError("--target-far must be between 0 and 1");
      const limit = values.limit === undefined ? undefined : Math.max(1, Math.floor(number("limit", values.limit, 0)));
      const out = values.out ?? (args[0] === undefined ? "shipped" : undefined);
      return runCalibrate(input, { targetFar, limit, images: values.images, plot: values.plot ?? "calibration.png", json: values.json, out });
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

function readImage(file: string): Uint8Array<ArrayBuffer> {
  if (!existsSync(file)) throw new UsageError(`${file} not found`);
  return new Uint8Array(readFileSync(file));
}

type Opts = { url?: string; key?: string };

async function withApi(opts: Opts, fn: (api: FaceApi) => Promise<number>): Promise<number> {
  if (opts.url) return fn(new HttpFaceClient({ url: opts.url, key: opts.key ?? process.env.FACEGATE_API_KEY }));
  return withService(fn);
}

async function withService(fn: (service: LocalFaceService) => Promise<number>): Promise<number> {
  const { LocalFaceService } = await import("../../lib/service/mod.ts");
  const service = await LocalFaceService.create({
    env: process.env,
    log: (level, message) => {
      if (level !== "info") console.error(message);
    },
  });
  try {
    return await fn(service);
  } finally {
    await service.close();
  }
}

async function runCalibrate(
  input: string,
  o: { targetFar: number; limit?: number; images?: string; plot: string; json?: string; out?: string },
): Promise<number> {
  const { createEngine, decodeImage } = await import("../../lib/engine/mod.ts");
  const engine = await createEngine();
  const cache = new Map<string, Float32Array | null>();
  let noFace = 0;
  const embed = async (path: string, e: FaceEngine): Promise<Float32Array | null> => {
    if (cache.has(path)) return cache.get(path) ?? null;
    let out: Float32Array | null = null;
    try {
      // the face nearest the image centre: the one a labelled photo (LFW) is labelled for
      const img = await decodeImage(new Uint8Array(readFileSync(path)));
      const faces = await e.detect(img);
      const off = (f: { bbox: number[] }) =>
        Math.hypot(f.bbox[0] + f.bbox[2] / 2 - img.originalWidth / 2, f.bbox[1] + f.bbox[3] / 2 - img.originalHeight / 2);
      const face = faces.length > 0 ? faces.reduce((a, b) => (off(b) < off(a) ? b : a)) : undefined;
      out = face ? await e.embed(img, face) : null;
    } catch {
      out = null;
    }
    if (!out) noFace++;
    cache.set(path, out);
    return out;
  };
  const progress = progressBar("embed");
  try {
    let genuine: number[] = [];
    let impostor: number[] = [];
    if (statSync(input).isDirectory()) {
      const people = readLabelledFolder(input);
      const total = [...people.values()].reduce((n, l) => n + Math.min(l.length, o.limit ?? Number.POSITIVE_INFINITY), 0);
      const embeddings = new Map<string, Float32Array[]>();
      let done = 0;
      for (const [person, files] of people) {
        const list: Float32Array[] = [];
        for (const file of files.slice(0, o.limit)) {
          const e = await embed(file, engine);
          if (e) list.push(e);
          progress({ done: ++done, total, user: person, file: file.split("/").pop() ?? "" });
        }
        embeddings.set(person, list);
      }
      ({ genuine, impostor } = folderScores(embeddings));
      if (o.out) {
        const model = engine.info().modelId;
        const file = buildCalibrationFile({ people: embeddings, model, source: `${basename(dirname(input))}/${basename(input)}: ${total} images of ${people.size} people (facegate calibrate)` });
        const { shippedCalibrationPath } = await import("../../lib/service/mod.ts");
        const path = o.out === "shipped" ? shippedCalibrationPath(model) : o.out;
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, `${JSON.stringify(file)}\n`);
        console.log(`calibration file: ${path} (FACE_CALIBRATION_FILE; FPIR measured at ${file.fpir?.sizes.join(", ") ?? "no"} users)`);
      }
    } else {
      const pairs = readPairsFile(input, o.images).slice(0, o.limit);
      let done = 0;
      for (const p of pairs) {
        const [a, b] = [await embed(p.a, engine), await embed(p.b, engine)];
        if (a && b) (p.same ? genuine : impostor).push(cosineSimilarity(a, b));
        progress({ done: ++done, total: pairs.length, user: p.same ? "same" : "different", file: "" });
      }
    }
    if (noFace > 0) console.log(`${noFace} images without a detected face were left out`);
    const result = calibrate(genuine, impostor, o.targetFar);
    console.log(formatCalibration(result));
    const svg = calibrationSvg(result, `calibration of ${input.split("/").filter(Boolean).pop()}`);
    if (o.plot.endsWith(".svg")) writeFileSync(o.plot, svg);
    else {
      const sharp = (await import("sharp")).default;
      // The engine leaves only the JPEG/PNG/WebP loaders reachable; this SVG is our own plot.
      sharp.unblock({ operation: ["VipsForeignLoadSvgBuffer"] });
      await sharp(Buffer.from(svg)).png().toFile(o.plot);
    }
    console.log(`plot: ${o.plot}`);
    if (o.json) {
      writeFileSync(o.json, `${JSON.stringify({ input, model: engine.info().modelId, noFace, ...result }, null, 1)}\n`);
      console.log(`json: ${o.json}`);
    }
    return 0;
  } finally {
    await engine.dispose();
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError || (error as { code?: string })?.code?.startsWith?.("ERR_PARSE_ARGS")) {
    console.error(`facegate: ${(error as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else if (error instanceof FaceError) {
    console.error(`facegate: ${error.code}: ${error.message}`);
    process.exitCode = 1;
  } else {
    console.error(`facegate: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
