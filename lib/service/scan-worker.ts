/**
 * Helper thread of ScanPool: scans the rows it is told to, in a shared WebAssembly memory, with the
 * same SIMD kernel as the main thread. Control goes through a shared Int32Array (no message per scan).
 */
import { FIXED_DIM, simdKernels, type SimdExports } from "../core/internal.ts";

declare const self: Worker;

type Message = { type: "init"; ctl: Int32Array } | { type: "attach"; id: number; memory: WebAssembly.Memory } | { type: "detach"; id: number };

const instances = new Map<number, SimdExports>();
// ES2024 (typed here: the project's lib is ES2023)
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<string> | string };
}).waitAsync;
let started = false;

async function serve(ctl: Int32Array): Promise<void> {
  const f32 = new Float32Array(ctl.buffer);
  for (;;) {
    const state = Atomics.load(ctl, 0);
    if (state !== 1) {
      // sleep until the main thread changes the state (waitAsync keeps this thread's event loop free for attach messages)
      const w = waitAsync(ctl, 0, state);
      if (w.async) await w.value;
      continue;
    }
    const exp = instances.get(ctl[1]);
    if (!exp) {
      Atomics.store(ctl, 0, 3);
    } else {
      const [from, to, dimPad, qOff, scaleOff, outOff] = [ctl[2], ctl[3], ctl[4], ctl[5], ctl[6], ctl[7]];
      const scan = dimPad === FIXED_DIM ? exp.scan_i8_fixed : exp.scan_i8;
      scan(from * dimPad, to - from, dimPad, qOff, scaleOff + from * 4, outOff + from * 4, f32[8]);
      Atomics.store(ctl, 0, 2);
    }
    Atomics.notify(ctl, 0);
  }
}

self.onmessage = (event: MessageEvent<Message>) => {
  const m = event.data;
  if (m.type === "init" && !started) {
    started = true;
    void serve(m.ctl);
  } else if (m.type === "attach") {
    const simd = simdKernels();
    if (simd?.instantiateShared) instances.set(m.id, simd.instantiateShared(m.memory));
    postMessage({ type: "attached", id: m.id, ok: instances.has(m.id) });
  } else if (m.type === "detach") {
    instances.delete(m.id);
  }
};
