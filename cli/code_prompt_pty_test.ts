/**
 * End to end: `punch receive` without a code in a real pseudo-terminal
 * (util-linux `script` runs it on a pty and relays our keys to it), typing
 * with Tab completion.
 */

import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { Punch, startServe, tempDir } from "../tests/_helpers.ts";
import { HAS_SCRIPT, onPty } from "../tests/_pty.ts";

const CLI = new URL("./main.ts", import.meta.url).pathname;
/** How long one wait for the screen lasts at most. */
const SCREEN_WAIT_MS = 30_000;

/** `punch` on a pty: what it shows, keys to type, and its exit code. */
class PtyPunch {
  readonly #child: Deno.ChildProcess;
  readonly #keys: WritableStreamDefaultWriter<Uint8Array>;
  #screen = "";
  readonly #read: Promise<void>;
  readonly #exitCode: () => Promise<number>;

  constructor(args: string[]) {
    const pty = onPty([Deno.execPath(), "run", "-A", CLI, ...args]);
    this.#exitCode = pty.exitCode;
    const child = new Deno.Command("script", {
      args: pty.args,
      env: { NO_COLOR: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#child = child;
    this.#keys = child.stdin.getWriter();
    this.#read = (async () => {
      for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
        this.#screen += text;
      }
    })();
  }

  get screen(): string {
    return this.#screen;
  }

  /** Waits until the screen shows `text` after `from` (a length of the screen seen before). */
  async shows(text: string, from = 0): Promise<void> {
    const deadline = Date.now() + SCREEN_WAIT_MS;
    while (!this.#screen.includes(text, from)) {
      if (Date.now() > deadline) {
        throw new Error(
          `The screen never showed ${JSON.stringify(text)}: ${JSON.stringify(this.#screen)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async type(keys: string): Promise<void> {
    await this.#keys.write(new TextEncoder().encode(keys));
  }

  /** Ends it if a test failed before it did. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.exit().catch(() => {});
  }

  async exit(): Promise<number> {
    await this.#child.status;
    await this.#read;
    await this.#keys.close().catch(() => {});
    return await this.#exitCode();
  }
}

Deno.test({
  name:
    "punch receive without a code asks for it on a terminal, completes the words with Tab, and receives",
  ignore: !HAS_SCRIPT,
  async fn() {
    await using server = await startServe();
    await using dir = await tempDir();
    await Deno.writeTextFile(join(dir.path, "note.txt"), "hello from the prompt\n");
    const code = "4812-velvet-harbor";
    const sender = new Punch(
      ["send", "--json", "--server", server.url, "--code", code, join(dir.path, "note.txt")],
    );
    await sender.event("code");
    const out = join(dir.path, "out");
    await Deno.mkdir(out);
    await using receiver = new PtyPunch(
      ["receive", "--server", server.url, "--no-port-mapping", "--out", out],
    );
    await receiver.shows("Code: ");
    await receiver.type("4812-velv");
    await receiver.shows("4812-velv");
    const before = receiver.screen.length;
    await receiver.type("\t");
    await receiver.shows("et-", before);
    ok(receiver.screen.endsWith("Code: 4812-velvet-"), JSON.stringify(receiver.screen));
    await receiver.type("harb\t");
    await receiver.shows("4812-velvet-harbor");
    await receiver.type("\r");
    // The completed code found the sender: its offer is shown, and accepted.
    await receiver.shows("[y/N] ");
    await receiver.type("y\r");
    equal(await receiver.exit(), 0, receiver.screen);
    match(receiver.screen, /Done: 1 file/);
    equal(await Deno.readTextFile(join(out, "note.txt")), "hello from the prompt\n");
    equal((await sender.done).code, 0);
  },
});

Deno.test({
  name:
    "punch receive's prompt goes on to the server with the completed code: exit 5 for none at port 9",
  ignore: !HAS_SCRIPT,
  async fn() {
    await using receiver = new PtyPunch(
      ["receive", "--server", "http://127.0.0.1:9", "--no-port-mapping", "--json"],
    );
    await receiver.shows("Code: ");
    await receiver.type("4812 velv\tharb\t\r");
    equal(await receiver.exit(), 5, receiver.screen);
    // The prompt shows the completed code; --json's error event follows it.
    match(receiver.screen, /Code: 4812 velvet-harbor\r+\n\{"type":"error","error":"network"/);
  },
});

Deno.test({
  name:
    "punch receive's prompt: a double Tab lists the words, a bad code is kept to fix, Ctrl-D and Ctrl-C end it",
  ignore: !HAS_SCRIPT,
  async fn() {
    await using receiver = new PtyPunch([
      "receive",
      "--server",
      "http://127.0.0.1:9",
      "--no-port-mapping",
    ]);
    await receiver.shows("Code: ");
    await receiver.type("4812-abs\t\t");
    await receiver.shows("absurd");
    // The list, then the line drawn again below it: wait for all of it.
    await receiver.shows("Code: 4812-abs", receiver.screen.indexOf("absurd"));
    match(receiver.screen, /absent +absorb +abstract +absurd\r+\nCode: 4812-abs/);
    await receiver.type("x-zzzz\r");
    await receiver.shows('unknown word "absx"');
    await receiver.shows("Code: 4812-absx-zzzz", receiver.screen.indexOf('unknown word "absx"'));
    match(
      receiver.screen,
      /: unknown word "absx", check the code you were given\r+\nCode: 4812-absx-zzzz$/,
    );
    await receiver.type("\x15");
    await receiver.shows("Code: ", receiver.screen.lastIndexOf("unknown word"));
    await receiver.type("\x04");
    equal(await receiver.exit(), 2, receiver.screen);
    match(receiver.screen, /error: Cannot receive: give the code the sender shows/);

    await using interrupted = new PtyPunch([
      "receive",
      "--server",
      "http://127.0.0.1:9",
      "--no-port-mapping",
    ]);
    await interrupted.shows("Code: ");
    await interrupted.type("48");
    await interrupted.shows("Code: 48");
    // SIGINT from the terminal (cbreak mode keeps it): as an interrupt anywhere else, exit 1.
    await interrupted.type("\x03");
    equal(await interrupted.exit(), 1, interrupted.screen);
    match(interrupted.screen, /Code: 48\r+\nerror: Interrupted/);
  },
});

Deno.test("punch receive without a code and without a terminal keeps failing with the usage error", async () => {
  const { code, stderr } = await new Punch(["receive", "--server", "http://127.0.0.1:9"]).done;
  equal(code, 2);
  match(stderr, /error: Cannot receive: give the code the sender shows, like 4812-velvet-harbor/);
});
