/**
 * `deno task load`: many waiting sessions across two rendezvous instances on
 * loopback, then a pairing for each, every one across instances; prints the
 * pairing latency and each instance's peak RSS against the targets.
 *
 *   deno task load [--sessions N] [--rate PER_SECOND] [--bus redis|kv] [--hold]
 *                  [--v8-flags FLAGS]
 *
 * Two `punch serve` processes share the bus (a throwaway `redis-server`, or a
 * Deno KV file). Two client processes each open N/2 senders on one instance
 * and wait until all N are waiting; then each claims N/2 nameplates on the
 * other instance at RATE/2 per second, so every pairing crosses instances.
 * Latency is from `claim` sent to `paired` received by both sides. Each pair
 * then leaves and a new sender takes its place, so N sessions stay waiting
 * throughout; with `--hold` every pair stays open instead (2N sockets at the
 * end). The instances run with {@linkcode CLUSTER_V8_FLAGS} unless
 * `--v8-flags` says otherwise. Peak RSS is the kernel's high-water mark
 * (/proc, Linux), CPU from /proc too. Exits 1 if a target is missed.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { startRedisServer } from "../edge/bus/_redis_server.ts";
import { procStatusKiB } from "./_proc.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;
const CLI = join(ROOT, "cli/main.ts");
/**
 * Every load client dials from 127.0.0.1, so the per-address limits
 * (edge/defaults.ts) are lifted: this bench measures pairing, not them.
 */
const SERVE_ARGS = [
  "--hostname",
  "127.0.0.1",
  "--port",
  "0",
  "--json",
  "--limit",
  "maxConnectionsPerAddress=1000000",
];
/**
 * V8 flags the instances run with, as docs/deploy.md recommends for a
 * cluster: `--expose-gc` lets the hub collect young garbage every 64
 * connections (edge/defaults.ts); `--heap-growing-percent=25` makes V8 collect
 * the old generation once it grows by a quarter, not up to four times over.
 * Peak RSS per instance measured here at 500 pairings/s: 275 MB without the
 * hub's collections, 225 MB with them, 180 MB adding the second flag, with
 * the same pairing latency (collecting every 128 connections then).
 */
const CLUSTER_V8_FLAGS = "--expose-gc,--heap-growing-percent=25";
/** The targets. */
const TARGET_P99_MS = 50;
const TARGET_RSS_MB = 200;
/** WebSocket handshakes a client keeps in flight: more overflows the listen backlog. */
const CONNECTING = 64;

/** Reads `stream` line by line. */
function lines(stream: ReadableStream<Uint8Array>): ReadableStreamDefaultReader<string> {
  let rest = "";
  return stream.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TransformStream<string, string>({
      transform(chunk, controller) {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop()!;
        for (const part of parts) controller.enqueue(part);
      },
    }),
  ).getReader();
}

// ---------------------------------------------------------------- client side

/** Resolves with the first text message `socket` receives of `type`. */
function expect(socket: WebSocket, type: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    socket.addEventListener("message", function on(event) {
      const msg = JSON.parse(event.data as string);
      if (msg.type === "error") reject(new Error(`${msg.error}: ${msg.message}`));
      if (msg.type !== type) return;
      socket.removeEventListener("message", on);
      resolve(msg);
    });
    socket.addEventListener("close", () => reject(new Error(`closed before ${type}`)));
  });
}

async function connect(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url);
  const welcome = expect(socket, "welcome");
  welcome.catch(() => {});
  await welcome;
  return socket;
}

/** Runs `task` over `items` with at most `limit` at once. */
async function pool<T, R>(
  items: T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]!, i);
    }
  }));
  return results;
}

/** Opens a sender on `url` that allocates a nameplate and waits. */
async function waitingSender(url: string): Promise<{ socket: WebSocket; nameplate: string }> {
  const socket = await connect(url);
  const allocated = expect(socket, "allocated");
  socket.send(JSON.stringify({ type: "allocate" }));
  return { socket, nameplate: (await allocated).nameplate as string };
}

/**
 * One load client: `count` senders wait on `senderWs`; on "go", `count`
 * receivers claim them on `receiverWs` at `rate` per second. Unless `hold`,
 * each pair then leaves and a new sender takes its place, so `count` stay
 * waiting throughout.
 */
async function client(
  senderWs: string,
  receiverWs: string,
  count: number,
  rate: number,
  hold: boolean,
) {
  const input = lines(Deno.stdin.readable);
  const waiting = await pool(
    Array.from({ length: count }),
    CONNECTING,
    () => waitingSender(senderWs),
  );
  console.log(JSON.stringify({ waiting: count }));
  await input.read(); // "go": every session of every client is waiting
  const latencies: number[] = [];
  const start = performance.now();
  await pool(Array.from({ length: count }), CONNECTING, async (_, i) => {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const { socket: sender, nameplate } = waiting.shift()!;
    const receiver = await connect(receiverWs);
    const both = Promise.all([expect(sender, "paired"), expect(receiver, "paired")]);
    const t0 = performance.now();
    receiver.send(JSON.stringify({ type: "claim", nameplate }));
    await both;
    latencies.push(performance.now() - t0);
    if (hold) return;
    for (const socket of [sender, receiver]) socket.send('{"type":"release","mood":"happy"}');
    waiting.push(await waitingSender(senderWs));
  });
  console.log(JSON.stringify({ latencies }));
  await input.read(); // "exit", or the end of stdin
  Deno.exit(0);
}

// ---------------------------------------------------------------- orchestrator

