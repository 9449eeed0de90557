/**
 * Helpers for end-to-end tests: real `punch` processes, their JSON events,
 * and comparing directory trees.
 *
 * @module
 */

import { equal, match } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";

const CLI = new URL("../cli/main.ts", import.meta.url).pathname;

/** One line of `--json` output. */
export type JsonEvent = Record<string, unknown> & { type: string };

/**
 * `send` and `receive` get `--no-port-mapping`: tests send nothing beyond
 * loopback, and a NAT-PMP request would go to this machine's router. The
 * NAT lab's tests run punch themselves, with port mapping.
 */
function offTheRouter(args: string[]): string[] {
  const [command, ...rest] = args;
  return command === "send" || command === "receive"
    ? [command, "--no-port-mapping", ...rest]
    : args;
}

/** A running `punch` process whose stdout is read as JSON lines. */
export class Punch {
  readonly child: Deno.ChildProcess;
  readonly events: JsonEvent[] = [];
  readonly #waiters: {
    type: string;
    test: (e: JsonEvent) => boolean;
    resolve: (e: JsonEvent) => void;
  }[] = [];
  readonly stderr: Promise<string>;
  readonly done: Promise<{ code: number; events: JsonEvent[]; stderr: string }>;

  constructor(
    args: string[],
    options: {
      env?: Record<string, string>;
      /** What the process reads on stdin, through a pipe; a stream is piped as it is read. */
      stdin?: string | ReadableStream<Uint8Array>;
      netns?: string;
    } = {},
  ) {
    const env: Record<string, string> = { NO_COLOR: "1", ...options.env };
    const punch = [Deno.execPath(), "run", "-A", CLI, ...offTheRouter(args)];
    const command = options.netns === undefined
      ? punch
      : ["ip", "netns", "exec", options.netns, ...punch];
    const child = new Deno.Command(command[0]!, {
      args: command.slice(1),
      env,
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.child = child;
    if (options.stdin instanceof ReadableStream) {
      options.stdin.pipeTo(child.stdin).catch(() => {});
    } else if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      writer.write(new TextEncoder().encode(options.stdin)).then(() => writer.close()).catch(
        () => {},
      );
    }
    const lines = this.#read();
    const stderrText = new Response(child.stderr).text();
    this.stderr = stderrText;
    this.done = (async () => {
      const [status, stderr] = await Promise.all([child.status, stderrText, lines]);
      return { code: status.code, events: this.events, stderr };
    })();
  }

  async #read(): Promise<void> {
    let buffer = "";
    for await (const chunk of this.child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        let event: JsonEvent;
        try {
          event = JSON.parse(line);
        } catch {
          continue;
        }
        this.events.push(event);
        for (const waiter of this.#waiters.filter((w) => w.type === event.type && w.test(event))) {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          waiter.resolve(event);
        }
      }
    }
  }

  /**
   * Resolves with the first event of a type (now or later) that `test`
   * accepts; rejects if the process ends first.
   */
  event(type: string, test: (event: JsonEvent) => boolean = () => true): Promise<JsonEvent> {
    const seen = this.events.find((e) => e.type === type && test(e));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      this.#waiters.push({ type, test, resolve });
      this.done.then(({ stderr }) =>
        reject(new Error(`punch exited before a "${type}" event; stderr:\n${stderr}`))
      );
    });
  }

  kill(): void {
    try {
      this.child.kill("SIGKILL");
    } catch { /* already gone */ }
  }
}

/** Whether this process may make network namespaces (root, with iproute2's `ip`). */
export const CAN_NETNS: boolean = Deno.build.os === "linux" && Deno.uid() === 0 &&
  new Deno.Command("ip", { args: ["netns", "list"], stdout: "null", stderr: "null" }).outputSync()
    .success;

/**
 * A network namespace of its own holding only `lo`, up: what runs in it
 * (`new Punch(args, { netns: name })`) reaches this machine's loopback of
 * that namespace and nothing else, so LAN discovery's multicast stays in.
 */
