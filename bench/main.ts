/**
 * `deno task bench`: moves one file on loopback through a raw TCP pipe,
 * through punch's relay (`--relay-only`) and over punch's direct path
 * (`--direct-only`) in the same run, and prints throughput and each
 * process's peak RSS side by side.
 *
 *   deno task bench [--size MiB] [--small MiB]
 *
 * The punch processes run as the compiled binary does, with
 * `--v8-flags=--expose-gc` (see lib/memory.ts). A second, small transfer
 * shows whether peak RSS grows with the file size. Peak RSS is read from
 * /proc (Linux); elsewhere it prints "n/a".
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { parseArgs } from "node:util";
import { join } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;
const CLI = join(ROOT, "cli/main.ts");
const RAW = join(ROOT, "bench/_raw_tcp.ts");
const PUNCH_FLAGS = ["run", "-A", "--v8-flags=--expose-gc", CLI];
const MiB = 1024 * 1024;

const { values } = parseArgs({
  args: Deno.args,
  options: { size: { type: "string", default: "1024" }, small: { type: "string", default: "64" } },
});

/** A child process whose peak RSS is sampled until it exits. */
class Child {
  readonly process: Deno.ChildProcess;
  peakKiB = 0;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly stdout: ReadableStream<string>;

  constructor(args: string[]) {
    this.process = new Deno.Command(Deno.execPath(), {
      args,
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
      const status = Deno.readTextFileSync(`/proc/${this.process.pid}/status`);
      const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      this.peakKiB = Math.max(this.peakKiB, hwm);
    } catch { /* exited, or not Linux */ }
  }

  get peak(): string {
    return this.peakKiB ? `${(this.peakKiB / 1024).toFixed(0)} MB` : "n/a";
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

interface Row {
  name: string;
  /** From starting the receiving process to both processes' exit. */
  seconds: number;
  /** The transfer alone, by punch's own clock: from acceptance to the verified end. */
  transferSeconds?: number;
  bytes: number;
  rss: string;
}

async function rawTcp(file: string, out: string): Promise<Row> {
  const receiver = new Child(["run", "-A", RAW, "receive", out]);
  const port = await receiver.line((l) => /^\d+$/.test(l.trim()));
  const start = performance.now();
  const sender = new Child(["run", "-A", RAW, "send", port.trim(), file]);
  await Promise.all([sender.finish(), receiver.finish()]);
  const seconds = (performance.now() - start) / 1000;
  if (!await sameFile(file, out)) throw new Error("raw TCP copy differs");
  return {
    name: "raw TCP pipe (deno)",
    seconds,
    bytes: (await Deno.stat(file)).size,
    rss: `send ${sender.peak}, receive ${receiver.peak}`,
  };
}

async function punchRun(
  file: string,
  outDir: string,
  label: string,
  path: "relay" | "direct",
): Promise<Row> {
  const server = new Child([
    ...PUNCH_FLAGS,
    "serve",
    "--hostname",
    "127.0.0.1",
    "--port",
    "0",
    "--json",
  ]);
  const url = JSON.parse(await server.line((l) => l.includes('"listening"'))).url;
  const pathFlag = path === "relay" ? "--relay-only" : "--direct-only";
  const sender = new Child([...PUNCH_FLAGS, "send", "--json", pathFlag, "--server", url, file]);
  const code = JSON.parse(await sender.line((l) => l.includes('"code"'))).code;
  const start = performance.now();
  const receiver = new Child([
    ...PUNCH_FLAGS,
    "receive",
    "--json",
    "--yes",
    "--server",
    url,
    "--out",
    outDir,
    code,
  ]);
  const done = JSON.parse(await receiver.line((l) => l.includes('"done"')));
  if (done.path !== path) throw new Error(`the transfer ended on ${done.path}, not ${path}`);
  await Promise.all([sender.finish(), receiver.finish()]);
  const seconds = (performance.now() - start) / 1000;
  server.process.kill("SIGTERM");
  await server.process.status;
  if (!await sameFile(file, join(outDir, file.split("/").pop()!))) {
    throw new Error("punch copy differs");
  }
  return {
    name: `punch ${path}${label}`,
    seconds,
    transferSeconds: done.seconds,
    bytes: done.bytes,
    rss: path === "relay"
      ? `send ${sender.peak}, relay ${server.peak}, receive ${receiver.peak}`
      : `send ${sender.peak}, receive ${receiver.peak}`,
  };
}

const dir = await Deno.makeTempDir({ prefix: "punch-bench-" });
try {
  const size = Number(values.size) * MiB;
  const small = Number(values.small) * MiB;
  const big = join(dir, "big.bin");
  const little = join(dir, "small.bin");
  console.log(`Writing ${values.size} MiB and ${values.small} MiB test files…`);
  await writeFile(big, size);
  await writeFile(little, small);
  const rows: Row[] = [];
  rows.push(await rawTcp(big, join(dir, "raw.out")));
  await Deno.remove(join(dir, "raw.out"));
  for (const path of ["relay", "direct"] as const) {
    rows.push(await punchRun(big, join(dir, "out-big"), "", path));
    await Deno.remove(join(dir, "out-big"), { recursive: true });
    rows.push(await punchRun(little, join(dir, "out-small"), ` (${values.small} MiB)`, path));
    await Deno.remove(join(dir, "out-small"), { recursive: true });
  }

  console.log(
    `\nOne file on loopback, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}`,
  );
  console.log(
    `${"".padEnd(30)}${"MiB".padStart(6)}${"seconds".padStart(9)}${"MB/s".padStart(7)}${
      "transfer".padStart(10)
    }  peak RSS`,
  );
  for (const row of rows) {
    const rate = row.bytes / row.seconds / 1e6;
    const transfer = row.transferSeconds === undefined
      ? "="
      : `${(row.bytes / row.transferSeconds / 1e6).toFixed(0)}`;
    console.log(
      `${row.name.padEnd(30)}${(row.bytes / MiB).toFixed(0).padStart(6)}${
        row.seconds.toFixed(2).padStart(9)
      }${rate.toFixed(0).padStart(7)}${transfer.padStart(10)}  ${row.rss}`,
    );
  }
  console.log(
    "\nseconds and MB/s: from starting the receiver to both processes' exit (startup, pairing,\n" +
      "key exchange and, for direct, punching included). transfer: MB/s by punch's own clock,\n" +
      "from the offer's acceptance to the verified end.",
  );
  console.log(
    "\nTargets: relay >= 300 MB/s (issue 2), direct >= 450 MB/s (issue 3); <= 64 MB RSS per process, flat in file size.",
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
