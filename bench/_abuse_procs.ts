// Processes for `deno task abuse`: punch commands whose JSON events are read
// and whose memory is sampled, and one honest transfer through a server.

import { Buffer } from "node:buffer";
import { join } from "node:path";
import { procStatusKiB } from "./_proc.ts";
import denoJson from "../deno.json" with { type: "json" };

const ROOT = new URL("..", import.meta.url).pathname;
const CLI = join(ROOT, "cli/main.ts");
/** The V8 flags the compiled binary and `deno task serve` run with. */
const V8_FLAGS = /--v8-flags=\S+/.exec(denoJson.tasks.compile)?.[0] ?? "--v8-flags=--expose-gc";
const MiB = 1024 * 1024;

/** One line of `--json` output. */
export type JsonEvent = Record<string, unknown> & { type: string };

/** Options for {@linkcode Proc}. */
export interface ProcOptions {
  /** Run under `ulimit -n` of this many descriptors. */
  descriptors?: number;
}

/** A deno child process: its JSON events, its exit, and its peak RSS between resets. */
export class Proc {
  readonly child: Deno.ChildProcess;
  readonly events: JsonEvent[] = [];
  readonly status: Promise<Deno.CommandStatus>;
  readonly stderr: Promise<string>;
  exited = false;
  #peakKiB = 0;
  #waiters: { type: string; resolve: (e: JsonEvent) => void }[] = [];
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(args: string[], options: ProcOptions = {}) {
    const command = [Deno.execPath(), ...args];
    this.child = new Deno.Command("sh", {
      args: [
        "-c",
        `${options.descriptors ? `ulimit -n ${options.descriptors} && ` : ""}exec "$@"`,
        "sh",
        ...command,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.stderr = new Response(this.child.stderr).text();
    this.#read();
    this.#timer = setInterval(() => this.sample(), 20);
    this.status = this.child.status.then((status) => {
      this.exited = true;
      clearInterval(this.#timer);
      return status;
    });
  }

  /** A punch command with the binary's V8 flags. */
  static punch(args: string[], options: ProcOptions = {}): Proc {
    return new Proc(["run", "-A", V8_FLAGS, CLI, ...args], options);
  }

  /** RSS now, in MiB (0 once exited). */
  get rssMiB(): number {
    try {
      return procStatusKiB(this.child.pid, "VmRSS")[0]! / 1024;
    } catch {
      return 0;
    }
  }

  /** The highest RSS sampled since the last {@linkcode resetPeak}, in MiB. */
  get peakMiB(): number {
    this.sample();
    return this.#peakKiB / 1024;
  }

  resetPeak(): void {
    this.#peakKiB = 0;
    this.sample();
  }

  sample(): void {
    try {
      this.#peakKiB = Math.max(this.#peakKiB, procStatusKiB(this.child.pid, "VmRSS")[0]!);
    } catch { /* exited */ }
  }

  /** The first event of `type`, now or later; rejects after `timeoutMs` or at exit. */
  event(type: string, timeoutMs = 60_000): Promise<JsonEvent> {
    const seen = this.events.find((e) => e.type === type);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${type}" within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const settle = (e: JsonEvent) => (clearTimeout(timer), resolve(e));
      this.#waiters.push({ type, resolve: settle });
      this.status.then(async () => {
        clearTimeout(timer);
        reject(new Error(`exited before "${type}": ${(await this.stderr).trim().slice(-300)}`));
      });
    });
  }

  /** The last error event's message, if any. */
  get error(): string | undefined {
    return this.events.findLast((e) => e.type === "error")?.message as string | undefined;
  }

  kill(): void {
    try {
      this.child.kill("SIGKILL");
    } catch { /* exited */ }
  }

  async #read(): Promise<void> {
    let buffer = "";
    for await (const text of this.child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += text;
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      for (const line of lines) {
        let event: JsonEvent;
        try {
          event = JSON.parse(line);
        } catch {
          continue;
        }
        this.events.push(event);
        for (const waiter of this.#waiters.filter((w) => w.type === event.type)) {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          waiter.resolve(event);
        }
      }
    }
  }
}

/** A waiting `punch send` of `path` through `url`; resolves once it has its code. */
export async function waitingSender(url: string, path: string): Promise<[Proc, string]> {
  const sender = Proc.punch([
    "send",
    "--json",
    "--no-port-mapping",
    "--relay-only",
    "--server",
    url,
    path,
  ]);
  const code = (await sender.event("code")).code as string;
  return [sender, code];
}

/** `punch receive` of `code` into `out`, accepting at once. */
export function receiver(url: string, code: string, out: string): Proc {
  return Proc.punch([
    "receive",
    "--json",
    "--no-port-mapping",
    "--relay-only",
    "--yes",
    "--server",
    url,
    "--out",
    out,
    code,
  ]);
}

/** What an honest transfer came to. */
export interface TransferResult {
  ok: boolean;
  seconds: number;
  /** `byte-identical`, or what went wrong. */
  detail: string;
}

/** Sends `file` from `sender` (waiting on `code`) to a new receiver; checks the copy. */
export async function finishTransfer(
  url: string,
  sender: Proc,
  code: string,
  file: string,
  out: string,
  timeoutMs = 60_000,
): Promise<TransferResult> {
  const start = performance.now();
  const receiving = receiver(url, code, out);
  const timer = setTimeout(() => (sender.kill(), receiving.kill()), timeoutMs);
  const [sent, received] = await Promise.all([sender.status, receiving.status]);
  clearTimeout(timer);
  const seconds = (performance.now() - start) / 1000;
  if (!sent.success || !received.success) {
    const why = receiving.error ?? sender.error ?? `exit ${sent.code}/${received.code}`;
    return { ok: false, seconds, detail: `failed: ${why}` };
  }
  const copy = join(out, file.split("/").pop()!);
  if ((await Deno.stat(file)).isDirectory) return { ok: true, seconds, detail: "arrived" };
  const same = Buffer.from(await Deno.readFile(file)).equals(await Deno.readFile(copy));
  return { ok: same, seconds, detail: same ? "byte-identical" : "the copy differs" };
}

/** One honest transfer of `file` through `url`, start to end. */
export async function transfer(url: string, file: string, out: string): Promise<TransferResult> {
  try {
    const [sender, code] = await waitingSender(url, file);
    return await finishTransfer(url, sender, code, file, out);
  } catch (error) {
    return { ok: false, seconds: 0, detail: `failed: ${(error as Error).message}` };
  }
}

/** Writes `size` random bytes to `path`. */
export async function randomFile(path: string, size: number): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(MiB);
  for (let left = size; left > 0; left -= chunk.length) {
    crypto.getRandomValues(chunk.subarray(0, 65536));
    chunk.copyWithin(65536, 0, MiB - 65536);
    const part = chunk.subarray(0, Math.min(left, chunk.length));
    for (let n = 0; n < part.length;) n += await file.write(part.subarray(n));
  }
}
