/**
 * The NAT matrix with the real thing: a real `punch serve` on the lab's
 * internet, a real `punch send` behind NAT a and a real `punch receive`
 * behind NAT b, for every scenario. Each case checks that the file arrives
 * intact, and that the transfer ends on a direct connection where TCP
 * punching can work and on the relay (saying why) where it cannot. Skipped
 * unless root with `ip` and `iptables` (CI installs them and runs as root).
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import { bytesToHex } from "@noble/hashes/utils.js";
import { basename, join } from "node:path";
import {
  canBuild,
  createLab,
  type Lab,
  labSupport,
  type ScenarioName,
  SCENARIOS,
} from "./natlab/lab.ts";
import { type JsonEvent, tempDir, writeRandomFile } from "./_helpers.ts";

const SUPPORT = await labSupport();
const CLI = new URL("../cli/main.ts", import.meta.url).pathname;
const SERVER_PORT = 8000;
/**
 * Large enough that the relay is still busy when punching succeeds: through
 * the lab server's 25 MB/s uplink (SERVER_UPLINK in natlab/_scenarios.ts) it
 * takes about five seconds, against the second a RST-answering NAT can take
 * to punch.
 */
const FILE_BYTES = 128 * 1024 * 1024;

/**
 * The lossy scenario's file. Its loss and delay slow the relay as much as the
 * direct path (both cross the lossy routers), so a small file still outlasts
 * punching there; and 128 MiB took from 20 s to 7 minutes, depending on how
 * the kernel batched segments into the packets that the loss rule drops.
 */
const LOSSY_FILE_BYTES = 32 * 1024 * 1024;

/** The file of a scenario's transfer. */
function fileBytes(scenario: ScenarioName): number {
  return SCENARIOS[scenario].lossy ? LOSSY_FILE_BYTES : FILE_BYTES;
}

/** Where each scenario's transfer must end; `null`: not asserted (luck). */
const EXPECTED: Record<ScenarioName, "direct" | "relay" | null> = {
  "no-nat": "direct",
  "home-both": "direct",
  "public-one": "direct",
  "same-lan": "direct",
  "symmetric-one": "relay",
  "symmetric-both": "relay",
  "home-lossy": "direct",
  "rst-nat": "direct",
  "rst-both": null,
  // Through IPv6: no translation, and the firewalls let a simultaneous open through.
  "symmetric-ipv6": "direct",
  // b connects to the port a's router forwards to a.
  "natpmp-symmetric": "direct",
  // Issue 18: both NATs reset unsolicited SYNs, a router between them, no
  // delay and 20 ms one way; not asserted until the punching times its
  // dials. Measured with 20 trials each: direct in 0 of 20 at 0 ms (the
  // transfer finished first), 20 of 20 at 20 ms (median 2.3 s to direct).
  "rst-both-0": null,
  "rst-both-20": null,
  // b connects to the port a's router forwards through UPnP IGD, or PCP, only.
  "upnp-symmetric": "direct",
  "pcp-symmetric": "direct",
};

const MATRIX: string[] = [];

async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of (await Deno.open(path)).readable) hash.update(chunk);
  return hash.digest("hex");
}

/** Runs punch in a lab host; resolves with its exit code and JSON events. */
function punch(lab: Lab, host: "server" | "a" | "b", args: string[]): Deno.ChildProcess {
  return lab.hosts[host].run(
    [Deno.execPath(), "run", "-A", "--v8-flags=--expose-gc", CLI, ...args],
    { stdin: "null", stdout: "piped", stderr: "piped", env: { NO_COLOR: "1", PUNCH_SERVER: "" } },
  );
}

async function lines(stream: ReadableStream<Uint8Array>, onEvent: (e: JsonEvent) => void) {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let at;
    while ((at = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      try {
        onEvent(JSON.parse(line));
      } catch { /* not JSON */ }
    }
  }
}

