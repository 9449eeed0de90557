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
