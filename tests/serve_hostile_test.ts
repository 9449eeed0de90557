// `punch serve` against clients that hold descriptors, send oversize
// messages or crowd one address (issue 16, findings 2 and 3). Each spawns
// the real program; on 32b5f85 (Deno.serve) the first exits, the second
// never answers, the third serves every connection, and the last has no
// such flag.

import { equal, match, ok } from "node:assert/strict";
import { clientFrameHead, type IdleConnection, openIdle, RawWebSocket } from "../edge/_raw_ws.ts";
import { DEFAULT_LIMITS } from "../edge/defaults.ts";

const CLI = new URL("../cli/main.ts", import.meta.url).pathname;

/** `punch serve` on a free loopback port, with at most `descriptors` open files if given. */
async function startServe(descriptors?: number, args: string[] = []) {
  const serve = [
    Deno.execPath(),
    "run",
    "-A",
    CLI,
    "serve",
    "--hostname",
    "0.0.0.0",
    "--port",
    "0",
  ];
  serve.push(...args);
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      `${descriptors ? `ulimit -n ${descriptors} && ` : ""}exec "$@"`,
      "sh",
      ...serve,
      "--json",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("punch serve ended before listening");
    text += value;
  }
  reader.releaseLock();
  const port = Number(/"url":"http:\/\/[^"]*:(\d+)"/.exec(text)?.[1]);
  let exited = false;
  const status = child.status.then((s) => (exited = true, s));
  const stderr = new Response(child.stderr).text();
  return {
    port,
    get exited() {
      return exited;
    },
    status,
    stderr,
    async [Symbol.asyncDispose]() {
      if (!exited) child.kill("SIGKILL");
      await status;
      await child.stdout.cancel().catch(() => {});
    },
  };
}

/** GET /healthz from `localAddress`; the status line, or the error. */
async function health(port: number, localAddress = "127.0.0.1"): Promise<string> {
  let idle: IdleConnection;
  try {
    idle = await openIdle(port, localAddress);
  } catch (error) {
    return String(error);
  }
  idle.socket.write("GET /healthz HTTP/1.1\r\n\r\n");
  for (let i = 0; i < 500 && !idle.ended; i++) await new Promise((r) => setTimeout(r, 10));
  idle.socket.destroy();
  return idle.received.split("\r\n")[0] ?? "";
}

Deno.test("punch serve stays up when clients take every descriptor (ulimit -n 128)", async () => {
  await using server = await startServe(128);
  const idle: IdleConnection[] = [];
  // 300 silent connections from five addresses, far over the 128 descriptors.
  await Promise.all(Array.from({ length: 300 }, async (_, i) => {
    try {
      idle.push(await openIdle(server.port, `127.0.0.${2 + (i % 5)}`));
    } catch { /* refused at the door */ }
  }));
  // While they are held, a new client gets in: the oldest silent ones make room.
  let answer = "";
  for (let i = 0; i < 20 && answer !== "HTTP/1.1 200 OK"; i++) {
    answer = await health(server.port);
    if (answer !== "HTTP/1.1 200 OK") await new Promise((r) => setTimeout(r, 100));
  }
  equal(answer, "HTTP/1.1 200 OK");
  for (const connection of idle) connection.socket.destroy();
  equal(await health(server.port), "HTTP/1.1 200 OK");
  ok(!server.exited, "punch serve is still running");
});

Deno.test("punch serve refuses an oversize WebSocket message before it has arrived", async () => {
  await using server = await startServe();
  const client = await RawWebSocket.open(server.port);
  equal(client.status, 101);
  equal((await client.nextJson())?.type, "welcome");
  await client.write(clientFrameHead(0x2, 60_000_000));
  await client.write(new Uint8Array(64 * 1024));
  const timeout = new Promise<"none">((resolve) => setTimeout(() => resolve("none"), 10_000));
  const refusal = await Promise.race([client.nextJson(), timeout]);
  client.destroy();
  ok(refusal !== "none", "the server answered before the message was complete");
  equal(refusal?.error, "too_large");
});

Deno.test("punch serve caps connections per address before reading a byte", async () => {
  await using server = await startServe();
  const max = DEFAULT_LIMITS.maxConnectionsPerAddress;
  const held = await Promise.all(Array.from({ length: max }, () => openIdle(server.port)));
  match(await health(server.port), /^HTTP\/1\.1 429 /);
  equal(await health(server.port, "127.0.0.2"), "HTTP/1.1 200 OK");
  for (const connection of held) connection.socket.destroy();
});

Deno.test("punch serve takes client addresses from a proxy's header only with --client-address-header", async () => {
  const reflect = async (port: number) => {
    const response = await fetch(`http://127.0.0.1:${port}/v1/reflect`, {
      headers: { "x-forwarded-for": "198.51.100.1, 203.0.113.7:4444" },
    });
    return (await response.json()).address;
  };
  {
    await using plain = await startServe();
    equal((await reflect(plain.port)).startsWith("127.0.0.1:"), true);
  }
  await using proxied = await startServe(undefined, ["--client-address-header", "x-forwarded-for"]);
  equal(await reflect(proxied.port), "203.0.113.7:4444");
});
