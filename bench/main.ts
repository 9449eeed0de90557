/**
 * `deno task bench`: moves one file on loopback through a raw TCP pipe,
 * through punch's relay (`--relay-only`) and over punch's direct path
 * (`--direct-only`) in the same run, and prints throughput and each
 * process's peak RSS side by side.
 *
 *   deno task bench [--size MiB] [--small MiB] [--rounds N] [--pipe MiB] [--against DIR]
 *
 * The punch processes run with the V8 flags the compiled binary has
 * (`deno task compile`: `--expose-gc`, see lib/memory.ts, and
 * `--heap-growing-percent=25`). A raw run first, not counted, leaves a
 * copy behind, and every run writes into the pages of the copy before it,
 * freed from its end just ahead of the writer (see donatePreviousCopy: on a
 * VM that gives free pages back to its host, writing into them afresh costs
 * more than the transfer itself, and the bench prints how much). Then the
 * three large transfers run in turn, `--rounds` times (5 by default), and
 * each row shows the median with the range. A small transfer per path then
 * shows whether peak RSS grows with the file size. Peak RSS is read from
 * /proc (Linux), with its anonymous part (the rest is the deno executable's
 * own pages, shared); elsewhere it prints "n/a". Last, `--pipe` MiB (256 by
 * default) go over the relay from a file to a file and from a pipe to a
 * pipe (`punch send -`, `punch receive --out -`), with each side's peak RSS
 * (bench/pipe.ts).
 *
 * `--against DIR` runs another checkout of punch (say `git worktree add DIR
 * 32b5f85`) in the same rounds, its relay and direct transfers right after
 * this one's, with the same flags and files, each in its own directory (so
 * that it resolves its own deno.json): versions compared within one run,
 * where the figures of separate runs differ by more than the versions do.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { parseArgs } from "node:util";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { procCpuSeconds, procStatusKiB } from "./_proc.ts";
import { pipeVersusFile } from "./pipe.ts";
import denoJson from "../deno.json" with { type: "json" };

const ROOT = new URL("..", import.meta.url).pathname;
const CLI = join(ROOT, "cli/main.ts");
const RAW = join(ROOT, "bench/_raw_tcp.ts");
const FOOTPRINT = join(ROOT, "bench/_footprint.ts");
/** The V8 flags `deno task compile` bakes into the binary, so the bench measures what ships. */
const V8_FLAGS = /--v8-flags=\S+/.exec(denoJson.tasks.compile)?.[0];
if (V8_FLAGS === undefined) throw new Error("deno.json: the compile task sets no --v8-flags");
const PUNCH_FLAGS = ["run", "-A", V8_FLAGS, CLI];

/** A punch to run: its command line, and the directory it runs in. */
interface Punch {
  flags: string[];
  cwd: string;
}

const THIS_PUNCH: Punch = { flags: PUNCH_FLAGS, cwd: ROOT };
const MiB = 1024 * 1024;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    size: { type: "string", default: "1024" },
    small: { type: "string", default: "64" },
    rounds: { type: "string", default: "5" },
    pipe: { type: "string", default: "256" },
    against: { type: "string" },
  },
});

/** A child process whose peak RSS and CPU time are sampled until it exits. */
class Child {
  readonly process: Deno.ChildProcess;
  peakKiB = 0;
  peakAnonKiB = 0;
  /** User and system CPU seconds at the last sample, up to 50 ms before the exit. */
  cpu: [number, number] = [0, 0];
  readonly #timer: ReturnType<typeof setInterval>;
  readonly stdout: ReadableStream<string>;