/** What {@linkcode transfer} saw. */
interface Run {
  sent: JsonEvent[];
  received: JsonEvent[];
  /** The server's `GET /healthz` once both sides had exited. */
  server: Record<string, unknown>;
}

/**
 * A real `punch serve` on the lab's internet, `punch send file` on host a
 * and `punch receive` into `out` on host b; asserts both exit 0 and the file
 * arrives intact. `onEvent` sees each side's events as they come.
 */
async function transfer(
  lab: Lab,
  file: string,
  out: string,
  onEvent: (side: "sender" | "receiver", event: JsonEvent, sender: Deno.ChildProcess) => void =
    () => {},
  extraArgs: readonly string[] = [],
): Promise<Run> {
  const server = punch(lab, "server", [
    "serve",
    "--hostname",
    "0.0.0.0",
    "--port",
    String(SERVER_PORT),
    "--json",
  ]);
  const listening = Promise.withResolvers<void>();
  lines(server.stdout, (e) => e.type === "listening" && listening.resolve());
  server.stderr.cancel();
  await listening.promise;
  const url = lab.serverUrl(SERVER_PORT);

  const sent: JsonEvent[] = [];
  const received: JsonEvent[] = [];
  const sender = punch(lab, "a", ["send", "--json", "--server", url, ...extraArgs, file]);
  const code = Promise.withResolvers<string>();
  const senderLines = lines(sender.stdout, (e) => {
    sent.push(e);
    if (e.type === "code") code.resolve(e.code as string);
    onEvent("sender", e, sender);
  });
  const senderErr = new Response(sender.stderr).text();
  const receiver = punch(lab, "b", [
    "receive",
    "--json",
    "--yes",
    "--server",
    url,
    "--out",
    out,
    ...extraArgs,
    await code.promise,
  ]);
  const receiverLines = lines(receiver.stdout, (e) => {
    received.push(e);
    onEvent("receiver", e, sender);
  });
  const receiverErr = new Response(receiver.stderr).text();
  const [s, r] = await Promise.all([sender.status, receiver.status]);
  await Promise.all([senderLines, receiverLines]);
  const stats = await healthz(lab, url);
  server.kill("SIGTERM");
  await server.status;

  const shown = (events: JsonEvent[]) =>
    JSON.stringify(events.filter((e) => e.type !== "progress"));
  const both = async () =>
    `sender: ${await senderErr}${shown(sent)}\nreceiver: ${await receiverErr}${shown(received)}`;
  equal(s.code, 0, await both());
  equal(r.code, 0, await both());
  equal(await sha256(join(out, basename(file))), await sha256(file));
  return { sent, received, server: stats };
}

/** The lab server's counters, asked from its own namespace. */
async function healthz(lab: Lab, url: string): Promise<Record<string, unknown>> {
  const script =
    `console.log(await (await fetch(${JSON.stringify(new URL("/healthz", url).href)},` +
    ` { signal: AbortSignal.timeout(5000) })).text())`;
  const asking = lab.hosts.server.run([Deno.execPath(), "eval", script], {
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1" },
  });
  const text = await new Response(asking.stdout).text();
  await asking.status;
  return JSON.parse(text);
}

