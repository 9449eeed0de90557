/**
 * Test helper run as its own process: `deno run --unstable-kv -A
 * _kv_echo_process.ts PATH NAME` echoes every message on channel NAME of a
 * polled KV bus at PATH, and prints "ready" once listening.
 *
 * @module
 */

import { kvBus } from "./kv.ts";

const [path, name] = Deno.args;
const bus = kvBus(await Deno.openKv(path), { closeKv: true, pollIntervalMs: 10 });
const channel = bus.open(name!);
channel.onmessage = (event) => {
  channel.postMessage(event.data);
  if (event.data === "bye") setTimeout(() => bus.close(), 100);
};
await channel.ready;
console.log("ready");