  constructor(args: string[], cwd = ROOT) {
    this.process = new Deno.Command(Deno.execPath(), {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.stdout = this.process.stdout.pipeThrough(new TextDecoderStream());
    this.#timer = setInterval(() => this.#sample(), 50);
    this.process.status.then(() => clearInterval(this.#timer));
  }

  #sample(): void {
    try {
      const [hwm = 0, anon = 0] = procStatusKiB(this.process.pid, "VmHWM", "RssAnon");
      this.peakKiB = Math.max(this.peakKiB, hwm);
      this.peakAnonKiB = Math.max(this.peakAnonKiB, anon);
      this.cpu = procCpuSeconds(this.process.pid);
    } catch { /* exited, or not Linux */ }
  }

  /** Peak RSS in MiB, and peak anonymous RSS (0 where /proc is missing). */
  get peak(): [number, number] {
    return [this.peakKiB / 1024, this.peakAnonKiB / 1024];
  }

  /** Resolves with the first stdout line matching `test`. */
  async line(test: (line: string) => boolean): Promise<string> {
    let buffer = "";
    const reader = this.stdout.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("process ended before the expected output");
      buffer += value;
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      const hit = lines.find(test);
      if (hit !== undefined) {
        reader.releaseLock();
        this.stdout.pipeTo(new WritableStream()).catch(() => {});
        return hit;
      }
    }
  }

  async finish(): Promise<void> {
    this.#sample();
    const status = await this.process.status;
    if (!status.success) throw new Error(`a benchmark process failed (exit ${status.code})`);
  }
}

async function writeFile(path: string, bytes: number): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(MiB);
  for (let left = bytes; left > 0; left -= chunk.length) {
    crypto.getRandomValues(chunk.subarray(0, 65536));
    chunk.copyWithin(65536, 0, MiB - 65536);
    const part = chunk.subarray(0, Math.min(left, chunk.length));
    for (let n = 0; n < part.length;) n += await file.write(part.subarray(n));
  }
  // On disk before measuring: otherwise the kernel writes the file back during
  // the runs, on the same two cores.
  await file.syncData();
}

async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([Deno.stat(a), Deno.stat(b)]);
  if (x.size !== y.size) return false;
  using fa = await Deno.open(a);
  using fb = await Deno.open(b);
  const ba = new Uint8Array(MiB);
  const bb = new Uint8Array(MiB);
  for (;;) {
    const n = await fa.read(ba);
    if (n === null) return true;
    let m = 0;
    while (m < n) m += (await fb.read(bb.subarray(m, n)))!;
    if (!Buffer.from(ba.buffer, 0, n).equals(bb.subarray(0, n))) return false;
  }
}

/** Where the previous run's copy waits to give its pages to the next run. */
const DONOR_NAME = "previous-copy.donor";
/** How far ahead of the receiver the donor frees pages: 0.15–0.5 s of writing at 300–900 MB/s. */
const DONOR_LEAD = 192 * MiB;

let previousCopy: string | undefined;

/**
 * Hands the last run's copy over to the next run's receiver, page by page,
 * and remembers `next` (a file) as the copy to hand over after this run.
 *
 * This VM gives free pages back to its host within a second or two (free
 * page reporting), and the kernel then pays 2–3 s per GiB to write into
 * them again (the bench measures it, see {@linkcode pageCost}); pages freed
 * a moment before cost a tenth of that. Deleting the last copy before a run
 * made that cost depend on each run's speed: a raw pipe that writes its GiB
 * in half a second used warm pages only, a run of two or three seconds
 * found its later pages cold and paid up to twice its own work. Bare metal
 * and most VMs have no such cost. So the previous copy is moved aside and
 * shortened from its end while the new copy grows, staying
 * {@linkcode DONOR_LEAD} ahead, and every row writes into pages freed a
 * moment before. Disposing of the result (`await using`) stops that and
 * deletes what is left, also when the run failed.
 */