for (const [scenario, expected] of Object.entries(EXPECTED) as [ScenarioName, string | null][]) {
  Deno.test({
    name: `punch through the NAT lab: ${scenario} ends on ${expected ?? "either path"}`,
    ignore: !canBuild(SUPPORT, SCENARIOS[scenario]),
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using dir = await tempDir();
      const file = join(dir.path, "data.bin");
      await writeRandomFile(file, fileBytes(scenario));
      await using lab = await createLab(scenario);
      const { sent, received } = await transfer(lab, file, join(dir.path, "out"));

      const done = received.find((e) => e.type === "done")!;
      const path = sent.find((e) => e.type === "path");
      // A punched connection that broke later sends the transfer back to the
      // relay (seen once in rst-nat): punching worked, and the matrix says so.
      const fellBack = [sent, received].every((events) =>
        events.some((e) => e.type === "path" && e.from === "direct")
      );
      // What the relay had carried when the sender moved, as far as its last
      // progress event before the move tells (at most five a second).
      const moveAt = sent.findIndex((e) => e.type === "path" && e.path === "direct");
      const relayed = Number(
        sent.slice(0, moveAt).findLast((e) => e.type === "progress")?.bytes ?? 0,
      );
      const onRelay = relayed > 0
        ? ` after ${(relayed / 2 ** 20).toFixed(0)}+ MiB on the relay`
        : "";
      MATRIX.push(
        `${scenario.padEnd(15)} ${String(done.path).padEnd(7)} ${
          path?.path === "direct"
            ? `direct via ${path.address}${onRelay}`
            : `relay: ${path?.reason}`
        }${fellBack ? ", then it broke and the transfer went back to the relay" : ""}`,
      );
      const paths = JSON.stringify(
        [...sent, ...received].filter((e) => e.type === "path" || e.type === "done"),
      );
      if (expected === "direct") {
        equal(path?.path, "direct", paths);
        const ended = fellBack ? "relay" : "direct";
        equal(done.path, ended, paths);
        // IPv4 is symmetric there: the connection must be IPv6's.
        if (SCENARIOS[scenario].ipv6) match(String(path?.address), /^\[2001:db8:/, paths);
        // Both NATs are symmetric: the receiver (b) dialed the port a's router
        // forwards, on its mapping address.
        if (SCENARIOS[scenario].portMapping !== null) {
          const dialed = received.find((e) => e.type === "path" && e.path === "direct");
          match(String(dialed?.address), /^45\.0\.0\.21:/, paths);
        }
        equal(sent.find((e) => e.type === "done")?.path, ended, paths);
      } else if (expected === "relay") {
        equal(done.path, "relay", paths);
        match(String(path?.reason), /symmetric NAT/);
      }
    },
  });
}

/**
 * How much later than the sender the receiver begins punching, one trial
 * each. Every dial attempt of the sender that times out (after 1 s) is
 * followed by the next: its NAT still maps the unanswered SYN, so the
 * receiver's SYN passes it whenever it comes, and must find a dial to meet
 * rather than the listener alone, whose SYN-ACK the NAT drops (see the dial
 * loop in lib/transit/punch.ts). With a pause of 0–500 ms after each timeout,
 * as punch had, the first five all punched in about one run in a hundred.
 * The last lands in the sender's third attempt, after its timeout doubled
 * twice (1 s, 2 s, then 4 s).
 */
const LATE_STARTS_MS = [1050, 1150, 1250, 1350, 1450, 3200];

Deno.test({
  name: "punch through the NAT lab: home-both, a side that begins punching late still punches",
  ignore: !SUPPORT.ok,
  async fn() {
    await using lab = await createLab("home-both");
    const isk = bytesToHex(crypto.getRandomValues(new Uint8Array(64)));
    const side = new URL("./natlab/testdata/transit_side.ts", import.meta.url).pathname;
    for (const [trial, lateMs] of LATE_STARTS_MS.entries()) {
      const ports = { a: 42_000 + 2 * trial, b: 42_001 + 2 * trial };
      const startAt = Date.now() + 2000; // after both processes are up
      const run = async (host: "a" | "b", role: "sender" | "receiver", peer: "a" | "b") => {
        const { stdout, stderr } = await lab.hosts[host].output([
          Deno.execPath(),
          "run",
          "-A",
          side,
          role,
          String(ports[host]),
          lab.hosts[peer].publicIp,
          String(ports[peer]),
          isk,
          String(role === "receiver" ? startAt + lateMs : startAt),
          "5000",
        ], { stdin: "null" });
        const text = new TextDecoder().decode(stdout).trim();
        ok(text, new TextDecoder().decode(stderr));
        return JSON.parse(text);
      };
      const results = await Promise.all([run("a", "sender", "b"), run("b", "receiver", "a")]);
      deepEqual(
        results.map((r) => r.path),
        ["direct", "direct"],
        `receiver ${lateMs} ms late: ${JSON.stringify(results)}`,
      );
    }
    MATRIX.push(
      `${"late-start".padEnd(15)} direct  home-both, the receiver punching ${
        LATE_STARTS_MS.join(", ")
      } ms after the sender`,
    );
  },
});

