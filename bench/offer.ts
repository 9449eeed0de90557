/**
 * `deno run -A bench/offer.ts`: what a large or hostile offer costs the
 * receiving side (issue 16, findings 5, 6 and 8), measured on real
 * `punch serve` and `punch receive` processes on loopback.
 *
 *   deno run -A bench/offer.ts [--files N] [--tree DIR] [--only scan]
 *
 * For each manifest, a sender in this process offers it through the relay
 * (under the offer's flow control) to a real `punch receive --relay-only`,
 * and the bench prints the receiver's peak RSS (VmHWM from /proc, with its
 * anonymous part) and the time from the last offer piece to the answer:
 * accepted with `--yes` (the receiver's checks, then claimHeld() and the
 * answer), or refused without it (stdin is no terminal). Beside each, a
 * child process that only reads the manifest and JSON.parse()s it (how the
 * receiver read it before) shows that way's peak, in the same run; and a
 * tiny offer shows the receiver's floor.
 *
 * Then it scans a tree of `--files` empty files (10^6 by default, made
 * under `--tree`, /dev/shm by default, and removed after) in this process
 * and reports how long scanPaths() and the offer's encoding took and the
 * longest the event loop waited meanwhile (`--files 0` skips it, `--only
 * scan` runs only it).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { procStatusKiB } from "./_proc.ts";
import { openSender } from "../lib/connection/open.ts";
import { encodeManifestPieces, type ManifestEntry, scanPaths } from "../lib/transfer/manifest.ts";
import {
  decodeMessage,
  encodeMessage,
  OFFER_PIECE_BYTES,
  type TransferMsg,
} from "../lib/transfer/messages.ts";
import type { Channel } from "../lib/link/channel.ts";
import denoJson from "../deno.json" with { type: "json" };

const ROOT = new URL("..", import.meta.url).pathname;
const CLI = join(ROOT, "cli/main.ts");
/** The V8 flags `deno task compile` bakes into the binary, so the bench measures what ships. */
const V8_FLAGS = /--v8-flags=\S+/.exec(denoJson.tasks.compile)![0];
const MiB = 1024 * 1024;
const ENCODER = new TextEncoder();

const { values } = parseArgs({
  args: Deno.args,
  options: {
    files: { type: "string", default: "1000000" },
    tree: { type: "string", default: "/dev/shm" },
    only: { type: "string" },
  },
});

/** A child process whose peak RSS is sampled until it exits. */
class Sampled {
  readonly process: Deno.ChildProcess;
  peak = [0, 0];
  readonly #timer: ReturnType<typeof setInterval>;
  readonly output: Promise<string>;

