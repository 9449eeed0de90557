import { kvBus } from "./kv.ts";
import type { BusFactory } from "./types.ts";

const HAS_KV = typeof Deno.openKv === "function";

/** Opens `name` on `bus` and collects what arrives; `all` resolves once `count` messages came. */
async function collect(bus: BusFactory, name: string, count: number) {
  const listener = bus.open(name);
  await listener.ready;
  const got: unknown[] = [];
  const all = new Promise<void>((resolve) => {
    listener.onmessage = (event) => {
      got.push(event.data);
      if (got.length === count) resolve();
    };
  });
  return { got, all };
}

/** Whether `promise` resolves within `ms`; the timer is cleared either way. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test({
  name: HAS_KV
    ? "kvBus() with pollIntervalMs reaches a channel in another process"
    : 'kvBus() with pollIntervalMs reaches another process (ignored: needs "kv" in deno.json "unstable")',
  ignore: !HAS_KV,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "punch-bus-kv-" });
    const path = `${dir}/bus.sqlite`;
    const script = new URL("./_kv_echo_process.ts", import.meta.url).pathname;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-lock", "--unstable-kv", script, path, "cross"],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const first = await reader.read();
      if (!first.value?.includes("ready")) throw new Error(`Child said ${first.value}`);
      await using bus = kvBus(await Deno.openKv(path), { closeKv: true, pollIntervalMs: 10 });
      const channel = bus.open("cross");
      await channel.ready;
      const got: unknown[] = [];
      const echoed = new Promise<void>((resolve) => {
        channel.onmessage = (event) => {
          got.push(event.data);
          if (event.data === "bye") resolve();
        };
      });
      channel.postMessage({ hello: new Uint8Array([1, 2, 3]) });
      channel.postMessage("bye");
      // A deadline rather than a kill on a timer: the echo process may have
      // ended already (it leaves once it echoed "bye"), and then killing it throws.
      if (!await within(echoed, 10_000)) {
        try {
          child.kill();
        } catch { /* ended already */ }
        const { code, signal } = await child.status;
        throw new Error(
          `No echo of "bye" within 10 s (got ${JSON.stringify(got)}); ` +
            `the echo process ended with code ${code}${signal ? ` (${signal})` : ""}`,
        );
      }
      const [hello] = got as [{ hello: Uint8Array }];
      if (got.length !== 2 || hello.hello.join() !== "1,2,3") {
        throw new Error(`Echo was ${JSON.stringify(got)}`);
      }
      await reader.cancel();
    } finally {
      await child.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/**
 * A Deno KV handle whose commits, once they succeed, run `after` a given
 * number of microtasks later: a frame posted then lands anywhere in the
 * few turns between a flush's last commit and its end.
 */
function delayedCommits(kv: Deno.Kv, microtasks: number, after: () => void): Deno.Kv {
  return withCommits(kv, (commit) => async () => {
    const result = await commit();
    let step: Promise<void> = Promise.resolve();
    for (let i = 0; i < microtasks; i++) step = step.then(() => {});
    step.then(after);
    return result;
  });
}

type Commit = () => Promise<Deno.KvCommitResult | Deno.KvCommitError>;

/** `kv` whose atomic operations commit through `wrap(their own commit)`. */
function withCommits(kv: Deno.Kv, wrap: (commit: Commit) => Commit): Deno.Kv {
  return new Proxy(kv, {
    get(target, key) {
      if (key !== "atomic") {
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      }
      return () => {
        const op = target.atomic();
        op.commit = wrap(op.commit.bind(op));
        return op;
      };
    },
  });
}

Deno.test({
  name: HAS_KV
    ? "kvBus() delivers a frame posted while the previous flush is ending"
    : 'kvBus() delivers a frame posted while a flush ends (ignored: needs "kv" in deno.json "unstable")',
  ignore: !HAS_KV,
  async fn() {
    // Before the fix, the frame went on a queue that was deleted a few
    // microtasks after its flush had ended, and was never written.
    for (let microtasks = 0; microtasks <= 12; microtasks++) {
      const kv = await Deno.openKv(":memory:");
      let posted = false;
      const sending = kvBus(
        delayedCommits(kv, microtasks, () => {
          if (posted) return;
          posted = true;
          channel.postMessage("second");
        }),
      );
      await using receiving = kvBus(kv, { closeKv: true, pollIntervalMs: 10 });
      const { got, all: both } = await collect(receiving, "race", 2);
      const channel = sending.open("race", { listen: false });
      channel.postMessage("first");
      const delivered = await within(both, 2_000);
      await sending.close();
      if (!delivered) {
        throw new Error(`After ${microtasks} microtasks: got ${JSON.stringify(got)}`);
      }
    }
  },
});

/** `kv` whose first `failures` commits throw, as a KV that is briefly unreachable. */
function failingCommits(kv: Deno.Kv, failures: number): Deno.Kv {
  let left = failures;
  return withCommits(
    kv,
    (commit) => () => left-- > 0 ? Promise.reject(new Error("KV unreachable")) : commit(),
  );
}

Deno.test({
  name: HAS_KV
    ? "kvBus() tries a failed commit again instead of dropping its messages"
    : 'kvBus() tries a failed commit again (ignored: needs "kv" in deno.json "unstable")',
  ignore: !HAS_KV,
  async fn() {
    const kv = await Deno.openKv(":memory:");
    const errors: unknown[] = [];
    const sending = kvBus(failingCommits(kv, 2), { onError: (error) => errors.push(error) });
    await using receiving = kvBus(kv, { closeKv: true });
    const { got, all: both } = await collect(receiving, "patient", 2);
    const channel = sending.open("patient", { listen: false });
    channel.postMessage("first");
    channel.postMessage("second");
    const delivered = await within(both, 5_000);
    await sending.close();
    if (!delivered || JSON.stringify(got) !== '["first","second"]' || errors.length > 0) {
      throw new Error(`got ${JSON.stringify(got)}, errors ${errors}`);
    }
  },
});

Deno.test({
  name: HAS_KV
    ? "kvBus() close() ends a flush that is waiting to try again, and reports the drop"
    : 'kvBus() close() ends a waiting flush (ignored: needs "kv" in deno.json "unstable")',
  ignore: !HAS_KV,
  async fn() {
    const kv = await Deno.openKv(":memory:");
    const errors: unknown[] = [];
    const sending = kvBus(failingCommits(kv, Infinity), {
      onError: (error) => errors.push(error),
      closeKv: true,
    });
    sending.open("stuck", { listen: false }).postMessage("lost");
    await new Promise((resolve) => setTimeout(resolve, 350)); // a few failed tries
    if (!await within(sending.close(), 2_000)) throw new Error("close() waited for the retries");
    if (!errors.some((error) => String(error).includes("KV unreachable"))) {
      throw new Error(`errors: ${errors}`);
    }
  },
});