/**
 * How router a cuts the direct connection between a and b, as a NAT that
 * rebooted or lost its mapping; the rendezvous stays reachable. `reset`:
 * every segment is answered with a RST. `silent`: every segment is dropped,
 * so the break is seen only by the missing acknowledgements or records.
 */
const CUTS = {
  reset: ["REJECT", "--reject-with", "tcp-reset"],
  silent: ["DROP"],
} as const;

/** The cuts of one transfer, in order; each heals once both sides are back on the relay. */
const CUT_PLAN = ["reset", "silent", "reset"] as const;

/** The transfer of the cut test: long enough, at the direct path's cap below, to outlast three cuts. */
const CUT_FILE_BYTES = 256 * 1024 * 1024;

/**
 * What router a lets through from a to b, on its internet side (htb): a
 * direct path at 80 Mbit/s (10 MB/s) takes half a minute for the file,
 * while the relay keeps its own cap (SERVER_UPLINK, 25 MB/s).
 */
const DIRECT_RATE = "80mbit";

/** The connection's window (lib/connection/defaults.ts): what a cut may cost again. */
const WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * What the server may relay beyond the sides' messages: each record's
 * header and tag (a few dozen bytes on a message of up to 1 MiB), the
 * acknowledgements, pings and path records, the key confirmation.
 */
const RELAY_FRAMING_SHARE = 0.01;
const RELAY_FRAMING_SLACK_BYTES = 64 * 1024;

