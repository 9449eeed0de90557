/**
 * End to end: the QR code `punch send` prints, read off its stderr as a
 * terminal would draw it and decoded by jsQR (not by our encoder), and when
 * it is printed at all.
 */

import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { DARK, qrLinesIn, readScreen } from "./_qr_screen.ts";
import { CAN_NETNS, Punch, startServe, tempDir } from "./_helpers.ts";
import { HAS_SCRIPT, onPty } from "./_pty.ts";

const CLI = new URL("../cli/main.ts", import.meta.url).pathname;
const CODE = "4812-velvet-harbor";
/** How the sender's stderr gives the page's URL. */
const URL_LINE = /browser: (\S+)\n/;

/** A file to send in a fresh directory, and where the receiver puts it. */
async function fixture(dir: string): Promise<{ file: string; out: string }> {
  const file = join(dir, "hello.txt");
  await Deno.writeTextFile(file, "hello\n");
  return { file, out: join(dir, "out") };
}

/** Receives `CODE` with a real receiver, so the sender ends. */
function receive(
  out: string,
  args: string[],
  options: { netns?: string; env?: Record<string, string> } = {},
) {
  return new Punch(["receive", "--json", "--yes", "--out", out, ...args, CODE], options).done;
}

Deno.test("punch send --qr draws the page's URL as a QR code on stderr that jsQR reads back", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const { file, out } = await fixture(dir.path);
  const sender = send(["--server", server.url, "--code", CODE, "--qr", file]);
  await sender.shown;
  const received = await receive(out, ["--server", server.url]);
  const sent = await sender.done;
  equal(received.code, 0, received.stderr);
  equal(sent.code, 0, sent.output);
  const url = `${server.url}/#${CODE}`;
  equal(sent.output.match(URL_LINE)?.[1], url);
  const lines = qrLinesIn(sent.output);
  // NO_COLOR: no escapes, the light modules drawn in the text colour (a dark theme).
  ok(lines.length > 10, sent.output);
  ok(lines.every((line) => !line.includes("\x1b")));
  equal(readScreen(lines, DARK), url);
});

Deno.test("punch send shows no URL or QR code for a loopback server off a terminal, nor with --no-qr", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const { file, out } = await fixture(dir.path);
  for (const flags of [[], ["--no-qr"]]) {
    const sender = send(["--server", server.url, "--code", CODE, ...flags, file]);
    await sender.shown;
    await receive(join(out, String(flags.length)), ["--server", server.url]);
    const sent = await sender.done;
    equal(sent.code, 0, sent.output);
    match(sent.output, /Code: 4812-velvet-harbor\n/);
    equal(qrLinesIn(sent.output).length, 0, sent.output);
    ok(!URL_LINE.test(sent.output), sent.output);
  }
});

Deno.test("punch send --json gives the page's URL in the code event: a loopback one only with --qr", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const { file, out } = await fixture(dir.path);
  for (const flags of [[], ["--qr"]]) {
    const sender = new Punch([
      "send",
      "--json",
      "--server",
      server.url,
      "--code",
      CODE,
      ...flags,
      file,
    ]);
    const code = await sender.event("code");
    await receive(join(out, String(flags.length)), ["--server", server.url]);
    const sent = await sender.done;
    equal(sent.code, 0, sent.stderr);
    equal(code.url, flags.length ? `${server.url}/#${CODE}` : undefined);
    // JSON on stdout, and no QR code on stderr.
    equal(qrLinesIn(sent.stderr).length, 0, sent.stderr);
  }
});

Deno.test("punch send --qr --no-qr is a usage error", async () => {
  const sent = await new Punch(["send", "--qr", "--no-qr", "--server", "http://127.0.0.1:9", "x"])
    .done;
  equal(sent.code, 2);
  match(sent.stderr, /Cannot use --qr with --no-qr/);
});

/** A namespace holding `lo` and a LAN interface at 10.77.0.1/24 (one end of a veth pair whose
 * other end is there too), so nothing leaves it. */
