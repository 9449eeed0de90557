import { deepEqual, equal } from "node:assert/strict";
import { formatBytes, ProgressBar } from "./progress.ts";
import { humanReporter, jsonReporter } from "./report.ts";

Deno.test("formatBytes() uses binary units", () => {
  deepEqual(
    [0, 1023, 1024, 1536 * 1024, 5 * 1024 ** 3].map(formatBytes),
    ["0 B", "1023 B", "1.0 KiB", "1.5 MiB", "5.0 GiB"],
  );
});

Deno.test("ProgressBar renders bytes, percent, rate and ETA", () => {
  let now = 0;
  const bar = new ProgressBar({ write: () => {}, now: () => now, width: 10 });
  now = 2000;
  equal(
    bar.render(50 * 1024 * 1024, 100 * 1024 * 1024),
    "[#####-----]  50%  50.0 MiB / 100.0 MiB  25.0 MiB/s  ETA 00:02",
  );
  equal(bar.render(0, 0), "[##########] 100%  0 B / 0 B  0 B/s  ETA --:--");
});

Deno.test("ProgressBar redraws at most once per interval and always at the end", () => {
  let now = 0;
  const out: string[] = [];
  const bar = new ProgressBar({ write: (t) => out.push(t), now: () => now, width: 4 });
  bar.update(1, 10);
  now = 50;
  bar.update(2, 10);
  now = 150;
  bar.update(3, 10);
  bar.update(10, 10);
  bar.finish();
  equal(out.length, 4);
  equal(out.at(-1), "\n");
  equal(out[0]!.startsWith("\r[----]  10%"), true);
});

Deno.test("jsonReporter() writes one object per line and throttles progress", () => {
  let now = 0;
  const lines: string[] = [];
  const reporter = jsonReporter({ stdout: (t) => lines.push(t), now: () => now });
  reporter.report({ type: "code", code: "4812-velvet-harbor" });
  reporter.report({ type: "progress", bytes: 1, total: 10 });
  now = 100;
  reporter.report({ type: "progress", bytes: 2, total: 10 });
  reporter.report({ type: "progress", bytes: 10, total: 10 });
  deepEqual(lines, [
    '{"type":"code","code":"4812-velvet-harbor"}\n',
    '{"type":"progress","bytes":1,"total":10}\n',
    '{"type":"progress","bytes":10,"total":10}\n',
  ]);
});

Deno.test("humanReporter() prints the code, a bar on a terminal and the result", () => {
  let now = 0;
  const out: string[] = [];
  const reporter = humanReporter({ stderr: (t) => out.push(t), terminal: true, now: () => now });
  reporter.report({ type: "code", code: "4812-velvet-harbor" });
  now = 1000;
  reporter.report({ type: "progress", bytes: 1024, total: 1024 });
  reporter.report({ type: "done", path: "relay", files: 1, bytes: 1024, seconds: 1 });
  equal(
    out[0],
    "Code: 4812-velvet-harbor\nOn the other machine run:\n  punch receive 4812-velvet-harbor\n",
  );
  equal(out[1]!.startsWith("\r["), true);
  equal(out[2], "\n");
  equal(out[3], "Done: 1 file, 1.0 KiB in 1.0 s (1.0 KiB/s, relay)\n");
});

Deno.test("humanReporter() starts a fresh bar when a broken direct connection sends the transfer back to the relay", () => {
  let now = 0;
  const out: string[] = [];
  const reporter = humanReporter({ stderr: (t) => out.push(t), terminal: true, now: () => now });
  now = 1000;
  reporter.report({ type: "progress", bytes: 1024, total: 4096 });
  reporter.report({
    type: "path",
    path: "relay",
    from: "direct",
    reason: "the direct connection broke (read ECONNRESET)",
  });
  now = 2000;
  reporter.report({ type: "progress", bytes: 0, total: 3072 });
  now = 3000;
  reporter.report({ type: "progress", bytes: 2048, total: 3072 });
  equal(out[1], "\n");
  equal(
    out[2],
    "Back on the relay, resuming there: the direct connection broke (read ECONNRESET)\n",
  );
  // The new bar's clock starts after the fallback: 2 KiB in 1 s, not in 2.
  equal(out.at(-1)!.includes("2.0 KiB/s"), true, out.at(-1));
});

Deno.test("humanReporter() draws the hashing before a resume and the transfer as two bars", () => {
  let now = 0;
  const out: string[] = [];
  const reporter = humanReporter({ stderr: (t) => out.push(t), terminal: true, now: () => now });
  reporter.report({ type: "checking", bytes: 2048, total: 2048 });
  now = 1000;
  reporter.report({ type: "progress", bytes: 1024, total: 1024 });
  equal(out.length, 3);
  equal(out[0]!.includes("2.0 KiB / 2.0 KiB"), true, out[0]);
  equal(out[1], "\n");
  equal(out[2]!.includes("1.0 KiB / 1.0 KiB"), true, out[2]);
});

