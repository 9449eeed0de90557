import { deepEqual, equal, match, ok } from "node:assert/strict";
import { addressKey, headerAddress } from "./addresses.ts";
import { clientFrame, clientFrameHead, openIdle, RawWebSocket } from "./_raw_ws.ts";
import { serve } from "./_testing.ts";
import { DEFAULT_LIMITS } from "./defaults.ts";
import { connectionCap } from "./transport.ts";

/** One HTTP exchange over a fresh TCP connection; the answer as text. */
async function rawRequest(port: number, request: string): Promise<string> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(request));
  let text = "";
  const buf = new Uint8Array(4096);
  for (let n; (n = await conn.read(buf).catch(() => null)) !== null;) {
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text;
}

/** Waits until `test` holds, checking every 10 ms, for at most 5 s. */
async function until(test: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !test(); i++) await new Promise((r) => setTimeout(r, 10));
  ok(test(), what);
}

Deno.test("serveRendezvous() answers the handler's routes and closes after each", async () => {
  await using server = serve({ transport: "hardened" });
  const health = await rawRequest(server.port, "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n");
  match(health, /^HTTP\/1\.1 200 OK\r\n/);
  match(health, /connection: close\r\n/);
  match(health, /"ok":true/);
  const reflect = await rawRequest(server.port, "GET /v1/reflect HTTP/1.1\r\n\r\n");
  match(reflect, /\{"address":"127\.0\.0\.1:\d+"\}/);
  const head = await rawRequest(server.port, "HEAD /healthz HTTP/1.1\r\n\r\n");
  match(head, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n$/);
  match(await rawRequest(server.port, "GET /nope HTTP/1.1\r\n\r\n"), /^HTTP\/1\.1 404 /);
  match(await rawRequest(server.port, "GET /v1/ws HTTP/1.1\r\n\r\n"), /^HTTP\/1\.1 426 /);
  match(await rawRequest(server.port, "BREW /pot HTCPCP/1.0\r\n\r\n"), /^HTTP\/1\.1 400 /);
  const long = `GET / HTTP/1.1\r\nx-junk: ${"a".repeat(9000)}\r\n\r\n`;
  match(await rawRequest(server.port, long), /^HTTP\/1\.1 431 /);
});

Deno.test("serveRendezvous() hangs up on a connection that sends no request in time", async () => {
  await using server = serve({ transport: "hardened", limits: { requestHeadTimeoutMs: 50 } });
  const idle = await openIdle(server.port);
  await until(() => idle.ended, "the silent connection is closed");
  equal(idle.received, "");
});

Deno.test("serveRendezvous() refuses a message over the limit at its header", async () => {
  await using server = serve({ transport: "hardened" });
  const client = await RawWebSocket.open(server.port);
  equal(client.status, 101);
  equal((await client.nextJson())?.type, "welcome");
  // 60 MB announced, 64 KiB sent: the refusal comes before the rest.
  await client.write(clientFrameHead(0x2, 60_000_000));
  await client.write(new Uint8Array(64 * 1024));
  const refusal = await client.nextJson();
  equal(refusal?.error, "too_large");
  match(String(refusal?.message), /^Message of 60000000 bytes exceeds 262144$/);
  const close = await client.next();
  equal(close?.opcode, 0x8);
  equal(new DataView(close!.payload.buffer).getUint16(0), 1008);
  await client.ended();
  await until(() => server.rendezvous.stats().connections === 0, "the hub let it go");
});

Deno.test("serveRendezvous() reassembles fragments, answers pings and refuses bad frames", async () => {
  await using server = serve({ transport: "hardened" });
  const client = await RawWebSocket.open(server.port);
  await client.nextJson(); // welcome
  await client.write(clientFrame(0x1, '{"type":"pi', false));
  await client.write(clientFrame(0x9, "hi")); // a ping between fragments
  await client.write(clientFrame(0x0, 'ng","id":7}'));
  const pong = await client.next();
  deepEqual([pong?.opcode, new TextDecoder().decode(pong?.payload)], [0xa, "hi"]);
  deepEqual(await client.nextJson(), { type: "pong", id: 7 });
  client.destroy();

  const cases: [string, Uint8Array, number][] = [
    ["unmasked", new Uint8Array([0x82, 0x01, 0x00]), 1002],
    ["not UTF-8", clientFrame(0x1, new Uint8Array([0xc3, 0x28])), 1007],
    ["stray continuation", clientFrame(0x0, "x"), 1002],
    ["unknown opcode", clientFrame(0x3, "x"), 1002],
    ["reserved bit", new Uint8Array([0xc2, 0x80, 0, 0, 0, 0]), 1002],
    ["long ping", clientFrame(0x9, new Uint8Array(126)), 1002],
  ];
  for (const [what, bytes, code] of cases) {
    const offender = await RawWebSocket.open(server.port);
    await offender.nextJson();
    await offender.write(bytes);
    const close = await offender.next();
    equal(close?.opcode, 0x8, what);
    equal(new DataView(close!.payload.buffer).getUint16(0), code, what);
    await offender.ended();
  }
});

