/**
 * Worker-thread side of the engine pool: owns one in-process engine and answers requests.
 * Messages: worker-protocol.ts.
 */
import { FaceError } from "../core/mod.ts";
import type { FaceEngine } from "./types.ts";
import type { WorkerReply, WorkerRequest } from "./worker-protocol.ts";

declare const self: Worker;

let engine: FaceEngine | undefined;

async function handle(req: WorkerRequest): Promise<{ value: unknown; transfer: Transferable[] }> {
  if (req.op === "init") {
    // Inside a worker the engine runs in-process (workers: 0), so pools never nest.
    const { createEngine } = await import("./create.ts");
    engine = await createEngine({ ...req.config, workers: 0 });
    return { value: engine.info(), transfer: [] };
  }
  if (!engine) throw new FaceError("UNAVAILABLE", "engine worker not initialised");
  switch (req.op) {
    case "detect":
      return { value: await engine.detect(req.image as never, req.options as never), transfer: [] };
    case "embed": {
      const e = await engine.embed(req.image as never, req.face as never);
      return { value: e, transfer: [e.buffer as ArrayBuffer] };
    }
    case "analyze": {
      const faces = await engine.analyze(req.image as never, req.options as never);
      return { value: faces, transfer: faces.map((f) => f.embedding.buffer as ArrayBuffer) };
    }
    case "dispose":
      await engine.dispose();
      engine = undefined;
      return { value: null, transfer: [] };
  }
}

self.onmessage = async (event: MessageEvent<WorkerRequest>) => {
  const req = event.data;
  try {
    const { value, transfer } = await handle(req);
    self.postMessage({ id: req.id, ok: true, value } satisfies WorkerReply, transfer);
  } catch (error) {
    const e = FaceError.is(error) ? error : error instanceof Error ? error : new Error(String(error));
    const code = FaceError.is(e) ? e.code : "INTERNAL";
    self.postMessage({ id: req.id, ok: false, error: { code, message: e.message, name: e.name } } satisfies WorkerReply);
  }
};
