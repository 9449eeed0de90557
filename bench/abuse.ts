/**
 * `deno task abuse`: the attacks of issue 16 against one `punch serve` on
 * loopback (`ulimit -n 1024`, the binary's V8 flags), each while an honest
 * 64 MiB transfer (real `punch send` and `punch receive`, `--relay-only`,
 * `--no-port-mapping`) crosses the same server, and the figures against
 * their targets. Attackers dial from loopback addresses of their own
 * (127.0.x.y), the honest clients from 127.0.0.1.
 *
 * - Sweeps: 5 senders wait; one address, then 64, claim 1000–9999 and send
 *   a made-up PAKE message on every claim that pairs (a guess).
 * - A stranger claims a waiting sender's nameplate and streams relay frames
 *   at 100 MiB/s with no key exchange, through punch serve; and a sender
 *   whose rendezvous relays such a flood (the client's own bound).
 * - 20 sockets each announce and send one 60 MB binary message before
 *   pairing; the same against Deno.serve (as on Deno Deploy), to compare.
 * - 10 000 WebSockets that never speak, from 64 addresses.
 * - Honest offers of 20 000 files and of 10⁶ entries (lib/transfer's, as
 *   they stand).
 *
 * Every phase is bounded in time; the whole takes about five minutes.
 *
 * @module
 */

import { join } from "node:path";
import {
  floodingRendezvous,
  idleSockets,
  loopbackAddresses,
  oversizeMessages,
  strangerFlood,
  sweep,
} from "./_abuse_attacks.ts";
import {
  finishTransfer,
  Proc,
  randomFile,
  transfer,
  type TransferResult,
  waitingSender,
} from "./_abuse_procs.ts";

const MiB = 1024 * 1024;
const TARGET_SERVER_MIB = 300;
const TARGET_SENDER_MIB = 128;
const FLOOD_BYTES_PER_SECOND = 100 * MiB;