Deno.test("serveRendezvous() caps connections per address before reading a byte", async () => {
  await using server = serve({
    transport: "hardened",
    limits: { maxConnectionsPerAddress: 3 },
  });
  const held = await Promise.all([1, 2, 3].map(() => openIdle(server.port)));
  const refused = await openIdle(server.port);
  await until(() => refused.ended, "the fourth connection is refused");
  match(refused.received, /^HTTP\/1\.1 429 /);
  // Another address is not counted with the first.
  const other = await rawRequest(server.port, "GET /healthz HTTP/1.1\r\n\r\n").catch(String);
  match(other, /^HTTP\/1\.1 429 /); // still 127.0.0.1
  const elsewhere = await openIdle(server.port, "127.0.0.2");
  elsewhere.socket.write("GET /healthz HTTP/1.1\r\n\r\n");
  await until(() => elsewhere.ended, "127.0.0.2 is served");
  match(elsewhere.received, /^HTTP\/1\.1 200 /);
  for (const idle of held) idle.socket.destroy();
  refused.socket.destroy();
});

Deno.test("serveRendezvous() at its cap closes the oldest connection that has not spoken", async () => {
  // A descriptor limit of 69 leaves room for 5 connections (64 in reserve).
  const limits = { ...DEFAULT_LIMITS, maxConnectionsPerAddress: 100 };
  equal(connectionCap(limits, 69), 5);
  await using server = serve({ transport: "hardened", limits, descriptorLimit: 69 });
  const held = [];
  for (let i = 0; i < 5; i++) held.push(await openIdle(server.port));
  const late = await openIdle(server.port);
  late.socket.write("GET /healthz HTTP/1.1\r\n\r\n");
  await until(() => late.ended, "the new connection is served");
  match(late.received, /^HTTP\/1\.1 200 /);
  ok(held[0]!.ended, "the oldest silent one made room");
  ok(!held[4]!.ended, "the others stay");
  for (const idle of held) idle.socket.destroy();
});

Deno.test("serveRendezvous() pauses on accept errors (EMFILE) and serves again afterwards", async () => {
  const script = new URL("./_emfile_serve.ts", import.meta.url).pathname;
  const child = new Deno.Command("sh", {
    args: ["-c", 'ulimit -n 128 && exec "$@"', "sh", Deno.execPath(), "run", "-A", script],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const port = Number((await reader.read()).value);
    const held = await Promise.all(
      Array.from({ length: 250 }, () => openIdle(port).catch(() => undefined)),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const idle of held) idle?.socket.destroy();
    // Connections closed while it paused may still be in its backlog: it gets to this one after.
    let answer = "";
    for (let i = 0; i < 20 && !answer.startsWith("HTTP/1.1 200 "); i++) {
      answer = await rawRequest(port, "GET /healthz HTTP/1.1\r\n\r\n").catch(String);
    }
    match(answer, /^HTTP\/1\.1 200 /);
  } catch (error) {
    throw new Error(`${error}; the server process said: ${await stderr}`, { cause: error });
  } finally {
    try {
      child.kill();
    } catch { /* it exited */ }
    await child.status;
  }
  match(await stderr, /cannot accept \(Too many open files/);
});

Deno.test("connectionCap() stays below the descriptor limit", () => {
  equal(connectionCap(DEFAULT_LIMITS, 1024), 896);
  equal(connectionCap(DEFAULT_LIMITS, 256), 192);
  equal(connectionCap(DEFAULT_LIMITS, 1_048_576), DEFAULT_LIMITS.maxConnections);
  equal(connectionCap(DEFAULT_LIMITS, undefined), DEFAULT_LIMITS.maxConnections);
});

Deno.test("addressKey() counts IPv4 as is and IPv6 by /64", () => {
  equal(addressKey("203.0.113.7"), "203.0.113.7");
  equal(addressKey("::ffff:203.0.113.7"), "203.0.113.7");
  equal(addressKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  equal(addressKey("2001:db8:1:2::9"), "2001:db8:1:2::/64");
  equal(addressKey("2001:db8::"), "2001:db8:0:0::/64");
  equal(addressKey("::1"), "0:0:0:0::/64");
});

Deno.test("headerAddress() takes the last element of a trusted header", () => {
  const headers = new Headers({ "x-forwarded-for": "10.9.9.9, 203.0.113.7" });
  deepEqual(headerAddress(headers, "x-forwarded-for"), {
    address: "203.0.113.7:0",
    key: "203.0.113.7",
  });
  deepEqual(headerAddress(new Headers({ "x-client": "[2001:db8::1]:4000" }), "x-client"), {
    address: "[2001:db8::1]:4000",
    key: "2001:db8:0:0::/64",
  });
  equal(
    headerAddress(new Headers({ "x-client": "203.0.113.7:4000" }), "x-client")?.address,
    "203.0.113.7:4000",
  );
  equal(headerAddress(new Headers({ "x-client": "not an address" }), "x-client"), undefined);
  equal(headerAddress(new Headers(), "x-client"), undefined);
});