async function donatePreviousCopy(next: string, outPath: string): Promise<AsyncDisposable> {
  const donor = join(dir, DONOR_NAME);
  if (previousCopy === undefined) {
    previousCopy = next;
    return { [Symbol.asyncDispose]: async () => {} };
  }
  await Deno.rename(previousCopy, donor);
  previousCopy = next;
  await Deno.remove(outPath, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  const file = await Deno.open(donor, { write: true });
  const size = (await file.stat()).size;
  let stopped = false;
  const loop = (async () => {
    for (let keep = size; keep > 0 && !stopped;) {
      keep = Math.max(0, size - DONOR_LEAD - await bytesUnder(outPath));
      await file.truncate(keep);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    async [Symbol.asyncDispose]() {
      stopped = true;
      await loop;
      file.close();
      await Deno.remove(donor);
    },
  };
}

/** The bytes in the file at `path`, or in every file under it; 0 if it is missing. */
async function bytesUnder(path: string): Promise<number> {
  try {
    const info = await Deno.stat(path);
    if (!info.isDirectory) return info.size;
    let sum = 0;
    for await (const entry of Deno.readDir(path)) sum += await bytesUnder(join(path, entry.name));
    return sum;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 0;
    throw e;
  }
}

/**
 * Seconds to write `bytes` of zeros into the page cache (synchronous 1 MiB
 * writes, little else) right after freeing as many pages, and after waiting
 * `pause` seconds: what {@linkcode donatePreviousCopy} spares the runs here.
 */
async function pageCost(bytes: number, pause: number): Promise<[number, number]> {
  const scratch = join(dir, "page-cost.tmp");
  const chunk = new Uint8Array(MiB);
  const write = () => {
    const start = performance.now();
    using file = Deno.openSync(scratch, { write: true, create: true, truncate: true });
    for (let left = bytes; left > 0; left -= chunk.length) {
      const part = chunk.subarray(0, Math.min(left, chunk.length));
      for (let n = 0; n < part.length;) n += file.writeSync(part.subarray(n));
    }
    return (performance.now() - start) / 1000;
  };
  write();
  Deno.removeSync(scratch);
  const warm = write();
  Deno.removeSync(scratch);
  await new Promise((resolve) => setTimeout(resolve, pause * 1000));
  const cold = write();
  Deno.removeSync(scratch);
  return [warm, cold];
}

/** One measured run. */
interface Run {
  /** From starting the receiving process to both processes' exit. */
  seconds: number;
  /** The transfer alone, by punch's own clock: from acceptance to the verified end. */
  transferSeconds?: number;
  bytes: number;
  /** Per process, by role: peak [RSS, anonymous RSS] in MiB, and [user, system] CPU seconds. */
  procs: { role: string; peak: [number, number]; cpu: [number, number] }[];
}

function proc(role: string, child: Child): Run["procs"][number] {
  return { role, peak: child.peak, cpu: child.cpu };
}

async function rawTcp(file: string, out: string): Promise<Run> {
  await using _donor = await donatePreviousCopy(out, out);
  const receiver = new Child(["run", "-A", RAW, "receive", out]);
  const port = await receiver.line((l) => /^\d+$/.test(l.trim()));
  const start = performance.now();
  const sender = new Child(["run", "-A", RAW, "send", port.trim(), file]);
  await Promise.all([sender.finish(), receiver.finish()]);
  const seconds = (performance.now() - start) / 1000;
  if (!await sameFile(file, out)) throw new Error("raw TCP copy differs");
  return {
    seconds,
    bytes: (await Deno.stat(file)).size,
    procs: [proc("send", sender), proc("receive", receiver)],
  };
}

async function punchRun(
  file: string,
  outDir: string,
  path: "relay" | "direct",
  punch: Punch = THIS_PUNCH,
): Promise<Run> {
  const server = new Child([
    ...punch.flags,
    "serve",
    "--hostname",
    "127.0.0.1",
    "--port",
    "0",
    "--json",
  ], punch.cwd);
  const url = JSON.parse(await server.line((l) => l.includes('"listening"'))).url;
  const pathFlag = path === "relay" ? "--relay-only" : "--direct-only";
  // On loopback there is no router to ask for a port mapping.
  const sender = new Child([
    ...punch.flags,
    "send",
    "--json",
    pathFlag,
    "--no-port-mapping",
    "--server",
    url,
    file,
  ], punch.cwd);
  const code = JSON.parse(await sender.line((l) => l.includes('"code"'))).code;
  const copy = join(outDir, file.split("/").pop()!);
  await using _donor = await donatePreviousCopy(copy, outDir);
  const start = performance.now();
  const receiver = new Child([
    ...punch.flags,
    "receive",
    "--json",
    "--no-port-mapping",
    "--yes",
    "--server",
    url,
    "--out",
    outDir,
    code,
  ], punch.cwd);
  const done = JSON.parse(await receiver.line((l) => l.includes('"done"')));
  if (done.path !== path) throw new Error(`the transfer ended on ${done.path}, not ${path}`);
  await Promise.all([sender.finish(), receiver.finish()]);
  const seconds = (performance.now() - start) / 1000;
  server.process.kill("SIGTERM");
  await server.process.status;
  if (!await sameFile(file, copy)) {
    throw new Error("punch copy differs");
  }
  return {
    seconds,
    transferSeconds: done.seconds,
    bytes: done.bytes,
    procs: path === "relay"
      ? [proc("send", sender), proc("relay", server), proc("receive", receiver)]
      : [proc("send", sender), proc("receive", receiver)],
  };
}

/** The punch checked out at `dir`, named by its commit where git knows it. */
async function otherPunch(dir: string): Promise<Punch & { name: string }> {
  const cli = join(dir, "cli/main.ts");
  await Deno.stat(cli).catch(() => {
    throw new Error(`--against ${dir}: no punch checkout there (no cli/main.ts)`);
  });
  const head = await new Deno.Command("git", {
    args: ["-C", dir, "rev-parse", "--short", "HEAD"],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => null);
  const commit = head?.success ? new TextDecoder().decode(head.stdout).trim() : "";
  return { name: commit || dir, flags: ["run", "-A", V8_FLAGS!, cli], cwd: dir };
}

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** `median (min–max)` of rates in MB/s. */
function rates(bytes: number, seconds: number[]): string {
  const mbs = seconds.map((s) => bytes / s / 1e6);
  const text = median(mbs).toFixed(0);
  return mbs.length < 2
    ? text
    : `${text} (${Math.min(...mbs).toFixed(0)}–${Math.max(...mbs).toFixed(0)})`;
}

/**
 * Peak RSS and its anonymous part in MiB of a deno process that imports
 * `modules` and ends, with punch's V8 flags; null where /proc is missing.
 */
async function footprint(...modules: string[]): Promise<[number, number] | null> {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", V8_FLAGS!, FOOTPRINT, ...modules],
    stdin: "null",
    stderr: "inherit",
  }).output();
  if (!success) throw new Error("bench/_footprint.ts failed");
  const peak = JSON.parse(new TextDecoder().decode(stdout));
  return peak === null ? null : [peak.rssKiB / 1024, peak.anonKiB / 1024];
}

/** `RSS (anonymous)` in MB, or n/a. */
function mb(peak: [number, number] | null): string {
  return peak === null ? "n/a" : `${peak[0].toFixed(0)} (${peak[1].toFixed(0)})`;
}

/** Each role's highest peak RSS over the runs, with its anonymous part. */
function peaks(runs: Run[]): string {
  return runs[0]!.procs.map(({ role }, i) => {
    const rss = Math.max(...runs.map((run) => run.procs[i]!.peak[0]));
    const anon = Math.max(...runs.map((run) => run.procs[i]!.peak[1]));
    return rss ? `${role} ${rss.toFixed(0)} (${anon.toFixed(0)})` : `${role} n/a`;
  }).join(", ");
}

/** Each role's median user and system CPU seconds over the runs. */
function cpuTimes(runs: Run[]): string {
  return runs[0]!.procs.map(({ role }, i) => {
    const [user, system] = [0, 1].map((k) => median(runs.map((run) => run.procs[i]!.cpu[k]!)));
    return user || system ? `${role} ${user!.toFixed(2)} + ${system!.toFixed(2)}` : `${role} n/a`;
  }).join(", ");
}

const dir = await Deno.makeTempDir({ prefix: "punch-bench-" });
try {
  const size = Number(values.size) * MiB;
  const small = Number(values.small) * MiB;
  const rounds = Math.max(1, Number(values.rounds));
  const big = join(dir, "big.bin");
  const little = join(dir, "small.bin");
  console.log(`Writing ${values.size} MiB and ${values.small} MiB test files…`);
  await writeFile(big, size);
  await writeFile(little, small);
  const rows: [string, Run[]][] = [
    ["raw TCP pipe (deno)", []],
    ["punch relay", []],
    ["punch direct", []],
  ];
  const against = values.against === undefined ? undefined : await otherPunch(values.against);
  if (against) rows.push([`  ${against.name} relay`, []], [`  ${against.name} direct`, []]);
  // Not counted: the first file written after the test files lands on pages
  // the guest has not used for a while, which costs several times more on
  // a VM (the host took them back); later runs reuse the pages the previous
  // run freed. Without this, whichever row runs first looks slow.
  console.log("Warm-up: one raw TCP run, not counted…");
  await rawTcp(big, join(dir, "warm-up.out"));
  for (let round = 1; round <= rounds; round++) {
    console.log(`Round ${round} of ${rounds}: raw, relay, direct…`);
    rows[1]![1].push(await punchRun(big, join(dir, "out"), "relay"));
    if (against) rows[3]![1].push(await punchRun(big, join(dir, "out"), "relay", against));
    rows[2]![1].push(await punchRun(big, join(dir, "out"), "direct"));
    if (against) rows[4]![1].push(await punchRun(big, join(dir, "out"), "direct", against));
    rows[0]![1].push(await rawTcp(big, join(dir, "raw.out")));
  }
  for (const path of ["relay", "direct"] as const) {
    rows.push([`punch ${path} (${values.small} MiB)`, [
      await punchRun(little, join(dir, "out"), path),
    ]]);
  }

  console.log(
    `\nOne file on loopback, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}, ` +
      `${rounds} rounds`,
  );
  console.log(
    `${"".padEnd(26)}${"MiB".padStart(5)}${"MB/s end to end".padStart(18)}${
      "MB/s transfer".padStart(18)
    }  peak RSS MB (anonymous)`,
  );
  for (const [name, runs] of rows) {
    const bytes = runs[0]!.bytes;
    const transfer = runs[0]!.transferSeconds === undefined
      ? "="
      : rates(bytes, runs.map((run) => run.transferSeconds!));
    console.log(
      `${name.padEnd(26)}${(bytes / MiB).toFixed(0).padStart(5)}${
        rates(bytes, runs.map((run) => run.seconds)).padStart(18)
      }${transfer.padStart(18)}  ${peaks(runs)}`,
    );
  }
  console.log(`\nCPU seconds per process, user + system, median of the rounds`);
  for (const [name, runs] of rows.slice(0, against ? 5 : 3)) {
    console.log(`${name.padEnd(26)}${cpuTimes(runs)}`);
  }
  console.log(
    "\nMB/s: the median of the rounds, with the slowest and fastest. end to end: from starting\n" +
      "the receiver to both processes' exit (startup, pairing, key exchange and, for direct,\n" +
      "punching included). transfer: by punch's own clock, from the offer's acceptance to the\n" +
      "verified end. peak RSS: the highest over the rounds; in brackets its anonymous part, the\n" +
      "rest being pages of the deno executable itself, shared between processes.",
  );
  const [warm, cold] = await pageCost(size, 3);
  console.log(
    `\nThis machine's page cache: writing ${values.size} MiB took ${warm.toFixed(2)} s into ` +
      `pages freed just before, ${cold.toFixed(2)} s into pages freed 3 s before.\n` +
      "Every run above wrote into pages its predecessor freed just ahead of it.",
  );
  const empty = await footprint();
  const net = await footprint("node:net");
  const loaded = await footprint(pathToFileURL(CLI).href);
  console.log(
    `\nThe floor under those peaks, same flags: an empty deno process ${mb(empty)}; ` +
      `one that imports node:net\n(which dials from the listening port need) ${mb(net)}; ` +
      `punch with its code loaded, before any work, ${mb(loaded)}.`,
  );
  console.log(`\n${(await pipeVersusFile(PUNCH_FLAGS, dir, Number(values.pipe))).join("\n")}`);
  console.log(
    "\nTargets: relay >= 300 MB/s (issue 2), direct >= 450 MB/s (issue 3); <= 64 MB RSS per process, flat in file size.",
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
