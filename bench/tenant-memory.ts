/**
 * Memory per tenant of the in-memory gallery: C companies x U users x F faces (512-d), applied as store
 * events, heap and RSS per user after a full GC.  `bun bench/tenant-memory.ts 1000 100 1` (TRIM=0: without the
 * post-replay trim).
 */
import { Gallery, normalize } from "../lib/core/mod.ts";
const C = Number(process.argv[2] ?? 1000), U = Number(process.argv[3] ?? 100), F = Number(process.argv[4] ?? 1);
const rss0 = process.memoryUsage().rss; Bun.gc(true);
const base = process.memoryUsage();
const g = new Gallery({ onWarning: () => {} });
let rev = 0;
const v = new Float32Array(512);
for (let c = 0; c < C; c++) {
  const companyId = `company-${c}`;
  g.apply({ revision: ++rev, type: "company.put", companyId });
  for (let u = 0; u < U; u++) {
    const userId = `user-${c}-${u}`;
    g.apply({ revision: ++rev, type: "user.put", companyId, userId });
    for (let f = 0; f < F; f++) {
      for (let i = 0; i < 512; i++) v[i] = Math.random() - 0.5;
      g.apply({ revision: ++rev, type: "face.put", face: { companyId, userId, faceId: `face-${u}-${f}`, embedding: normalize(v), model: "m" } });
    }
  }
}
g.apply({ revision: ++rev, type: "sync" }); if (process.env.TRIM !== "0") g.trim();
Bun.gc(true);
const m = process.memoryUsage();
const users = C * U;
console.log(JSON.stringify({ C, U, F, users, heapPerUser: Math.round((m.heapUsed - base.heapUsed) / users), rssPerUser: Math.round((m.rss - base.rss) / users), arrayBuffersPerUser: Math.round((m.arrayBuffers - base.arrayBuffers) / users), rssMB: Math.round(m.rss / 1e6), floatBytes: g.stats().bytes / users }));