  constructor(args: string[], stdin: "null" | "piped" = "null") {
    this.process = new Deno.Command(Deno.execPath(), {
      args,
      stdin,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.output = new Response(this.process.stdout).text();
    new Response(this.process.stderr).text().catch(() => {});
    this.#timer = setInterval(() => this.#sample(), 20);
    this.process.status.then(() => clearInterval(this.#timer));
  }

  #sample(): void {
    try {
      const [hwm = 0, anon = 0] = procStatusKiB(this.process.pid, "VmHWM", "RssAnon");
      this.peak = [Math.max(this.peak[0]!, hwm), Math.max(this.peak[1]!, anon)];
    } catch { /* exited */ }
  }

  /** `123 MiB (anon 80)` */
  get shown(): string {
    return `${(this.peak[0]! / 1024).toFixed(0)} MiB (anon ${(this.peak[1]! / 1024).toFixed(0)})`;
  }
}

/** Offers `bytes` as the manifest, as sendFiles() does; resolves with the reply that ends the offer. */
async function offerBytes(channel: Channel, bytes: Uint8Array): Promise<[TransferMsg, number]> {
  for (let at = 0; at === 0 || at < bytes.length; at += OFFER_PIECE_BYTES) {
    const piece = bytes.subarray(at, at + OFFER_PIECE_BYTES);
    const more = at + OFFER_PIECE_BYTES < bytes.length;
    await channel.send(encodeMessage({ type: "offer", more, piece }));
  }
  const sentAt = performance.now();
  return [decodeMessage((await channel.receive())!), sentAt];
}

/** Offers `bytes` to a real receiver; prints its peak RSS and how it answered, and when. */
async function run(server: string, name: string, bytes: Uint8Array, yes: boolean): Promise<void> {
  const out = await Deno.makeTempDir({ prefix: "punch-bench-offer-" });
  try {
    const connection = await openSender(server, { direct: "never", portMapping: false });
    const receiver = new Sampled([
      "run",
      "-A",
      V8_FLAGS,
      CLI,
      "receive",
      "--no-port-mapping",
      "--json",
      "--relay-only",
      "--server",
      server,
      "--out",
      out,
      ...(yes ? ["--yes"] : []),
      connection.code,
    ]);
    const [reply, sentAt] = await offerBytes(connection, bytes);
    const seconds = ((performance.now() - sentAt) / 1000).toFixed(2);
    await connection.send(encodeMessage({
      type: "error",
      error: "cancelled",
      message: "the bench stops here",
    })).catch(() => {});
    await connection.close();
    await receiver.process.status;
    const said = reply.type === "answer"
      ? (reply.accept ? "accepted" : `refused: ${reply.reason.slice(0, 60)}`)
      : reply.type === "error"
      ? `error ${reply.error}: ${reply.message.slice(0, 70)}`
      : reply.type;
    console.log(
      `${name.padEnd(34)} ${(bytes.length / MiB).toFixed(1).padStart(5)} MiB  receiver ${
        receiver.shown.padEnd(18)
      } ${seconds.padStart(6)} s after the last piece: ${said}`,
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

/** The peak of a child that only reads `bytes` from a file and JSON.parse()s them. */
async function jsonParsePeak(bytes: Uint8Array): Promise<string> {
  const file = await Deno.makeTempFile({ prefix: "punch-bench-offer-" });
  try {
    await Deno.writeFile(file, bytes);
    const child = new Sampled([
      "eval",
      `try { JSON.parse(new TextDecoder().decode(Deno.readFileSync(${
        JSON.stringify(file)
      }))); } catch (e) { console.log(String(e).slice(0, 60)); }`,
    ]);
    await child.process.status;
    return child.shown;
  } finally {
    await Deno.remove(file);
  }
}

function entriesJson(entries: ManifestEntry[]): Uint8Array {
  const files = entries.filter((e) => e.kind === "file");
  const parts = [...encodeManifestPieces({
    entries,
    files: files.length,
    bytes: files.reduce((sum, e) => sum + e.size, 0),
  }, { pieceBytes: 8 * MiB })];
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

/** 10^6 entries, 1000 directories of 999 empty files: 54 MB. */
function million(): Uint8Array {
  const entries: ManifestEntry[] = [];
  for (let d = 0; d < 1000; d++) {
    const dir = `d${String(d).padStart(3, "0")}`;
    entries.push({ path: dir, kind: "dir", size: 0, mode: 0o755 });
    for (let f = 0; f < 999; f++) {
      entries.push({
        path: `${dir}/${String(f).padStart(3, "0")}`,
        kind: "file",
        size: 0,
        mode: 0o644,
      });
    }
  }
  return entriesJson(entries);
}

/** 16 800 files with 3.9 KB paths: just under 64 MiB. */
function longPaths(): Uint8Array {
  const dir = Array.from({ length: 15 }, (_, i) => `${i}`.padStart(250, "d")).join("/");
  const entries: ManifestEntry[] = [];
  for (let f = 0; f < 16_800; f++) {
    entries.push({ path: `${dir}/${f + 10_000}`, kind: "file", size: 1, mode: 0o644 });
  }
  return entriesJson(entries);
}

/** `{"junk":"xxx…",…}`: 64 MiB in an unknown field, then one honest entry. */
function junkField(): Uint8Array {
  const tail = ENCODER.encode(
    '","entries":[{"path":"a","kind":"file","size":0,"mode":420}],"files":1,"bytes":0}',
  );
  const bytes = new Uint8Array(64 * MiB).fill(0x78);
  bytes.set(ENCODER.encode('{"junk":"'));
  bytes.set(tail, bytes.length - tail.length);
  return bytes;
}

/** `{"x":[[[[…`: 64 MiB of nested arrays. */
function nested(): Uint8Array {
  const bytes = new Uint8Array(64 * MiB).fill(0x5b);
  bytes.set(ENCODER.encode('{"x":'));
  return bytes;
}

/** `{"x":[0,0,0,…]…`: 64 MiB of small values. */
function smallValues(): Uint8Array {
  const bytes = new Uint8Array(64 * MiB);
  for (let i = 0; i < bytes.length; i += 2) [bytes[i], bytes[i + 1]] = [0x30, 0x2c];
  bytes.set(ENCODER.encode('{"x":['));
  return bytes;
}

async function startServe(): Promise<{ url: string; process: Deno.ChildProcess }> {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", V8_FLAGS, CLI, "serve", "--hostname", "127.0.0.1", "--port", "0", "--json"],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("punch serve ended before listening");
    buffer += value;
    const line = buffer.split("\n").find((l) => l.includes('"listening"'));
    if (line) {
      reader.releaseLock();
      return { url: JSON.parse(line).url, process };
    }
  }
}

/** Scans a tree of `count` empty files in this process, timing the longest event-loop wait. */
async function scanBench(count: number, under: string): Promise<void> {
  const root = await Deno.makeTempDir({ dir: under, prefix: "punch-bench-offer-" });
  try {
    const perDir = 1000;
    let made = 1; // the tree's top directory
    const made0 = performance.now();
    for (let d = 0; made < count - 1; d++) {
      const dir = join(root, "t", `d${String(d).padStart(4, "0")}`);
      Deno.mkdirSync(dir, { recursive: true });
      for (let f = 0; f < perDir - 1 && made < count - 1; f++, made++) {
        Deno.writeFileSync(join(dir, String(f).padStart(3, "0")), new Uint8Array());
      }
      made++; // the directory
    }
    const makeSeconds = (performance.now() - made0) / 1000;
    let worst = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
    }, 5);
    const start = performance.now();
    const scan = await scanPaths([join(root, "t")]);
    const scanned = performance.now();
    let pieces = 0;
    for (const _ of encodeManifestPieces(scan.manifest, { pieceBytes: OFFER_PIECE_BYTES })) {
      pieces++;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    const encoded = performance.now();
    clearInterval(ticker);
    console.log(
      `scanPaths() of ${scan.manifest.entries.length} entries (made in ${
        makeSeconds.toFixed(1)
      } s): ${((scanned - start) / 1000).toFixed(2)} s; encoding ${pieces} pieces: ${
        ((encoded - scanned) / 1000).toFixed(2)
      } s; longest event-loop wait ${worst.toFixed(0)} ms`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const server = await startServe();
try {
  if (values.only === "scan") throw "skip";
  const cases: [string, () => Uint8Array, boolean][] = [
    ["tiny offer (the floor)", () =>
      ENCODER.encode(
        '{"entries":[{"path":"a","kind":"file","size":0,"mode":420}],"files":1,"bytes":0}',
      ), true],
    ["10^6 entries, --yes", million, true],
    ["10^6 entries, no --yes", million, false],
    ["64 MiB of long paths, --yes", longPaths, true],
    ["64 MiB of junk in an unknown field", junkField, true],
    ["64 MiB of nested arrays", nested, true],
    ["64 MiB of small values", smallValues, true],
  ];
  for (const [name, make, yes] of cases) {
    const bytes = make();
    await run(server.url, name, bytes, yes);
    if (bytes.length > MiB && yes) {
      console.log(
        `${"".padEnd(34)} ${"".padStart(9)}  JSON.parse() alone ${await jsonParsePeak(bytes)}`,
      );
    }
  }
} catch (error) {
  if (error !== "skip") throw error;
} finally {
  server.process.kill();
  await server.process.status;
}
if (Number(values.files) > 0) await scanBench(Number(values.files), values.tree);
