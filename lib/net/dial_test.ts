import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import type { Socket } from "node:net";
import { ConnectionExistsError, DialError, dialFrom, dialFromAvailable } from "./dial.ts";
import { listenReusable } from "./listen.ts";
import {
  blackhole,
  closed,
  connectedPair,
  failure,
  fdCount,
  nextConnection,
  readAll,
} from "./_test_utils.ts";

const HAS_IPV6_LOOPBACK = Deno.networkInterfaces().some((nic) => nic.address === "::1");

Deno.test("dialFromAvailable() is true on Linux with FFI permission", () => {
  equal(dialFromAvailable(), Deno.build.os === "linux");
});

Deno.test("dialFrom() connects from the port a listener holds", async () => {
  await using mine = await listenReusable({ hostname: "127.0.0.1" });
  await using theirs = await listenReusable({ hostname: "127.0.0.1" });
  const [dialed, accepted] = await connectedPair(theirs, mine.port);
  equal(dialed.localPort, mine.port);
  equal(accepted.remotePort, mine.port);
  dialed.end("ping");
  equal(await readAll(accepted), "ping");
  accepted.end("pong");
  equal(await readAll(dialed), "pong");
  await Promise.all([closed(dialed), closed(accepted)]);
});

Deno.test("dialFrom() shares one port among a listener and several dials", async () => {
  await using shared = await listenReusable({ hostname: "127.0.0.1" });
  const peers = await Promise.all([1, 2, 3].map(() => listenReusable({ hostname: "127.0.0.1" })));
  const outgoing = await Promise.all(peers.map((peer) => connectedPair(peer, shared.port)));
  // An incoming connection on the same port while the dials are open.
  const [inDialed, inAccepted] = await connectedPair(shared);
  const all: [Socket, Socket][] = [...outgoing, [inDialed, inAccepted]];
  for (const [a] of outgoing) equal(a.localPort, shared.port);
  await Promise.all(all.map(async ([a, b], i) => {
    a.end(`hello ${i}`);
    equal(await readAll(b), `hello ${i}`);
    b.end();
    await readAll(a);
  }));
  await Promise.all(peers.map((peer) => peer.close()));
});

Deno.test("dialFrom() rejects a refused connection with ECONNREFUSED", async () => {
  await using listener = await listenReusable({ hostname: "127.0.0.1" });
  const port = listener.port;
  await listener.close();
  const error = await failure(dialFrom({ localPort: 0, host: "127.0.0.1", port }), DialError);
  equal(error.code, "ECONNREFUSED");
});

Deno.test("dialFrom() times out with ETIMEDOUT when SYNs go unanswered", async () => {
  const hole = await blackhole();
  try {
    const start = performance.now();
    const error = await failure(
      dialFrom({ localPort: 0, host: "127.0.0.1", port: hole.port, timeoutMs: 150 }),
      DialError,
    );
    equal(error.code, "ETIMEDOUT");
    ok(error.message.endsWith("no answer within 150 ms"), error.message);
    const elapsed = performance.now() - start;
    ok(elapsed >= 140 && elapsed < 1000, `took ${elapsed} ms`);
  } finally {
    hole.close();
  }
});

Deno.test("dialFrom() can retry from the same port at once after a timeout", async () => {
  await using listener = await listenReusable({ hostname: "127.0.0.1" });
  const hole = await blackhole();
  try {
    for (let attempt = 0; attempt < 20; attempt++) {
      const error = await failure(
        dialFrom({ localPort: listener.port, host: "127.0.0.1", port: hole.port, timeoutMs: 5 }),
        DialError,
      );
      equal(error.code, "ETIMEDOUT");
    }
  } finally {
    hole.close();
  }
});

Deno.test("dialFrom() refuses a second dial of a connection being dialed", async () => {
  await using listener = await listenReusable({ hostname: "127.0.0.1" });
  const hole = await blackhole();
  try {
    const options = { localPort: listener.port, host: "127.0.0.1", port: hole.port };
    const first = dialFrom({ ...options, timeoutMs: 100 });
    const second = await failure(dialFrom(options), DialError);
    equal(second.code, "EALREADY");
    equal((await failure(first, DialError)).code, "ETIMEDOUT");
  } finally {
    hole.close();
  }
});

Deno.test("dialFrom() rejects with the signal's reason when aborted", async () => {
  const hole = await blackhole();
  try {
    const reason = new Error("stop");
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 30);
    const dial = dialFrom({
      localPort: 0,
      host: "127.0.0.1",
      port: hole.port,
      signal: controller.signal,
    });
    equal(await dial.catch((error) => error), reason);
    const early = dialFrom({
      localPort: 0,
      host: "127.0.0.1",
      port: hole.port,
      signal: AbortSignal.abort(reason),
    });
    equal(await early.catch((error) => error), reason);
  } finally {
    hole.close();
  }
});

