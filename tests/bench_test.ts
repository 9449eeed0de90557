/**
 * `deno task bench` is not run for its figures here (tests assert no
 * timings), but a small run checks that it still works end to end: every
 * row measured, each copy verified against the source (the bench throws
 * otherwise), the previous copy handed on and gone, and the table printed.
 */

import { equal, match, ok } from "node:assert/strict";

const BENCH = new URL("../bench/main.ts", import.meta.url).pathname;

Deno.test("deno task bench runs a small round through every path and prints its table", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", BENCH, "--size", "8", "--small", "2", "--rounds", "2", "--pipe", "4"],
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const out = new TextDecoder().decode(stdout);
  equal(code, 0, `the bench failed:\n${out}\n${new TextDecoder().decode(stderr)}`);
  for (const row of ["raw TCP pipe (deno)", "punch relay", "punch direct"]) {
    match(out, new RegExp(`^${row.replace(/[()]/g, "\\$&")} +8 +\\d+ \\(\\d+–\\d+\\)`, "m"));
  }
  match(out, /^punch relay \(2 MiB\) +2 /m);
  // CPU times come from /proc: "n/a" elsewhere.
  match(
    out,
    /^punch relay +send ([\d.]+ \+ [\d.]+|n\/a), relay ([\d.]+ \+ [\d.]+|n\/a), receive /m,
  );
  match(out, /This machine's page cache: writing 8 MiB took [\d.]+ s/);
  match(out, /^4 MiB through punch's relay, peak RSS MB of each side$/m);
  match(out, /^file to file +send (\d+|n\/a), receive (\d+|n\/a)$/m);
  match(out, /^stdin to stdout \(pipes\) +send (\d+|n\/a), receive (\d+|n\/a)$/m);
  ok(out.includes("Targets:"), out);
});

Deno.test("deno task bench --against runs another checkout in the same rounds", async () => {
  // This checkout against itself: the rows are what matters here.
  const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      BENCH,
      ...["--size", "8", "--small", "2", "--rounds", "1", "--pipe", "4", "--against", root],
    ],
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const out = new TextDecoder().decode(stdout);
  equal(code, 0, `the bench failed:\n${out}\n${new TextDecoder().decode(stderr)}`);
  for (const path of ["relay", "direct"]) {
    // One round: a median with no range.
    match(out, new RegExp(`^  \\S+ ${path} +8 +\\d+ +\\d+ `, "m"));
    match(out, new RegExp(`^  \\S+ ${path} +send `, "m"));
  }
});