/** CPU seconds (user + system) a process has used (/proc, Linux; clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function peakRssMb(pid: number): number {
  return procStatusKiB(pid, "VmHWM")[0]! / 1024;
}

function spawn(args: string[], env: Record<string, string>, stdin: "piped" | "null") {
  return new Deno.Command(Deno.execPath(), {
    args,
    env: { NO_COLOR: "1", ...env },
    stdin,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

interface LoadOptions {
  sessions: number;
  rate: number;
  bus: string;
  hold: boolean;
  v8Flags: string;
}

async function orchestrate({ sessions, rate, bus, hold, v8Flags }: LoadOptions): Promise<number> {
  await using redis = bus === "redis" ? await startRedisServer() : undefined;
  const kvDir = bus === "kv" ? await Deno.makeTempDir({ prefix: "punch-load-" }) : undefined;
  const env = { PUNCH_BUS: redis?.url ?? `kv:${kvDir}/bus.sqlite` };
  const serves = [0, 1].map(() =>
    spawn(
      ["run", "-A", `--v8-flags=${v8Flags}`, CLI, "serve", ...SERVE_ARGS],
      env,
      "null",
    )
  );
  try {
    const urls = await Promise.all(serves.map(async (child) => {
      const { value } = await lines(child.stdout).read();
      const url = JSON.parse(value!).url as string;
      return `${url.replace(/^http/, "ws")}/v1/ws`;
    }));
    const baseline = serves.map((child) => peakRssMb(child.pid));
    const half = Math.ceil(sessions / 2);
    const clients = [[urls[0]!, urls[1]!], [urls[1]!, urls[0]!]].map(([from, to], i) =>
      spawn(
        [
          "run",
          "-A",
          SELF,
          "--client",
          from!,
          to!,
          String(i === 0 ? half : sessions - half),
          String(rate / 2),
          String(hold),
        ],
        {},
        "piped",
      )
    );
    const readers = clients.map((child) => lines(child.stdout));
    const writers = clients.map((child) => child.stdin.getWriter());
    const say = (text: string) =>
      Promise.all(writers.map((w) => w.write(new TextEncoder().encode(text + "\n"))));
    const sockets = [0, 0];
    const poll = setInterval(() => {
      urls.forEach(async (url, i) => {
        const healthz = url.replace(/^ws/, "http").replace("/v1/ws", "/healthz");
        const { connections } = await (await fetch(healthz)).json();
        sockets[i] = Math.max(sockets[i]!, connections);
      });
    }, 250);
    const started = performance.now();
    await Promise.all(readers.map((r) => r.read()));
    const waitingSeconds = (performance.now() - started) / 1000;
    const cpuAtGo = serves.map((child) => cpuSeconds(child.pid));
    const goAt = performance.now();
    await say("go");
    const results = await Promise.all(
      readers.map(async (r) => JSON.parse((await r.read()).value!)),
    );
    clearInterval(poll);
    const pairingSeconds = (performance.now() - goAt) / 1000;
    const cpu = serves.map((child, i) => (cpuSeconds(child.pid) - cpuAtGo[i]!) / pairingSeconds);
    const peaks = serves.map((child) => peakRssMb(child.pid));
    await say("exit");
    await Promise.all(writers.map((w) => w.close()));
    await Promise.all(clients.map((child) => child.status));

    const latencies = results.flatMap((r) => r.latencies as number[]).sort((a, b) => a - b);
    const at = (q: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
    const p99 = at(0.99);
    console.log(
      `punch load: ${sessions} waiting sessions across 2 punch serve (${bus} bus, ${v8Flags}), ` +
        `all waiting after ${waitingSeconds.toFixed(1)} s; ${latencies.length} pairings ` +
        `across instances at ${rate}/s, ` +
        (hold ? "every pair kept open" : `each pair then leaves and ${sessions} stay waiting`),
    );
    console.log(
      `pairing latency: p50 ${at(0.5).toFixed(1)} ms, p90 ${at(0.9).toFixed(1)} ms, ` +
        `p99 ${p99.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`,
    );
    peaks.forEach((peak, i) => {
      console.log(
        `instance ${"AB"[i]}: peak RSS ${peak.toFixed(0)} MB ` +
          `(${baseline[i]!.toFixed(0)} MB at start; up to ${sockets[i]} sockets), ` +
          `${(cpu[i]! * 100).toFixed(0)}% of a core while pairing`,
      );
    });
    const ok = p99 < TARGET_P99_MS && peaks.every((peak) => peak < TARGET_RSS_MB) &&
      latencies.length === sessions;
    console.log(
      `targets: p99 < ${TARGET_P99_MS} ms, peak RSS < ${TARGET_RSS_MB} MB per instance: ` +
        (ok ? "met" : "MISSED"),
    );
    return ok ? 0 : 1;
  } finally {
    for (const child of serves) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
    }
    if (kvDir) await Deno.remove(kvDir, { recursive: true });
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "--client") {
    const [, from, to, count, rate, hold] = Deno.args;
    await client(from!, to!, Number(count), Number(rate), hold === "true");
  } else {
    const { values } = parseArgs({
      args: Deno.args,
      options: {
        sessions: { type: "string", default: "10000" },
        rate: { type: "string", default: "250" },
        bus: { type: "string", default: "redis" },
        hold: { type: "boolean", default: false },
        "v8-flags": { type: "string", default: CLUSTER_V8_FLAGS },
      },
    });
    if (values.bus !== "redis" && values.bus !== "kv") {
      console.error(`error: --bus ${values.bus}: expected redis or kv`);
      Deno.exit(2);
    }
    Deno.exit(
      await orchestrate({
        sessions: Number(values.sessions),
        rate: Number(values.rate),
        bus: values.bus,
        hold: values.hold,
        v8Flags: values["v8-flags"],
      }),
    );
  }
}