Deno.test("dialFrom() throws ConnectionExistsError when the listener accepted that very connection", async () => {
  await using a = await listenReusable({ hostname: "127.0.0.1" });
  await using b = await listenReusable({ hostname: "127.0.0.1" });
  // B's SYN reaches A's listener first: A now holds a.port <-> b.port.
  const [fromB, atA] = await connectedPair(a, b.port);
  const error = await failure(
    dialFrom({ localPort: a.port, host: "127.0.0.1", port: b.port }),
    ConnectionExistsError,
  );
  ok(error instanceof DialError);
  equal(error.code, "EADDRNOTAVAIL");
  // The connection itself is fine.
  atA.end("still here");
  equal(await readAll(fromB), "still here");
  fromB.end();
  await Promise.all([closed(fromB), closed(atA)]);
});

Deno.test({
  name: "dialFrom() resolves host names and dials IPv6",
  ignore: !HAS_IPV6_LOOPBACK,
}, async () => {
  await using listener = await listenReusable({ hostname: "::" });
  const [byName, acceptedByName] = await Promise.all([
    dialFrom({ localPort: 0, host: "localhost", port: listener.port }),
    nextConnection(listener),
  ]);
  const [v6, acceptedV6] = await Promise.all([
    dialFrom({ localPort: 0, host: "::1", port: listener.port }),
    nextConnection(listener),
  ]);
  equal(v6.remoteAddress, "::1");
  equal(acceptedV6.remotePort, v6.localPort);
  for (const socket of [byName, acceptedByName, v6, acceptedV6]) socket.destroy();
  await Promise.all([byName, acceptedByName, v6, acceptedV6].map(closed));
});

Deno.test("dialFrom() checks its arguments", async () => {
  await rejects(dialFrom({ localPort: 70000, host: "127.0.0.1", port: 1 }), RangeError);
  await rejects(
    dialFrom({ localPort: 0, localAddress: "::", host: "127.0.0.1", port: 1 }),
    TypeError,
  );
});

Deno.test("dialFrom() leaks no file descriptors over 200 rounds", async () => {
  await using listener = await listenReusable({ hostname: "127.0.0.1" });
  await using from = await listenReusable({ hostname: "127.0.0.1" });
  const hole = await blackhole();
  const refusing = await listenReusable({ hostname: "127.0.0.1" });
  const refusedPort = refusing.port;
  await refusing.close();
  // Warm up: the C library, the shared poll(), node:net internals.
  const [warmA, warmB] = await connectedPair(listener);
  warmA.destroy();
  warmB.destroy();
  await Promise.all([closed(warmA), closed(warmB)]);
  const before = await fdCount();
  const outcomes = new Map<string, number>();
  const count = (name: string) => outcomes.set(name, (outcomes.get(name) ?? 0) + 1);
  let after: number;
  try {
    for (let round = 0; round < 200; round++) {
      const kind = round % 4;
      if (kind === 0) {
        // Alternate local ports: a reconnect on the same 4-tuple right
        // after closing would hit TIME_WAIT.
        const [a, b] = await connectedPair(listener, round % 8 === 0 ? from.port : 0);
        a.destroy();
        b.destroy();
        await Promise.all([closed(a), closed(b)]);
        count("connected");
      } else if (kind === 1) {
        const error = await dialFrom({ localPort: from.port, host: "127.0.0.1", port: refusedPort })
          .catch((error) => error);
        count((error as DialError).code);
      } else if (kind === 2) {
        const error = await dialFrom({
          localPort: from.port,
          host: "127.0.0.1",
          port: hole.port,
          timeoutMs: 5,
        }).catch((error) => error);
        count((error as DialError).code);
      } else {
        const error = await dialFrom({
          localPort: 0,
          host: "127.0.0.1",
          port: hole.port,
          signal: AbortSignal.timeout(3),
        }).catch((error) => error);
        count((error as Error).name);
      }
    }
    after = await fdCount();
  } finally {
    hole.close();
  }
  deepEqual(Object.fromEntries(outcomes), {
    connected: 50,
    ECONNREFUSED: 50,
    ETIMEDOUT: 50,
    TimeoutError: 50,
  });
  equal(after, before);
});

Deno.test("dialFrom() falls back to node:net without FFI permission", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      new URL("./testdata/no_ffi_child.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder().decode(stdout);
  equal(code, 0, new TextDecoder().decode(stderr));
  deepEqual(JSON.parse(text), {
    available: false,
    reusePort: true,
    dialWithoutListener: "connected",
    dialBesideListener: "EADDRINUSE",
  });
});