Deno.test("jsonReporter() throttles checking like progress", () => {
  const out: string[] = [];
  const reporter = jsonReporter({ stdout: (t) => out.push(t), now: () => 0 });
  reporter.report({ type: "checking", bytes: 1, total: 3 });
  reporter.report({ type: "checking", bytes: 2, total: 3 });
  reporter.report({ type: "checking", bytes: 3, total: 3 });
  deepEqual(out.map((line) => JSON.parse(line).bytes), [1, 3]);
});

Deno.test("humanReporter() draws no bar when stderr is not a terminal", () => {
  const out: string[] = [];
  const reporter = humanReporter({ stderr: (t) => out.push(t), terminal: false });
  reporter.report({ type: "progress", bytes: 1, total: 2 });
  deepEqual(out, []);
});

Deno.test("humanReporter() prints an event that comes while the user is asked below the question, and the question again", () => {
  const out: string[] = [];
  const reporter = humanReporter({ stderr: (t) => out.push(t), terminal: true });
  const answered = reporter.ask("Write 1 file(s), 1.0 KiB, into out? [y/N] ");
  reporter.report({ type: "path", path: "direct", address: "10.0.0.2:4000" });
  answered();
  reporter.report({ type: "warning", message: "after the answer" });
  deepEqual(out, [
    "Write 1 file(s), 1.0 KiB, into out? [y/N] ",
    "\nMoved to a direct connection (10.0.0.2:4000)\nWrite 1 file(s), 1.0 KiB, into out? [y/N] ",
    "warning: after the answer\n",
  ]);
});

Deno.test("jsonReporter() asks on stderr; its events stay on stdout", () => {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const reporter = jsonReporter({ stdout: (t) => stdout.push(t), stderr: (t) => stderr.push(t) });
  const answered = reporter.ask("Write? [y/N] ");
  reporter.report({ type: "path", path: "direct", address: "10.0.0.2:4000" });
  answered();
  deepEqual(stderr, ["Write? [y/N] "]);
  deepEqual(stdout, ['{"type":"path","path":"direct","address":"10.0.0.2:4000"}\n']);
});

Deno.test("humanReporter() says what a resume keeps and what a failure kept", () => {
  const out: string[] = [];
  const reporter = humanReporter({ stderr: (t) => out.push(t), terminal: false });
  reporter.report({ type: "resume", files: 2, bytes: 3 * 1024 * 1024 });
  reporter.report({ type: "kept", files: 1, bytes: 1024 });
  deepEqual(out, [
    "Resuming: 3.0 MiB of 2 files already received; moving the rest\n",
    "Kept 1.0 KiB of 1 unfinished file (hidden beside it as .punch-….partial); " +
    "receive the same files into the same directory again to resume\n",
  ]);
});

Deno.test("ProgressBar shows bytes and rate alone for a stream, whose total is unknown", () => {
  let now = 0;
  const out: string[] = [];
  const bar = new ProgressBar({ write: (t) => out.push(t), now: () => now, width: 10 });
  now = 2000;
  equal(bar.render(50 * 1024 * 1024, undefined), "50.0 MiB  25.0 MiB/s");
  bar.update(1, undefined);
  now = 2050;
  bar.update(2, undefined);
  equal(out.length, 1, "throttled like any bar");
});

Deno.test("jsonReporter() leaves out a stream's total, and writes text exactly with terminal-safe escapes", () => {
  const lines: string[] = [];
  const reporter = jsonReporter({ stdout: (t) => lines.push(t), now: () => 0 });
  reporter.report({ type: "progress", bytes: 5, total: undefined });
  reporter.report({ type: "text", text: "a\n\x1b[2J\u009b\u202eb" });
  deepEqual(lines, [
    '{"type":"progress","bytes":5}\n',
    '{"type":"text","text":"a\\n\\u001b[2J\\u009b\\u202eb"}\n',
  ]);
  deepEqual(JSON.parse(lines[1]!).text, "a\n\x1b[2J\u009b\u202eb");
});

Deno.test("humanReporter() names a stream's offer without a size, and text as text", () => {
  const out: string[] = [];
  const reporter = humanReporter({ stderr: (t) => out.push(t), terminal: false });
  const offer = { type: "offer", files: 1, dirs: 0, more: 0 } as const;
  reporter.report({ ...offer, bytes: 0, names: ["stdin"], kind: "stream" });
  reporter.report({ ...offer, bytes: 100_000, names: ["text.txt"], kind: "text" });
  deepEqual(out, [
    "Offer: a stream of unknown length, as stdin\n",
    "Offer: text, 97.7 KiB: text.txt\n",
  ]);
});
