/**
 * A figure of `deno task bench`: the same number of bytes through punch's
 * relay twice, once from a file to a file and once from a pipe to a pipe
 * (`producer | punch send -`, `punch receive --out - | consumer`), with each
 * side's peak RSS side by side: a stream must cost no more memory than a
 * file. The bytes are random; the copy is checked (a file byte for byte, the
 * stream by SHA-256) and the bench throws if it differs.
 *
 *   deno run -A bench/pipe.ts [--size MiB]
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { procStatusKiB } from "./_proc.ts";

const MiB = 1024 * 1024;
const CLI = new URL("../cli/main.ts", import.meta.url).pathname;

/** A punch process whose peak RSS is sampled until it exits. */
class Sampled {
  readonly process: Deno.ChildProcess;
  peakKiB = 0;
  /** What it printed on stderr (human lines; shown if it fails). */
  readonly stderr: Promise<string>;

  constructor(flags: string[], args: string[], stdin: "piped" | "null" = "null") {
    this.process = new Deno.Command(Deno.execPath(), {
      args: [...flags, ...args],
      stdin,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.stderr = new Response(this.process.stderr).text();
    const timer = setInterval(() => this.#sample(), 50);
    this.process.status.then(() => clearInterval(timer));
  }

  #sample(): void {
    try {
      this.peakKiB = Math.max(this.peakKiB, procStatusKiB(this.process.pid, "VmHWM")[0] ?? 0);
    } catch { /* exited, or not Linux */ }
  }

  /** Peak RSS in MB, or n/a where /proc is missing. */
  get peak(): string {
    return this.peakKiB ? (this.peakKiB / 1024).toFixed(0) : "n/a";
  }

  /** The first stdout line that holds `text`; the rest of stdout is read and dropped. */
  async line(text: string): Promise<string> {
    const reader = this.process.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`a bench process ended before printing ${text}`);
      buffer += value;
      const hit = buffer.split("\n").find((line) => line.includes(text));
      if (hit !== undefined) {
        (async () => {
          while (!(await reader.read()).done);
        })();
        return hit;
      }
    }
  }

  async finish(): Promise<void> {
    const status = await this.process.status;
    if (!status.success) {
      throw new Error(`a bench process failed (exit ${status.code}):\n${await this.stderr}`);
    }
  }
}

/** Random bytes, 1 MiB at a time, hashed into `hash` as they go. */
function* randomChunks(bytes: number, hash: ReturnType<typeof createHash>) {
  for (let left = bytes; left > 0; left -= MiB) {
    const chunk = new Uint8Array(Math.min(MiB, left));
    for (let at = 0; at < chunk.length; at += 65536) {
      crypto.getRandomValues(chunk.subarray(at, at + 65536));
    }
    hash.update(chunk);
    yield chunk;
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** One transfer over the relay of `server`: the sender's and receiver's peak RSS. */
async function run(
  flags: string[],
  server: string,
  source: { file: string } | { bytes: number },
  out: string,
): Promise<[string, string]> {
  const common = ["--no-port-mapping", "--server", server];
  const fromPipe = !("file" in source);
  const sender = new Sampled(
    flags,
    ["send", "--json", "--relay-only", ...common, fromPipe ? "-" : source.file],
    fromPipe ? "piped" : "null",
  );
  const code = JSON.parse(await sender.line('"code"')).code;
  const receiver = new Sampled(flags, [
    "receive",
    "--yes",
    ...common,
    "--out",
    fromPipe ? "-" : out,
    code,
  ]);
  if (fromPipe) {
    const sent = createHash("sha256");
    const received = createHash("sha256");
    const feeding = (async () => {
      const writer = sender.process.stdin.getWriter();
      for (const chunk of randomChunks(source.bytes, sent)) await writer.write(chunk);
      await writer.close();
    })();
    for await (const chunk of receiver.process.stdout) received.update(chunk);
    await feeding;
    await Promise.all([sender.finish(), receiver.finish()]);
    if (sent.digest("hex") !== received.digest("hex")) throw new Error("the stream differs");
  } else {
    await receiver.process.stdout.cancel();
    await Promise.all([sender.finish(), receiver.finish()]);
    const copy = join(out, source.file.split("/").pop()!);
    if (await sha256File(copy) !== await sha256File(source.file)) {
      throw new Error("the copy differs");
    }
  }
  return [sender.peak, receiver.peak];
}

/**
 * Moves `sizeMiB` MiB from a file to a file and from a pipe to a pipe over
 * punch's relay, in `dir`; returns the lines of the figure.
 *
 * @param flags How to run punch: `run -A [--v8-flags=…]` and the CLI's path.
 */
export async function pipeVersusFile(
  flags: string[],
  dir: string,
  sizeMiB: number,
): Promise<string[]> {
  const server = new Sampled(flags, ["serve", "--hostname", "127.0.0.1", "--port", "0", "--json"]);
  try {
    const url = JSON.parse(await server.line('"listening"')).url;
    const file = join(dir, "pipe-bench.bin");
    {
      using out = await Deno.open(file, { write: true, create: true, truncate: true });
      for (const chunk of randomChunks(sizeMiB * MiB, createHash("sha256"))) {
        for (let n = 0; n < chunk.length;) n += await out.write(chunk.subarray(n));
      }
    }
    const outDir = join(dir, "pipe-bench-out");
    await Deno.mkdir(outDir, { recursive: true });
    const files = await run(flags, url, { file }, outDir);
    await Deno.remove(outDir, { recursive: true });
    await Deno.remove(file);
    const pipes = await run(flags, url, { bytes: sizeMiB * MiB }, outDir);
    return [
      `${sizeMiB} MiB through punch's relay, peak RSS MB of each side`,
      `${"file to file".padEnd(26)}send ${files[0]}, receive ${files[1]}`,
      `${"stdin to stdout (pipes)".padEnd(26)}send ${pipes[0]}, receive ${pipes[1]}`,
    ];
  } finally {
    server.process.kill("SIGTERM");
    await server.process.status;
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { size: { type: "string", default: "256" } },
  });
  const dir = await Deno.makeTempDir({ prefix: "punch-bench-pipe-" });
  try {
    for (const line of await pipeVersusFile(["run", "-A", CLI], dir, Number(values.size))) {
      console.log(line);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