/** Whether this process may make network namespaces (root, with iproute2's `ip`). */
const CAN_NETNS = Deno.build.os === "linux" && Deno.uid() === 0 &&
  new Deno.Command("ip", { args: ["netns", "list"], stdout: "null", stderr: "null" }).outputSync()
    .success;

/**
 * Three namespaces in a row, host — router — server (10.93.1.0/24 and
 * 10.93.2.0/24): a SYN with TTL 1 from the host expires at the router, which
 * answers with an ICMP time exceeded.
 */
async function routedPair(): Promise<{ host: string; server: string } & AsyncDisposable> {
  const id = crypto.randomUUID().slice(0, 6);
  const [host, router, server] = ["h", "r", "s"].map((n) => `punch-ttl-${n}-${id}`);
  const ip = async (...args: string[]) => {
    const { success, stderr } = await new Deno.Command("ip", { args, stderr: "piped" }).output();
    if (!success) throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  };
  const spaces = [host!, router!, server!];
  for (const name of spaces) await ip("netns", "add", name);
  const dispose = async () => {
    for (const name of spaces) await ip("netns", "delete", name).catch(() => {});
  };
  try {
    for (const [a, b, net] of [[host!, router!, 1], [router!, server!, 2]] as const) {
      await ip(
        "-n",
        a,
        "link",
        "add",
        "up0",
        "type",
        "veth",
        "peer",
        "name",
        `dn${net}`,
        "netns",
        b,
      );
      await ip("-n", a, "addr", "add", `10.93.${net}.${a === host ? 2 : 1}/24`, "dev", "up0");
      await ip(
        "-n",
        b,
        "addr",
        "add",
        `10.93.${net}.${b === server ? 2 : 1}/24`,
        "dev",
        `dn${net}`,
      );
      await ip("-n", a, "link", "set", "up0", "up");
      await ip("-n", b, "link", "set", `dn${net}`, "up");
    }
    await ip("-n", host!, "route", "add", "default", "via", "10.93.1.1");
    await ip("-n", server!, "route", "add", "default", "via", "10.93.2.1");
    await ip("netns", "exec", router!, "sysctl", "-qw", "net.ipv4.ip_forward=1");
  } catch (error) {
    await dispose();
    throw error;
  }
  return { host: host!, server: server!, [Symbol.asyncDispose]: dispose };
}

/** One dial with a short SYN TTL, run in `netns`: how it ended. */
async function primedDial(
  netns: string,
  target: string,
  synTtl: number,
  timeoutMs: number,
  outlastExpiry: boolean,
): Promise<{ code: string; ms: number }> {
  const script = new URL("./testdata/primed_dial.ts", import.meta.url).pathname;
  const { stdout, stderr, success } = await new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      netns,
      Deno.execPath(),
      "run",
      "-A",
      script,
      target,
      "7000",
      String(synTtl),
      String(timeoutMs),
      outlastExpiry ? "outlast" : "",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  ok(success, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

Deno.test({
  name:
    "dialFrom() with a short SYN TTL ends on the ICMP time exceeded it draws, or outlasts it, and its retransmission goes with the usual TTL",
  ignore: !CAN_NETNS,
}, async () => {
  await using lab = await routedPair();
  // A listener behind the router; the dial's first SYN expires at the router.
  const listener = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      lab.server,
      Deno.execPath(),
      "eval",
      `
      const listener = Deno.listen({ hostname: "10.93.2.2", port: 7000 });
      console.log("listening");
      for await (const connection of listener) connection.close();`,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const lines = listener.stdout.pipeThrough(new TextDecoderStream()).getReader();
    equal((await lines.read()).value?.trim(), "listening");
    lines.releaseLock();
    // The expired SYN ends the dial at once.
    const ended = await primedDial(lab.host, "10.93.2.2", 1, 5000, false);
    equal(ended.code, "EHOSTUNREACH");
    ok(ended.ms < 500, `ended after ${ended.ms} ms`);
    // Outlasting it, the dial waits, and the first retransmission (after
    // about 1 s) connects.
    const connected = await primedDial(lab.host, "10.93.2.2", 1, 5000, true);
    equal(connected.code, "connected");
    ok(connected.ms > 500, `connected after ${connected.ms} ms, before any retransmission`);
    // With a shorter attempt, no answer at all.
    equal((await primedDial(lab.host, "10.93.2.2", 1, 400, true)).code, "ETIMEDOUT");
  } finally {
    listener.kill("SIGKILL");
    await listener.status;
  }
});
