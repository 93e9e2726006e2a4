/** The shared GalleryStore contract, run against KvGalleryStore on a real nats-server. */
import { beforeAll } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { KvGalleryStore } from "../../../lib/nats/kv-store.ts";
import { runGalleryStoreContract } from "../../helpers/store-contract.ts";
import { useNatsServer } from "../../helpers/nats-server.ts";
import { describeWithTools } from "../../helpers/tools.ts";

let nc: NatsConnection;
let n = 0;
const buckets = new WeakMap<KvGalleryStore, string>();

describeWithTools(["nats-server"], "KvGalleryStore on nats-server", () => {
  const nats = useNatsServer();
  beforeAll(async () => {
    nc = nats.track(await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 }));
  });

  async function open(bucket: string): Promise<KvGalleryStore> {
    const store = await KvGalleryStore.open({ nc, bucket, timeoutMs: 2000 });
    buckets.set(store, bucket);
    return store;
  }

  runGalleryStoreContract("nats-kv", () => open(`contract_${++n}`), {
    // Durability for real: the server is restarted between close and reopen.
    reopen: async (store) => {
      const bucket = buckets.get(store as KvGalleryStore)!;
      await store.close();
      await nats.server.restart();
      for (let i = 0; ; i++) {
        try {
          return await open(bucket);
        } catch (err) {
          if (i > 50) throw err;
          await Bun.sleep(100);
        }
      }
    },
  });
});