export async function loopbackNamespace(): Promise<{ name: string } & AsyncDisposable> {
  const name = `punch-lo-${crypto.randomUUID().slice(0, 8)}`;
  const ip = (...args: string[]) =>
    new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  const added = await ip("netns", "add", name);
  if (!added.success) {
    throw new Error(`Cannot make namespace ${name}: ${new TextDecoder().decode(added.stderr)}`);
  }
  await ip("-n", name, "link", "set", "lo", "up");
  return {
    name,
    async [Symbol.asyncDispose]() {
      await ip("netns", "delete", name);
    },
  };
}

/** A real `punch serve` process on a free loopback port. */
export async function startServe(): Promise<{ url: string; process: Punch } & AsyncDisposable> {
  const process = new Punch(["serve", "--hostname", "127.0.0.1", "--port", "0", "--json"]);
  const listening = await process.event("listening");
  return {
    url: listening.url as string,
    process,
    async [Symbol.asyncDispose]() {
      process.kill();
      await process.done;
    },
  };
}

/** A temporary directory removed on dispose. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "punch-test-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** Writes `size` random bytes to a file, 64 KiB at a time. */
export async function writeRandomFile(path: string, size: number): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(65536);
  for (let left = size; left > 0; left -= chunk.length) {
    crypto.getRandomValues(chunk);
    const part = chunk.subarray(0, Math.min(chunk.length, left));
    for (let n = 0; n < part.length;) n += await file.write(part.subarray(n));
  }
}

/** Describes a tree as `path -> kind:size:mode:sha256` lines, sorted. */
export async function describeTree(root: string): Promise<string[]> {
  const lines: string[] = [];
  async function walk(dir: string, rel: string): Promise<void> {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      const relPath = rel ? `${rel}/${entry.name}` : entry.name;
      const info = await Deno.lstat(path);
      const mode = Deno.build.os === "windows" ? 0 : info.mode! & 0o777;
      if (info.isDirectory) {
        lines.push(`${relPath} dir ${mode.toString(8)}`);
        await walk(path, relPath);
      } else {
        const hash = createHash("sha256");
        for await (const chunk of (await Deno.open(path)).readable) hash.update(chunk);
        lines.push(`${relPath} file ${info.size} ${mode.toString(8)} ${hash.digest("hex")}`);
      }
    }
  }
  await walk(root, "");
  return lines.sort();
}

/** `code` with its first word changed: the right nameplate, a wrong password. */
export function misspell(code: string): string {
  const [nameplate, first] = code.split("-");
  return `${nameplate}-${first === "abandon" ? "ability" : "abandon"}-zoo`;
}

/**
 * Asserts that both sides of a `transfer()` with a misspelled code failed on
 * the wrong code, said so, and wrote nothing to `out`.
 */
export async function assertWrongCode(
  result: { sent: Awaited<Punch["done"]>; received: Awaited<Punch["done"]> },
  out: string,
): Promise<void> {
  const { sent, received } = result;
  equal(received.code, 3, received.stderr);
  equal(sent.code, 3, sent.stderr);
  const error = received.events.find((e) => e.type === "error")!;
  equal(error.error, "wrong_code");
  match(error.message as string, /wrong code/i);
  equal(sent.events.find((e) => e.type === "error")?.error, "wrong_code");
  equal(await Deno.stat(out).then(() => true, () => false), false);
}

/** Sends `paths` with a real sender and receives them with a real receiver. */
export async function transfer(
  server: string | undefined,
  paths: string[],
  out: string,
  options: { sendArgs?: string[]; receiveArgs?: string[]; code?: (code: string) => string } = {},
) {
  const serverArgs = server ? ["--server", server] : [];
  const sender = new Punch([
    "send",
    "--json",
    ...serverArgs,
    ...(options.sendArgs ?? []),
    ...paths,
  ]);
  const code = (await sender.event("code")).code as string;
  const receiver = new Punch([
    "receive",
    "--json",
    ...serverArgs,
    "--out",
    out,
    ...(options.receiveArgs ?? ["--yes"]),
    options.code ? options.code(code) : code,
  ]);
  const [sent, received] = await Promise.all([sender.done, receiver.done]);
  return { code, sent, received };
}
