/**
 * End-to-end: what the other side and the server say reaches the terminal
 * as text, never as control sequences (a real `punch receive` printing its
 * human output).
 */

import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { HOSTILE_TEXT } from "./testdata/hostile_sender.ts";
import { Punch, startServe, tempDir } from "./_helpers.ts";

const HOSTILE_SENDER = new URL("./testdata/hostile_sender.ts", import.meta.url).pathname;

/** Fails if `text` holds anything a terminal would act on. */
function assertInert(text: string): void {
  // deno-lint-ignore no-control-regex
  const control = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.exec(text);
  equal(control, null, `a control character reached the terminal: ${JSON.stringify(text)}`);
}

Deno.test("punch receive shows a hostile sender's error text inert, on its own error line", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const sender = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", HOSTILE_SENDER, server.url],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = sender.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) line += (await reader.read()).value ?? "";
  const code = JSON.parse(line).code as string;
  const receiver = new Punch(["receive", "--server", server.url, "--yes", "--out", dir.path, code]);
  const { code: exit, stderr } = await receiver.done;
  await reader.cancel();
  await sender.stderr.cancel();
  await sender.status;
  equal(exit, 4, stderr);
  assertInert(stderr);
  const lines = stderr.trimEnd().split("\n");
  const error = lines.find((l) => l.startsWith("error: "))!;
  match(error, /^error: The sender stopped: \\x1b\[2K\\r\\x1b\[1ADone: 1 file.*\\x1b\]52;c;/);
  equal(lines.filter((l) => l.startsWith("Done")).length, 0);
  ok(HOSTILE_TEXT.includes("\x1b]0;"));
});

Deno.test("punch receive shows a hostile server's words inert", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onopen = () =>
      socket.send(JSON.stringify({ type: "welcome", version: 1, address: "127.0.0.1:1" }));
    socket.onmessage = () =>
      socket.send(JSON.stringify({
        type: "error",
        error: "unknown_nameplate",
        message: "\x1b]0;pwned\x07\x1b[2J\rDone\u202e",
      }));
    return response;
  });
  try {
    await using dir = await tempDir();
    const url = `http://127.0.0.1:${server.addr.port}`;
    const receiver = new Punch([
      "receive",
      "--server",
      url,
      "--yes",
      "--out",
      dir.path,
      "4812-abandon-zoo",
    ]);
    const { code, stderr } = await receiver.done;
    equal(code, 3, stderr);
    assertInert(stderr);
    match(stderr, /error: \\x1b\]0;pwned\\x07\\x1b\[2J\\rDone\\u202e/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("punch receive names the offer's files in the prompt, bidirectional controls visible", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const name = "invoice\u202efdp.exe";
  await Deno.writeTextFile(join(dir.path, name), "MZ");
  await Deno.mkdir(join(dir.path, "photos"));
  await Deno.writeTextFile(join(dir.path, "photos", "a.jpg"), "jpg");
  const sender = new Punch([
    "send",
    "--json",
    "--server",
    server.url,
    join(dir.path, name),
    join(dir.path, "photos"),
  ]);
  const code = (await sender.event("code")).code as string;
  // No --yes and no terminal: the offer is shown, then refused without asking.
  const receiver = new Punch([
    "receive",
    "--server",
    server.url,
    "--out",
    join(dir.path, "out"),
    code,
  ]);
  const { code: exit, stderr } = await receiver.done;
  await sender.done;
  equal(exit, 6, stderr);
  assertInert(stderr);
  match(stderr, /Offer: 2 files and 1 directory, 5 B: invoice\\u202efdp\.exe, photos\//);
});
