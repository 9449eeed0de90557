// The attacks of `deno task abuse`, from loopback addresses of their own
// (127.0.0.0/8 is all loopback on Linux), so that per-address limits can
// tell them from the honest clients on 127.0.0.1.

import { Buffer } from "node:buffer";
import { clientFrame, clientFrameHead, RawWebSocket } from "../edge/_raw_ws.ts";
import { encodeBase64 } from "../lib/rendezvous/messages.ts";

/** `count` loopback addresses 127.0.`third`.1 and up. */
export function loopbackAddresses(third: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.${third}.${i + 1}`);
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** A raw WebSocket that got 101 and its welcome, or undefined. */
async function openWelcomed(port: number, localAddress: string): Promise<RawWebSocket | undefined> {
  let socket: RawWebSocket;
  try {
    socket = await RawWebSocket.open(port, { localAddress, timeoutMs: 5000 });
  } catch {
    return undefined;
  }
  if (socket.status !== 101 || (await socket.nextJson())?.type !== "welcome") {
    socket.destroy();
    return undefined;
  }
  return socket;
}

/** What a sweep did. */
export interface SweepResult {
  claims: number;
  /** Claims that paired: each then sent a PAKE message for a made-up code (a guess). */
  paired: number;
  /** Refused by their address's budget. */
  limited: number;
  /** Refused otherwise, or the connection failed. */
  refused: number;
  seconds: number;
}

/**
 * Claims every nameplate from `from` to `to`, `workers` at a time per
 * address, until `timeoutMs`: those refused for the budget (so never tried)
 * are claimed again after the rest, round after round. A claim that pairs
 * sends a PAKE message at once (a guess, which uses the code up).
 */
export async function sweep(
  port: number,
  addresses: string[],
  options: { from: number; to: number; workers: number; timeoutMs: number },
): Promise<SweepResult> {
  const result: SweepResult = { claims: 0, paired: 0, limited: 0, refused: 0, seconds: 0 };
  const start = performance.now();
  const deadline = start + options.timeoutMs;
  let untried = Array.from({ length: options.to - options.from + 1 }, (_, i) => options.from + i);
  let again: number[] = [];
  const worker = async (address: string) => {
    while (performance.now() < deadline) {
      if (untried.length === 0) {
        if (again.length === 0) return;
        [untried, again] = [again, []];
        await sleep(100);
        continue;
      }
      const nameplate = String(untried.pop()!);
      result.claims++;
      const socket = await openWelcomed(port, address);
      if (!socket) {
        result.refused++;
        continue;
      }
      await socket.sendText({ type: "claim", nameplate });
      const answer = await socket.nextJson();
      if (answer?.type === "paired") {
        result.paired++;
        const guess = crypto.getRandomValues(new Uint8Array(34));
        await socket.sendText({ type: "add", phase: "pake", body: encodeBase64(guess) });
        await Promise.race([socket.nextJson(), sleep(300)]);
      } else if (answer?.error === "rate_limited") {
        result.limited++;
        again.push(Number(nameplate));
      } else result.refused++;
      socket.destroy();
    }
  };
  await Promise.all(
    addresses.flatMap((a) => Array.from({ length: options.workers }, () => worker(a))),
  );
  result.seconds = (performance.now() - start) / 1000;
  return result;
}

/** Opens `count` WebSockets that never speak, spread over `addresses`, `concurrency` at a time. */
export async function idleSockets(
  port: number,
  addresses: string[],
  count: number,
  concurrency: number,
): Promise<{ held: RawWebSocket[]; statuses: Record<string, number> }> {
  const held: RawWebSocket[] = [];
  const statuses: Record<string, number> = {};
  let started = 0;
  const worker = async () => {
    while (started < count) {
      const address = addresses[started++ % addresses.length]!;
      let status: string;
      try {
        const socket = await RawWebSocket.open(port, { localAddress: address, timeoutMs: 5000 });
        status = String(socket.status);
        if (socket.status === 101) held.push(socket);
        else socket.destroy();
      } catch (error) {
        status = (error as { code?: string }).code ?? "no answer";
      }
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { held, statuses };
}

/**
 * `sockets` WebSockets from `address` each announce and send one binary
 * message of `bytes` before pairing; resolves with what the server said to
 * each (its error code, or how the connection ended).
 */
export async function oversizeMessages(
  port: number,
  address: string,
  sockets: number,
  bytes: number,
): Promise<string[]> {
  const payload = Buffer.alloc(bytes); // one buffer, written by every socket
  return await Promise.all(Array.from({ length: sockets }, async () => {
    const socket = await openWelcomed(port, address);
    if (!socket) return "not admitted";
    socket.write(clientFrameHead(0x2, bytes));
    socket.write(payload);
    const answer = await Promise.race([socket.nextJson(), sleep(30_000).then(() => undefined)]);
    socket.destroy();
    if (answer === undefined) return "no answer in 30 s";
    return answer === null ? "closed" : String(answer.error ?? answer.type);
  }));
}

/** One relay message holding one whole frame (u32 length prefix), as a masked client frame. */
export function relayFrame(bytes = 256 * 1024): Uint8Array {
  const message = new Uint8Array(bytes);
  new DataView(message.buffer).setUint32(0, bytes - 4);
  return clientFrame(0x2, message);
}

/** What a stranger streaming at a waiting sender achieved. */
export interface FloodResult {
  claims: number;
  /** Bytes written into sockets that were paired with the sender. */
  bytesSent: number;
  /** How each claim ended: the server's word, or `paired`. */
  outcomes: Record<string, number>;
}

/**
 * A stranger claims `nameplate` and, once paired, streams relay frames at
 * `bytesPerSecond` without any key exchange; when dropped it claims again,
 * until `durationMs` has passed.
 */
export async function strangerFlood(
  port: number,
  address: string,
  nameplate: string,
  bytesPerSecond: number,
  durationMs: number,
): Promise<FloodResult> {
  const result: FloodResult = { claims: 0, bytesSent: 0, outcomes: {} };
  const frame = relayFrame();
  const end = performance.now() + durationMs;
  const count = (what: string) => result.outcomes[what] = (result.outcomes[what] ?? 0) + 1;
  while (performance.now() < end) {
    const socket = await openWelcomed(port, address);
    if (!socket) {
      count("not admitted");
      await sleep(1000);
      continue;
    }
    result.claims++;
    await socket.sendText({ type: "claim", nameplate });
    const answer = await socket.nextJson();
    if (answer?.type !== "paired") {
      count(String(answer?.error ?? "closed"));
      socket.destroy();
      await sleep(1000);
      continue;
    }
    const start = performance.now();
    let sent = 0;
    let ended: string | undefined;
    socket.nextJson().then((msg) => ended = String(msg?.error ?? "closed"));
    while (ended === undefined && performance.now() < end) {
      if (!await socket.write(frame)) break;
      sent += frame.length;
      const due = start + (sent / bytesPerSecond) * 1000;
      if (due > performance.now()) await sleep(due - performance.now());
    }
    result.bytesSent += sent;
    await sleep(100);
    count(`paired, then ${ended ?? "closed"}`);
    socket.destroy();
  }
  return result;
}

/**
 * A rendezvous that pairs every sender at once and relays a stranger's
 * flood to it: `bytesPerSecond` of relay frames before any key exchange, as
 * an older or hostile server would pass on. For the sender's own bound.
 */
export function floodingRendezvous(bytesPerSecond: number) {
  const message = new Uint8Array(256 * 1024);
  new DataView(message.buffer).setUint32(0, message.length - 4);
  let streamed = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    if (request.headers.get("upgrade") !== "websocket") return new Response(null, { status: 404 });
    const { socket, response } = Deno.upgradeWebSocket(request);
    const send = (msg: unknown) => socket.send(JSON.stringify(msg));
    socket.onopen = () => send({ type: "welcome", version: 1, address: "127.0.0.1:1" });
    socket.onmessage = async (event) => {
      if (JSON.parse(event.data).type !== "allocate") return;
      send({ type: "allocated", nameplate: "4812" });
      await sleep(100);
      send({ type: "paired", side: "sender", mailbox: "00".repeat(16) });
      const start = performance.now();
      while (socket.readyState === WebSocket.OPEN) {
        if (socket.bufferedAmount < 4 * message.length) {
          socket.send(message);
          streamed += message.length;
        }
        const due = start + (streamed / bytesPerSecond) * 1000;
        await sleep(Math.max(1, due - performance.now()));
      }
    };
    socket.onerror = () => {};
    return response;
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    get streamed() {
      return streamed;
    },
    shutdown: () => server.shutdown(),
  };
}
