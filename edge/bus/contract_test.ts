import { broadcastBus } from "./broadcast.ts";
import { busContract, type BusPair, echoOn } from "./_contract.ts";
import { kvBus } from "./kv.ts";
import { localBus } from "./local.ts";
import { hasRedisServer, startRedisServer } from "./_redis_server.ts";
import { workerFactory } from "./_worker_factory.ts";
import type { BusFactory } from "./types.ts";

const HAS_KV = typeof Deno.openKv === "function";
const HAS_REDIS = hasRedisServer();
const FAST = { quietMs: 50, ttlMs: 600 };
const SLOW = { quietMs: 150, ttlMs: 600 };
/** The broadcast registry's settle window in tests: Workers are ~0.1 ms apart. */
const SETTLE_MS = 30;

function report(kind: string, latency: string): void {
  console.log(`bus latency [${kind}]: ${latency}`);
}

function pairOf(a: BusFactory, b: BusFactory, after?: () => Promise<void>): BusPair {
  return {
    a,
    b,
    echo: (name) => echoOn(b, name),
    async close() {
      await Promise.all([a.close(), b.close()]);
      await after?.();
    },
  };
}

Deno.test("localBus() meets the bus contract", async (t) => {
  report(
    "local",
    await busContract(t, () => Promise.resolve(pairOf(localBus(), localBus())), FAST),
  );
});

Deno.test("broadcastBus() meets the bus contract across Workers", async (t) => {
  const latency = await busContract(t, async () => {
    const b = await workerFactory({ op: "init", kind: "broadcast", settleMs: SETTLE_MS });
    return { ...pairOf(broadcastBus({ settleMs: SETTLE_MS }), b), echo: (name) => b.echo(name) };
  }, FAST);
  report("broadcast, main thread ↔ Worker", latency);
});

Deno.test({
  name: HAS_KV
    ? "kvBus() meets the bus contract with two handles on one SQLite file"
    : 'kvBus() meets the bus contract (ignored: Deno KV needs "kv" in deno.json "unstable" or --unstable-kv)',
  ignore: !HAS_KV,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "punch-bus-kv-" });
    try {
      const latency = await busContract(t, async () => {
        const path = `${dir}/${crypto.randomUUID()}.sqlite`;
        const open = async () => kvBus(await Deno.openKv(path), { closeKv: true });
        return pairOf(await open(), await open());
      }, SLOW);
      report("kv, two handles", latency);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: HAS_KV
    ? "kvBus() meets the bus contract across Workers on one SQLite file"
    : 'kvBus() meets the bus contract across Workers (ignored: Deno KV needs "kv" in deno.json "unstable" or --unstable-kv)',
  ignore: !HAS_KV,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "punch-bus-kv-" });
    try {
      const latency = await busContract(t, async () => {
        const path = `${dir}/${crypto.randomUUID()}.sqlite`;
        const a = kvBus(await Deno.openKv(path), { closeKv: true });
        const b = await workerFactory({ op: "init", kind: "kv", path });
        return { ...pairOf(a, b), echo: (name) => b.echo(name) };
      }, SLOW);
      report("kv, main thread ↔ Worker", latency);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: HAS_REDIS
    ? "redisBus() meets the bus contract on a real redis-server"
    : "redisBus() meets the bus contract (ignored: redis-server is not installed; apt-get install -y redis-server)",
  ignore: !HAS_REDIS,
  async fn(t) {
    const { redisBus } = await import("./redis.ts");
    await using server = await startRedisServer();
    const latency = await busContract(t, async () => {
      return pairOf(await redisBus(server.url), await redisBus(server.url));
    }, SLOW);
    report("redis, loopback", latency);
  },
});
