import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { createServer } from "node:net";
import { DialError, dialFrom } from "./dial.ts";
import { listenReusable, listenWith } from "./listen.ts";
import { closed, connectedPair, failure, nextConnection, readAll } from "./_test_utils.ts";

Deno.test("listenReusable() accepts connections on a port the system picks", async () => {
  await using listener = await listenReusable();
  ok(listener.port > 0);
  equal(listener.hostname, "0.0.0.0");
  equal(listener.reusePort, true);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  const socket = await nextConnection(listener);
  equal(socket.remotePort, (conn.localAddr as Deno.NetAddr).port);
  await conn.write(new TextEncoder().encode("hello"));
  await conn.closeWrite();
  equal(await readAll(socket), "hello");
  socket.end();
  equal(await conn.read(new Uint8Array(1)), null);
  conn.close();
  await closed(socket);
});

Deno.test("listenReusable() hands out connections in order, queued or awaited", async () => {
  await using listener = await listenReusable({ hostname: "127.0.0.1" });
  const first = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  const second = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  await new Promise((resolve) => setTimeout(resolve, 50)); // Both wait in the queue.
  const ports: number[] = [];
  for await (const socket of listener.connections) {
    ports.push(socket.remotePort!);
    socket.destroy();
    if (ports.length === 2) break;
  }
  deepEqual(ports, [first, second].map((conn) => (conn.localAddr as Deno.NetAddr).port));
  // Leaving the loop did not stop the listener.
  const [dialed, accepted] = await connectedPair(listener);
  for (const socket of [dialed, accepted]) socket.destroy();
  first.close();
  second.close();
});

Deno.test("listenReusable() close() ends iteration and destroys queued connections", async () => {
  const listener = await listenReusable({ hostname: "127.0.0.1" });
  const [dialed, accepted] = await connectedPair(listener);
  const waiting = listener.connections[Symbol.asyncIterator]().next();
  const queuedPort = listener.port;
  await listener.close();
  await listener.close(); // Twice is fine.
  equal((await waiting).done, true);
  // The one taken before stays open.
  accepted.end("after close");
  equal(await readAll(dialed), "after close");
  dialed.end();
  await closed(accepted);
  await rejects(Deno.connect({ hostname: "127.0.0.1", port: queuedPort }));
});

Deno.test("listenReusable() close() destroys connections nobody took", async () => {
  const listener = await listenReusable({ hostname: "127.0.0.1" });
  const queued = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  await new Promise((resolve) => setTimeout(resolve, 50)); // Accepted and queued.
  await listener.close();
  // Its peer reads the end.
  equal(await queued.read(new Uint8Array(1)), null);
  queued.close();
});

Deno.test("listenReusable() releases the port on close()", async () => {
  const listener = await listenReusable({ hostname: "127.0.0.1" });
  const port = listener.port;
  await listener.close();
  // A listener without SO_REUSEPORT could not bind while ours held the port.
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host: "127.0.0.1" }, resolve);
  });
  await new Promise((resolve) => server.close(resolve));
});

Deno.test("listenReusable() rejects a port held without SO_REUSEPORT", async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ port: 0, host: "127.0.0.1" }, resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const error = await failure(listenReusable({ port, hostname: "127.0.0.1" }), Error);
    equal((error as Error & { code?: string }).code, "EADDRINUSE");
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  await rejects(listenReusable({ port: -1 }), RangeError);
});

Deno.test({
  name: "listenReusable() on :: takes IPv4 and IPv6 beside IPv4 dials from its port",
  ignore: !Deno.networkInterfaces().some((nic) => nic.address === "::1"),
}, async () => {
  await using listener = await listenReusable({ hostname: "::" });
  await using peer = await listenReusable({ hostname: "127.0.0.1" });
  const [out, outAccepted] = await connectedPair(peer, listener.port);
  for (const host of ["127.0.0.1", "::1"]) {
    const [dialed, accepted] = await Promise.all([
      dialFrom({ localPort: 0, host, port: listener.port }),
      nextConnection(listener),
    ]);
    dialed.end(host);
    equal(await readAll(accepted), host);
    accepted.destroy();
    dialed.destroy();
  }
  equal(out.localPort, listener.port);
  out.destroy();
  outAccepted.destroy();
});

Deno.test("listenWith() node:net listener shares its port with dials", async () => {
  await using listener = await listenWith("node", 0, "127.0.0.1");
  await using peer = await listenReusable({ hostname: "127.0.0.1" });
  equal(listener.reusePort, true);
  const [out, outAccepted] = await connectedPair(peer, listener.port);
  const [inDialed, inAccepted] = await connectedPair(listener);
  equal(out.localPort, listener.port);
  inDialed.end("in");
  equal(await readAll(inAccepted), "in");
  for (const socket of [out, outAccepted, inDialed, inAccepted]) socket.destroy();
});

Deno.test("listenWith() plain listener keeps dials off its port", async () => {
  await using listener = await listenWith("plain", 0, "127.0.0.1");
  await using peer = await listenReusable({ hostname: "127.0.0.1" });
  equal(listener.reusePort, false);
  const error = await failure(
    dialFrom({ localPort: listener.port, host: "127.0.0.1", port: peer.port }),
    DialError,
  );
  equal(error.code, "EADDRINUSE");
});
