import { kvBus } from "./kv.ts";

const HAS_KV = typeof Deno.openKv === "function";

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
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) =>
        timer = setTimeout(() => resolve("late"), 10_000)
      );
      const outcome = await Promise.race([echoed, late]);
      clearTimeout(timer);
      if (outcome === "late") {
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