async function lanNamespace(): Promise<{ name: string } & AsyncDisposable> {
  const name = `punch-qr-${crypto.randomUUID().slice(0, 8)}`;
  const ip = async (...args: string[]) => {
    const done = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
    if (!done.success) {
      throw new Error(`Cannot run ip ${args.join(" ")}: ${new TextDecoder().decode(done.stderr)}`);
    }
  };
  await ip("netns", "add", name);
  const setup = [
    ["link", "set", "lo", "up"],
    // Both ends of the pair stay in the namespace: what goes out of one arrives at the other.
    ["link", "add", "lan0", "type", "veth", "peer", "name", "lan1"],
    ["addr", "add", "10.77.0.1/24", "dev", "lan0"],
    ["link", "set", "lan0", "up"],
    ["link", "set", "lan1", "up"],
  ];
  try {
    for (const args of setup) await ip("-n", name, ...args);
  } catch (error) {
    await ip("netns", "delete", name);
    throw error;
  }
  return { name, [Symbol.asyncDispose]: () => ip("netns", "delete", name) };
}

/** How long a sender takes at most to show its code. */
const CODE_WAIT_MS = 30_000;

/**
 * A running `punch send` whose stderr (or, on a pty, its screen) is read as
 * it comes: `shown` resolves once the code is up, so the receiver can start.
 */
function watch(command: string, args: string[], env: Record<string, string> = {}) {
  const child = new Deno.Command(command, {
    args,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  let onText = () => {};
  const read = (stream: ReadableStream<Uint8Array>) =>
    (async () => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        output += text.replaceAll("\r", "");
        onText();
      }
    })();
  const reading = Promise.all([read(child.stdout), read(child.stderr)]);
  const shown = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`No code shown: ${output}`)), CODE_WAIT_MS);
    onText = () => {
      if (output.includes(`punch receive ${CODE}`)) resolve(), clearTimeout(timer);
    };
    child.status.then(() => setTimeout(() => reject(new Error(`Exited: ${output}`)), 0));
  });
  const done = (async () => {
    const { code } = await child.status;
    await reading;
    return { code, output };
  })();
  return { shown, done };
}

/** `punch send` in human mode, its stderr piped (not a terminal). */
function send(args: string[]) {
  return watch(Deno.execPath(), ["run", "-A", CLI, "send", "--no-port-mapping", ...args]);
}

/** `punch send` in a namespace on a pty (util-linux `script`), with no server configured. */
function sendOnPty(netns: string, args: string[]) {
  const pty = onPty([Deno.execPath(), "run", "-A", CLI, "send", "--no-port-mapping", ...args]);
  const { shown, done } = watch("ip", ["netns", "exec", netns, "script", ...pty.args], {
    PUNCH_SERVER: "",
  });
  return { shown, done: done.then(async ({ output }) => ({ code: await pty.exitCode(), output })) };
}

Deno.test({
  name:
    "punch send on a terminal draws the embedded rendezvous' LAN URL as a QR code, not with --no-qr",
  // The embedded rendezvous announces itself by multicast: only inside a
  // namespace, whose LAN is a veth pair with both ends in it.
  ignore: !CAN_NETNS || !HAS_SCRIPT,
}, async () => {
  await using netns = await lanNamespace();
  await using dir = await tempDir();
  const { file, out } = await fixture(dir.path);
  const options = { netns: netns.name, env: { PUNCH_SERVER: "" } };
  for (const flags of [[], ["--no-qr"]]) {
    const sender = sendOnPty(netns.name, ["--code", CODE, ...flags, file]);
    await sender.shown;
    const received = await receive(join(out, String(flags.length)), [], options);
    const sent = await sender.done;
    equal(received.code, 0, received.stderr);
    equal(sent.code, 0, sent.output);
    const url = sent.output.match(URL_LINE)?.[1];
    match(url ?? "", /^http:\/\/10\.77\.0\.1:\d+\/#4812-velvet-harbor$/, sent.output);
    const lines = qrLinesIn(sent.output);
    if (flags.length) equal(lines.length, 0, sent.output);
    else equal(readScreen(lines, DARK), url, sent.output);
  }
});
