import { busFromEnv, platformBusSpec } from "./from_env.ts";

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

async function rejects(promise: Promise<unknown>, type: ErrorConstructor, includes: string) {
  try {
    await promise;
  } catch (error) {
    assert(error instanceof type, `Expected ${type.name}, got ${error}`);
    assert(error.message.includes(includes), `"${error.message}" lacks "${includes}"`);
    return error;
  }
  throw new Error("Expected a rejection");
}

Deno.test("busFromEnv() opens the in-process bus when PUNCH_BUS is unset, empty or local", async () => {
  for (const value of [undefined, "", "  ", "local"]) {
    await using bus = await busFromEnv(value);
    assert(bus.kind === "local", `${value}: ${bus.kind}`);
  }
});

Deno.test("busFromEnv() opens native BroadcastChannel for broadcast", async () => {
  await using bus = await busFromEnv("broadcast");
  assert(bus.kind === "broadcast", bus.kind);
});

Deno.test("busFromEnv() rejects an unknown value with the accepted ones", async () => {
  for (const value of ["nats://x", "KV", "kafka", "redis:", "http://127.0.0.1"]) {
    await rejects(
      busFromEnv(value),
      TypeError,
      "expected local, broadcast, kv, kv:PATH or redis://",
    );
  }
  await rejects(busFromEnv("kv:"), TypeError, "the path is empty");
});

Deno.test("busFromEnv() hides a password in errors", async () => {
  const error = await rejects(busFromEnv("nats://user:secret@host"), TypeError, "***");
  assert(!error.message.includes("secret"), error.message);
});

Deno.test("busFromEnv() names the Redis it cannot reach, without its password", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  const url = `redis://user:secret@127.0.0.1:${port}`;
  const error = await rejects(
    busFromEnv(url),
    Error,
    `Cannot connect to Redis at redis://user:***@127.0.0.1:${port}`,
  );
  assert(!error.message.includes("secret"), error.message);
  assert(error.cause instanceof Error, "no cause");
});

Deno.test({
  name: typeof Deno.openKv === "function"
    ? "busFromEnv() opens a Deno KV file for kv:PATH"
    : 'busFromEnv() opens a Deno KV file for kv:PATH (ignored: needs "kv" in deno.json "unstable")',
  ignore: typeof Deno.openKv !== "function",
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await using bus = await busFromEnv(`kv:${dir}/bus.sqlite`);
      assert(bus.kind === "kv", bus.kind);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "busFromEnv() explains how to enable Deno KV when it is off",
  ignore: typeof Deno.openKv === "function",
  async fn() {
    await rejects(busFromEnv("kv"), Error, '"kv" to "unstable" in deno.json');
  },
});

Deno.test("platformBusSpec() follows PUNCH_BUS, then picks Deno KV on Deno Deploy", () => {
  const env = (vars: Record<string, string>) => ({ get: (name: string) => vars[name] });
  const cases: [Record<string, string>, string][] = [
    [{}, ""],
    [{ PUNCH_BUS: "redis://10.0.0.5:6379" }, "redis://10.0.0.5:6379"],
    [{ DENO_DEPLOY: "true" }, "kv"],
    [{ DENO_DEPLOY: "true", PUNCH_BUS: " broadcast " }, "broadcast"],
    [{ DENO_DEPLOY: "true", PUNCH_BUS: "  " }, "kv"],
  ];
  for (const [vars, spec] of cases) {
    assert(
      platformBusSpec(env(vars)) === spec,
      `${JSON.stringify(vars)}: ${platformBusSpec(env(vars))}`,
    );
  }
});