const dir = await Deno.makeTempDir({ prefix: "punch-abuse-" });
let outs = 0;
const out = () => join(dir, `out-${++outs}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (value: number) => `${value.toFixed(0)} MiB`;
const verdict = (ok: boolean) => (ok ? "ok" : "MISSED");
const honestLine = (t: TransferResult) =>
  `honest 64 MiB transfer meanwhile: ${t.detail} (${t.seconds.toFixed(1)} s)`;
const misses: string[] = [];
function check(ok: boolean, what: string): string {
  if (!ok) misses.push(what);
  return verdict(ok);
}

const server = Proc.punch(["serve", "--hostname", "127.0.0.1", "--port", "0", "--json"], {
  descriptors: 1024,
});
try {
  const url = (await server.event("listening")).url as string;
  const port = Number(new URL(url).port);
  const big = join(dir, "honest.bin");
  const small = join(dir, "small.txt");
  await randomFile(big, 64 * MiB);
  await Deno.writeTextFile(small, "hello\n");
  const health = async () => await (await fetch(`${url}/healthz`)).json();
  console.log(
    `punch abuse: punch serve at ${url} (ulimit -n 1024), ${mib(server.rssMiB)} at start`,
  );

  // Sweeps.
  for (
    const [label, addresses, workers, seconds] of [
      ["one address", loopbackAddresses(2, 1), 32, 20],
      ["64 addresses", loopbackAddresses(3, 64), 4, 45],
    ] as const
  ) {
    const senders = await Promise.all(Array.from({ length: 5 }, () => waitingSender(url, small)));
    const nameplates = senders.map(([, code]) => code.split("-")[0]).join(", ");
    const [result, honest] = await Promise.all([
      sweep(port, [...addresses], { from: 1000, to: 9999, workers, timeoutMs: seconds * 1000 }),
      sleep(300).then(() => transfer(url, big, out())),
    ]);
    await sleep(1500);
    const alive = senders.filter(([sender]) => !sender.exited).length;
    for (const [sender] of senders) sender.kill();
    const stats = await health();
    console.log(
      `sweep from ${label}: ${alive} of 5 waiting senders survive (${nameplates})` +
        (label === "one address" ? ` [target 5: ${check(alive === 5, "one-address sweep")}]` : ""),
    );
    console.log(
      `  ${result.claims} claims in ${result.seconds.toFixed(1)} s: ${result.paired} paired, ` +
        `${result.limited} rate-limited, ${result.refused} refused; the server counts ` +
        `${stats.failedClaimsPerMinute} failed claims a minute now`,
    );
    console.log(
      `  ${honestLine(honest)} [${check(honest.ok, `honest transfer (${label} sweep)`)}]`,
    );
  }

  // A stranger streams at a waiting sender, through punch serve.
  {
    const [victim, code] = await waitingSender(url, big);
    victim.resetPeak();
    const [flood, honest] = await Promise.all([
      strangerFlood(port, "127.0.4.1", code.split("-")[0]!, FLOOD_BYTES_PER_SECOND, 10_000),
      sleep(300).then(() => transfer(url, big, out())),
    ]);
    const peak = victim.peakMiB;
    const alive = !victim.exited;
    const own = alive ? await finishTransfer(url, victim, code, big, out()) : undefined;
    const outcomes = Object.entries(flood.outcomes).map(([k, n]) => `${n}× ${k}`).join(", ");
    console.log(
      `pre-PAKE flood at 100 MiB/s through punch serve: the waiting sender peaked at ${
        mib(peak)
      } ` +
        `[target ${TARGET_SENDER_MIB}: ${
          check(peak <= TARGET_SENDER_MIB, "sender memory (punch serve)")
        }]; ` +
        `${flood.claims} claims, ${(flood.bytesSent / MiB).toFixed(1)} MiB written: ${outcomes}`,
    );
    console.log(
      `  the sender ${
        alive ? `survived; its own transfer afterwards: ${own!.detail}` : "exited"
      } ` +
        `[${check(alive && own!.ok, "flooded sender's transfer")}]`,
    );
    console.log(`  ${honestLine(honest)} [${check(honest.ok, "honest transfer (flood)")}]`);
  }

  // A rendezvous that relays the flood: the sender's own bound.
  {
    const fake = floodingRendezvous(FLOOD_BYTES_PER_SECOND);
    const victim = Proc.punch([
      "send",
      "--json",
      "--no-port-mapping",
      "--relay-only",
      "--server",
      fake.url,
      small,
    ]);
    const timer = setTimeout(() => victim.kill(), 30_000);
    const status = await victim.status;
    clearTimeout(timer);
    const peak = victim.peakMiB;
    await fake.shutdown();
    console.log(
      `pre-PAKE flood at 100 MiB/s relayed by a rendezvous that passes it on: the sender peaked at ` +
        `${mib(peak)} [target ${TARGET_SENDER_MIB}: ${
          check(peak <= TARGET_SENDER_MIB, "sender memory (relayed flood)")
        }] ` +
        `and exited ${status.code} after ${(fake.streamed / MiB).toFixed(0)} MiB: ${
          victim.error ?? "(no error)"
        }`,
    );
  }

  // Oversize messages before pairing.
  {
    server.resetPeak();
    const [answers, honest] = await Promise.all([
      oversizeMessages(port, "127.0.5.1", 20, 60_000_000),
      sleep(300).then(() => transfer(url, big, out())),
    ]);
    const peak = server.peakMiB;
    console.log(
      `20 × 60 MB messages before pairing: punch serve peaked at ${mib(peak)} ` +
        `[target ${TARGET_SERVER_MIB}: ${
          check(peak <= TARGET_SERVER_MIB, "server memory (oversize)")
        }]; ` +
        `answers: ${summarize(answers)}`,
    );
    console.log(`  ${honestLine(honest)} [${check(honest.ok, "honest transfer (oversize)")}]`);
    const plain = new Proc([
      "run",
      "-A",
      new URL("./_abuse_deno_serve.ts", import.meta.url).pathname,
    ]);
    const plainPort = (await plain.event("listening")).port as number;
    plain.resetPeak();
    const plainAnswers = await oversizeMessages(plainPort, "127.0.5.2", 20, 60_000_000);
    console.log(
      `  for comparison, the handler under Deno.serve (as on Deno Deploy) peaked at ` +
        `${mib(plain.peakMiB)}: ${summarize(plainAnswers)}`,
    );
    plain.kill();
  }

  // Idle sockets.
  {
    const limit = Number(
      /^Max open files\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/limits"))?.[1],
    );
    const count = Math.min(10_000, limit - 500);
    server.resetPeak();
    const idle = await idleSockets(port, loopbackAddresses(6, 64), count, 400);
    const honest = await transfer(url, big, out());
    const stats = await health();
    const peak = server.peakMiB;
    for (const socket of idle.held) socket.destroy();
    console.log(
      `${count} idle WebSockets from 64 addresses (server ulimit -n 1024): punch serve peaked at ` +
        `${mib(peak)} [target ${TARGET_SERVER_MIB}: ${
          check(peak <= TARGET_SERVER_MIB, "server memory (idle)")
        }], ` +
        `holding ${stats.connections} WebSockets; answers: ${
          summarize(Object.entries(idle.statuses).flatMap(([k, n]) => Array(n).fill(k)))
        }`,
    );
    console.log(`  ${honestLine(honest)} [${check(honest.ok, "honest transfer (idle)")}]`);
  }

  // Honest offers (lib/transfer).
  await offers(url);

  await sleep(500);
  const status = server.exited ? await server.status : undefined;
  console.log(
    `punch serve ${status ? `EXITED with ${status.code}` : "is still running"} ` +
      `[target: no exit: ${check(!status, "server exit")}]`,
  );
  console.log(misses.length ? `MISSED: ${misses.join("; ")}` : "All targets met.");
} finally {
  server.kill();
  await server.status;
  await Deno.remove(dir, { recursive: true });
}

/** `3× too_large, 1× closed` from a list of outcomes. */
function summarize(items: string[]): string {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return [...counts].map(([item, n]) => `${n}× ${item}`).join(", ");
}

/**
 * Makes `entries` files and directories in all under a new `root` (itself
 * one), 1000 files to a directory, each file of `bytes`; returns the seconds.
 */
function manyEntries(root: string, entries: number, bytes = 0): number {
  const start = performance.now();
  const content = new Uint8Array(bytes).fill(0x61);
  Deno.mkdirSync(root);
  let sub = "";
  for (let made = 1, files = 1000; made < entries; made++) {
    if (files === 1000) {
      sub = join(root, `d${made}`);
      Deno.mkdirSync(sub);
      files = 0;
    } else {
      Deno.writeFileSync(join(sub, `f${files++}`), content);
    }
  }
  return (performance.now() - start) / 1000;
}

async function offers(url: string): Promise<void> {
  const twenty = join(dir, "twenty-thousand");
  manyEntries(twenty, 20_000 + 21, 16); // 20 000 files in 20 directories
  const copy = out();
  const crossing = await transfer(url, twenty, copy).catch((e) => ({
    ok: false,
    seconds: 0,
    detail: String(e),
  }));
  let files = 0;
  try {
    for (const d of Deno.readDirSync(join(copy, "twenty-thousand"))) {
      files += [...Deno.readDirSync(join(copy, "twenty-thousand", d.name))].length;
    }
  } catch { /* nothing arrived */ }
  console.log(
    `an honest offer of 20 000 files: ${
      crossing.ok ? "crossed" : crossing.detail
    }, ${files} files arrived ` +
      `(${crossing.seconds.toFixed(1)} s) [${
        check(crossing.ok && files === 20_000, "20 000 files")
      }]`,
  );

  const million = join(dir, "a-million");
  const made = manyEntries(million, 1_000_000); // the documented maximum
  const start = performance.now();
  const sender = Proc.punch([
    "send",
    "--json",
    "--no-port-mapping",
    "--relay-only",
    "--server",
    url,
    million,
  ]);
  const code = await sender.event("code", 180_000).then((e) => e.code as string, () => undefined);
  const scanned = (performance.now() - start) / 1000;
  let line: string;
  let ok = false;
  if (code === undefined) {
    ok = sender.exited && sender.error !== undefined && scanned <= 10;
    line = sender.exited
      ? `the sender refused it after ${scanned.toFixed(1)} s: ${sender.error ?? "(no message)"}`
      : "the sender gave no code within 180 s";
  } else {
    const receiving = Proc.punch([
      "receive",
      "--json",
      "--no-port-mapping",
      "--relay-only",
      "--yes",
      "--server",
      url,
      "--out",
      out(),
      code,
    ]);
    const asked = performance.now();
    const answer = await Promise.race([
      receiving.event("offer", 60_000).then(() => "accepted", () => "none"),
      receiving.status.then(() => "exited"),
    ]);
    const seconds = (performance.now() - asked) / 1000;
    ok = seconds <= 10 && (answer === "accepted" || (answer === "exited" && !!receiving.error));
    line = answer === "accepted"
      ? `the receiver had the offer after ${seconds.toFixed(1)} s`
      : answer === "exited"
      ? `the receiver exited after ${seconds.toFixed(1)} s: ${receiving.error ?? "(no message)"}`
      : "no answer within 60 s";
    receiving.kill();
  }
  sender.kill();
  console.log(
    `an honest offer of 10⁶ entries (made in ${made.toFixed(0)} s, the sender's code after ` +
      `${scanned.toFixed(1)} s): ${line} [target 10 s: ${check(ok, "10⁶ entries")}]`,
  );
}