/** Runs a command in a namespace; fails the test if it fails. */
async function inNs(ns: string, ...args: string[]): Promise<void> {
  const { success, stderr } = await new Deno.Command("ip", {
    args: ["netns", "exec", ns, ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  ok(success, `${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
}

Deno.test({
  name:
    "punch through the NAT lab: three cuts in one transfer, each back to the relay and direct again",
  ignore: !SUPPORT.ok,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using dir = await tempDir();
    const file = join(dir.path, "data.bin");
    await writeRandomFile(file, CUT_FILE_BYTES);
    await using lab = await createLab("home-both");
    const router = lab.routers.find((r) => r.side === "a")!;
    const peer = lab.hosts.b.publicIp;
    const tc = (...args: string[]) => inNs(router.ns, "tc", ...args);
    await tc("qdisc", "add", "dev", "wan0", "root", "handle", "1:", "htb", "default", "1");
    await tc(
      "class",
      "add",
      "dev",
      "wan0",
      "parent",
      "1:",
      "classid",
      "1:1",
      "htb",
      "rate",
      "10gbit",
    );
    await tc(
      "class",
      "add",
      "dev",
      "wan0",
      "parent",
      "1:",
      "classid",
      "1:2",
      "htb",
      "rate",
      DIRECT_RATE,
    );
    await tc(
      ..."filter add dev wan0 protocol ip parent 1: prio 1 u32 match ip dst".split(" "),
      `${peer}/32`,
      "flowid",
      "1:2",
    );
    const rules = (how: keyof typeof CUTS) =>
      [["-s", peer], ["-d", peer]].map((
        way,
      ) => ["FORWARD", "-p", "tcp", ...way, "-j", ...CUTS[how]]);
    const cut = async (how: keyof typeof CUTS) => {
      for (const rule of rules(how)) await inNs(router.ns, "iptables", "-I", ...rule);
    };
    const heal = async (how: keyof typeof CUTS) => {
      for (const rule of rules(how)) await inNs(router.ns, "iptables", "-D", ...rule);
    };

    // Each side's count of moves onto a direct path and back: the k-th cut
    // comes once both are direct for the k-th time (and data flowed a
    // moment), and heals once both are back on the relay.
    const direct = { sender: 0, receiver: 0 };
    const back = { sender: 0, receiver: 0 };
    let done = 0;
    let pending: Promise<void> = Promise.resolve();
    const step = () => {
      const k = done;
      if (k >= CUT_PLAN.length) return;
      if (direct.sender > k && direct.receiver > k && back.sender === k && back.receiver === k) {
        pending = pending.then(() => new Promise((r) => setTimeout(r, 1500))).then(() =>
          cut(CUT_PLAN[k]!)
        );
      } else if (back.sender > k && back.receiver > k) {
        done++;
        pending = pending.then(() => heal(CUT_PLAN[k]!));
      }
    };
    const run = await transfer(lab, file, join(dir.path, "out"), (side, e) => {
      if (e.type !== "path") return;
      if (e.path === "direct") direct[side]++;
      else if (e.from === "direct") back[side]++;
      step();
    });
    await pending;

    const { sent } = run;
    for (const events of [sent, run.received]) {
      const moves = events.filter((e) => e.type === "path" && (e.path === "direct" || e.from));
      deepEqual(
        moves.map((e) => e.path),
        ["direct", "relay", "direct", "relay", "direct", "relay", "direct"],
        JSON.stringify(events.filter((e) => e.type === "path")),
      );
      for (const e of moves.filter((e) => e.path === "relay")) {
        match(String(e.reason), /direct connection broke/);
      }
      equal(events.find((e) => e.type === "done")?.path, "direct");
    }
    // What the cuts cost: at most a window sent again for each.
    const summary = sent.find((e) => e.type === "done")!;
    const resent = Number(summary.resent ?? 0);
    const relayed = Number(summary.relayed ?? 0);
    ok(resent <= CUT_PLAN.length * WINDOW_BYTES, `${resent} bytes sent again`);
    ok(relayed < CUT_FILE_BYTES, `${relayed} bytes through the relay`);
    // The server's own count: the messages both sides sent through it, and
    // no more than their records' framing, acknowledgements and pings beside.
    const received = Number(run.received.find((e) => e.type === "done")?.relayed ?? 0);
    const atServer = Number(run.server.relayedBytes);
    const framing = atServer - relayed - received;
    ok(
      framing >= 0 && framing <= RELAY_FRAMING_SHARE * atServer + RELAY_FRAMING_SLACK_BYTES,
      `the server relayed ${atServer} bytes, the sides' messages ${relayed} + ${received}`,
    );
    MATRIX.push(
      `${"cuts".padEnd(15)} direct  reset, silent, reset: back on the relay and direct again ` +
        `each time; ${(relayed / 2 ** 20).toFixed(1)} MiB relayed, ` +
        `${(resent / 2 ** 20).toFixed(1)} MiB of it sent again; the server relayed ` +
        `${(atServer / 2 ** 20).toFixed(1)} MiB in all (${(received / 2 ** 20).toFixed(1)} from ` +
        "the receiver)",
    );
  },
});

// --- Issue 18: trials of the new scenarios, port mapping off, an interrupted mapping. ---

/**
 * Trials of each scenario in TRIAL_SCENARIOS, one transfer each:
 * NATLAB_TRIALS, or by default 2. A trial took 7 s in rst-both-0 (on the
 * relay to the end), 11 s in rst-both-20, 2–3 s in upnp-symmetric and
 * pcp-symmetric, 32 s in home-lossy (32 MiB over the lossy link): the
 * default adds about 2 minutes to CI; NATLAB_TRIALS=20 (issue 18's matrix)
 * takes about 17, and with NATLAB_TRIAL_SCENARIOS=all about 38 (home-lossy's
 * transfers take 4 to 100 s each).
 */
const TRIALS = Number(Deno.env.get("NATLAB_TRIALS") ?? 2);
/**
 * The scenarios whose share of direct transfers issue 18 asks for, or those
 * NATLAB_TRIAL_SCENARIOS names (comma-separated; "all" for every one).
 */
const TRIAL_SCENARIOS: readonly ScenarioName[] = trialScenarios(
  Deno.env.get("NATLAB_TRIAL_SCENARIOS"),
);

function trialScenarios(names: string | undefined): ScenarioName[] {
  if (names === undefined || names === "") {
    return [
      "home-both",
      "rst-both-0",
      "rst-both-20",
      "upnp-symmetric",
      "pcp-symmetric",
      "home-lossy",
    ];
  }
  if (names === "all") return Object.keys(SCENARIOS) as ScenarioName[];
  const list = names.split(",").map((name) => name.trim());
  const unknown = list.filter((name) => !(name in SCENARIOS));
  if (unknown.length) throw new Error(`NATLAB_TRIAL_SCENARIOS: no scenario ${unknown.join(", ")}`);
  return list as ScenarioName[];
}

/** What one side saw of its move to a direct path, by the test's clock. */
function timeToDirect(events: { at: number; event: JsonEvent }[]): number | null {
  const connected = events.find((e) => e.event.type === "connected")?.at;
  const moved = events.find((e) => e.event.type === "path" && e.event.path === "direct")?.at;
  return connected === undefined || moved === undefined ? null : moved - connected;
}

function median(values: number[]): number {
  const sorted = values.toSorted((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

for (const scenario of TRIAL_SCENARIOS) {
  Deno.test({
    name: `punch through the NAT lab: ${scenario}, ${TRIALS} trials, how many go direct`,
    ignore: TRIALS < 1 || !canBuild(SUPPORT, SCENARIOS[scenario]),
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using dir = await tempDir();
      const file = join(dir.path, "data.bin");
      await writeRandomFile(file, fileBytes(scenario));
      await using lab = await createLab(scenario);
      const times: number[] = [];
      const missed: string[] = [];
      for (let trial = 0; trial < TRIALS; trial++) {
        const seen = { sender: [], receiver: [] } as Record<
          "sender" | "receiver",
          { at: number; event: JsonEvent }[]
        >;
        const out = join(dir.path, `out-${trial}`);
        const { sent } = await transfer(lab, file, out, (side, event) => {
          seen[side].push({ at: performance.now(), event });
        });
        await Deno.remove(out, { recursive: true });
        const both = [timeToDirect(seen.sender), timeToDirect(seen.receiver)];
        if (both.every((ms) => ms !== null)) times.push(Math.max(...(both as number[])));
        else missed.push(String(sent.find((e) => e.type === "path")?.reason ?? "no path event"));
      }
      const ms = times.length
        ? `, time to direct median ${median(times).toFixed(0)} ms ` +
          `(${Math.min(...times).toFixed(0)}–${Math.max(...times).toFixed(0)})`
        : "";
      const why = missed.length ? `; relay: ${[...new Set(missed)].join(" | ")}` : "";
      MATRIX.push(
        `${scenario.padEnd(15)} trials  direct in ${times.length} of ${TRIALS}${ms}${why}`,
      );
      if (EXPECTED[scenario] === "direct") {
        equal(times.length, TRIALS, `direct in ${times.length} of ${TRIALS}${why}`);
      }
    },
  });
}

Deno.test({
  name: "punch through the NAT lab: upnp-symmetric with --no-port-mapping ends on the relay",
  ignore: !canBuild(SUPPORT, SCENARIOS["upnp-symmetric"]),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using dir = await tempDir();
    const file = join(dir.path, "data.bin");
    await writeRandomFile(file, 8 * 1024 * 1024);
    await using lab = await createLab("upnp-symmetric");
    const ra = lab.routers.find((r) => r.side === "a")!;
    const { sent, received } = await transfer(
      lab,
      file,
      join(dir.path, "out"),
      undefined,
      ["--no-port-mapping"],
    );
    for (const events of [sent, received]) {
      const done = events.find((e) => e.type === "done");
      equal(done?.path, "relay", JSON.stringify(events.filter((e) => e.type !== "progress")));
      match(String(events.find((e) => e.type === "path")?.reason), /symmetric NAT/);
    }
    // Nothing was asked of router a: no UPnP mapping was ever made.
    equal(await miniupnpdForwards(ra.ns), "");
    MATRIX.push(`${"upnp-symmetric".padEnd(15)} relay   with --no-port-mapping`);
  },
});

/** The port forwards miniupnpd holds in router namespace `ns` (its DNAT rules), one a line. */
async function miniupnpdForwards(ns: string): Promise<string> {
  const { stdout } = await new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      ns,
      "nft",
      "list",
      "chain",
      "inet",
      "miniupnpd",
      "prerouting_miniupnpd",
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(stdout).split("\n").filter((l) => l.includes("dnat")).join("\n");
}

Deno.test({
  name:
    "punch through the NAT lab: upnp-symmetric, a sender interrupted while punching deletes its mapping",
  ignore: !canBuild(SUPPORT, SCENARIOS["upnp-symmetric"]),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using dir = await tempDir();
    const file = join(dir.path, "data.bin");
    await writeRandomFile(file, FILE_BYTES);
    await using lab = await createLab("upnp-symmetric");
    const ra = lab.routers.find((r) => r.side === "a")!;
    const rb = lab.routers.find((r) => r.side === "b")!;
    // b cannot reach a's mapping: the punching lasts its whole window,
    // with the mapping held, when the sender is interrupted.
    await inNs(rb.ns, "iptables", "-I", "FORWARD", "-d", "45.0.0.21", "-j", "DROP");
    const server = punch(lab, "server", [
      "serve",
      "--hostname",
      "0.0.0.0",
      "--port",
      String(SERVER_PORT),
      "--json",
    ]);
    const listening = Promise.withResolvers<void>();
    lines(server.stdout, (e) => e.type === "listening" && listening.resolve());
    server.stderr.cancel();
    await listening.promise;
    const url = lab.serverUrl(SERVER_PORT);
    const sender = punch(lab, "a", ["send", "--json", "--server", url, file]);
    const code = Promise.withResolvers<string>();
    const senderLines = lines(
      sender.stdout,
      (e) => e.type === "code" && code.resolve(String(e.code)),
    );
    const senderErr = new Response(sender.stderr).text();
    const receiver = punch(lab, "b", [
      "receive",
      "--json",
      "--yes",
      "--server",
      url,
      "--out",
      join(dir.path, "out"),
      await code.promise,
    ]);
    // Drained, not cancelled: a closed pipe would end the receiver.
    const drained = [receiver.stdout, receiver.stderr].map((s) => s.pipeTo(new WritableStream()));
    // Wait (bounded) for router a to forward a port to a.
    let forwards = "";
    for (let i = 0; i < 100 && forwards === ""; i++) {
      await new Promise((r) => setTimeout(r, 50));
      forwards = await miniupnpdForwards(ra.ns);
    }
    ok(forwards.includes(`dnat ip to ${lab.hosts.a.ip}:`), "router a forwarded no port to a");
    sender.kill("SIGINT");
    const status = await sender.status;
    await senderLines;
    // Gone by the time the process has exited.
    equal(await miniupnpdForwards(ra.ns), "", `${await senderErr}`);
    ok(status.code !== 0, "the interrupted sender failed");
    // It may have ended already, told that its sender left.
    try {
      receiver.kill("SIGKILL");
    } catch { /* already gone */ }
    await receiver.status;
    await Promise.allSettled(drained);
    server.kill("SIGTERM");
    await server.status;
    MATRIX.push(
      `${
        "upnp-symmetric".padEnd(15)
      } -       interrupted sender: its UPnP mapping deleted before it exited`,
    );
  },
});

Deno.test({
  name: "punch through the NAT lab: the matrix",
  ignore: !SUPPORT.ok,
  fn() {
    console.log(`\nscenario        done    path\n${MATRIX.join("\n")}`);
  },
});
