/**
 * Test helpers for the edge: a rendezvous served on a free loopback port, and
 * a raw WebSocket client that queues what it receives.
 *
 * @module
 */

import { deepEqual, equal, match } from "node:assert/strict";
import type { Limits } from "./defaults.ts";
import { createRendezvous, type RendezvousOptions } from "./handler.ts";
import { serveRendezvous } from "./transport.ts";

/** What serves the rendezvous: `Deno.serve` (as on Deno Deploy) or the hardened transport. */
export type Transport = "deno" | "hardened";

/** Both transports, for tests that must hold on each. */
export const TRANSPORTS: readonly Transport[] = ["deno", "hardened"];

/**
 * Every test client dials from 127.0.0.1: per-address limits are lifted
 * unless a test sets them.
 */
export const LOOPBACK_LIMITS: Partial<Limits> = {
  maxConnectionsPerAddress: 1_000_000,
  claimBurst: 1_000_000,
};

/** Options for {@linkcode serve}. */
export interface ServeOptions extends RendezvousOptions {
  /** @default {"deno"} */
  transport?: Transport;
  /** For the hardened transport: the descriptor limit to stay under. */
  descriptorLimit?: number;
}

/** A rendezvous served on a free loopback port; `await using` stops it. */
export function serve(options: ServeOptions = {}) {
  const rendezvous = createRendezvous({
    ...options,
    limits: { ...LOOPBACK_LIMITS, ...options.limits },
  });
  const server = options.transport === "hardened"
    ? serveRendezvous(rendezvous, {
      hostname: "127.0.0.1",
      port: 0,
      ...(options.descriptorLimit ? { descriptorLimit: options.descriptorLimit } : {}),
    })
    : Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, rendezvous.handler);
  const base = `http://127.0.0.1:${server.addr.port}`;
  return {
    base,
    port: server.addr.port,
    ws: `ws://127.0.0.1:${server.addr.port}/v1/ws`,
    rendezvous,
    async [Symbol.asyncDispose]() {
      await rendezvous.close();
      await server.shutdown();
    },
  };
}

/** A raw WebSocket client that queues what it receives. */
export class Peer {
  readonly socket: WebSocket;
  readonly #texts: unknown[] = [];
  readonly binaries: Uint8Array[] = [];
  #wake?: () => void;
  readonly opened: Promise<void>;
  readonly closed: Promise<CloseEvent>;

  constructor(url: string) {
    this.socket = new WebSocket(url);
    this.socket.binaryType = "arraybuffer";
    this.opened = new Promise((resolve) => this.socket.onopen = () => resolve());
    this.closed = new Promise((resolve) => this.socket.onclose = (e) => resolve(e));
    this.socket.onmessage = (e) => {
      if (typeof e.data === "string") this.#texts.push(JSON.parse(e.data));
      else this.binaries.push(new Uint8Array(e.data));
      this.#wake?.();
    };
  }

  static async open(url: string): Promise<Peer> {
    const peer = new Peer(url);
    await peer.opened;
    const welcome = await peer.next() as { type: string; address: string };
    equal(welcome.type, "welcome");
    return peer;
  }

  send(msg: unknown): void {
    this.socket.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }

  async next(): Promise<Record<string, unknown>> {
    while (this.#texts.length === 0) {
      const closed = this.closed.then(() => "closed" as const);
      const woke = new Promise<void>((resolve) => this.#wake = resolve);
      if (await Promise.race([woke, closed]) === "closed" && this.#texts.length === 0) {
        throw new Error("closed before a message came");
      }
    }
    return this.#texts.shift() as Record<string, unknown>;
  }

  async binary(count: number): Promise<Uint8Array[]> {
    while (this.binaries.length < count) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    return this.binaries.splice(0, count);
  }
}

/**
 * Allocates on `senderWs`, claims on `receiverWs` (the same by default);
 * both must be paired. Each side then adds one mailbox message (`hello`)
 * and reads the other's, as the key exchange would: the relay opens only
 * once both have spoken, and a receiver that leaves after it burns the
 * nameplate.
 */
export async function pair(
  senderWs: string,
  receiverWs: string = senderWs,
): Promise<[Peer, Peer, string]> {
  const [sender, receiver, nameplate] = await pairSilent(senderWs, receiverWs);
  sender.send({ type: "add", phase: "hello", body: "" });
  receiver.send({ type: "add", phase: "hello", body: "" });
  deepEqual(await receiver.next(), { type: "message", phase: "hello", body: "" });
  deepEqual(await sender.next(), { type: "message", phase: "hello", body: "" });
  return [sender, receiver, nameplate];
}

/** {@linkcode pair} without the mailbox messages: the receiver has made no guess yet. */
export async function pairSilent(
  senderWs: string,
  receiverWs: string = senderWs,
): Promise<[Peer, Peer, string]> {
  const sender = await Peer.open(senderWs);
  sender.send({ type: "allocate" });
  const allocated = await sender.next();
  equal(allocated.type, "allocated");
  const nameplate = allocated.nameplate as string;
  const receiver = await Peer.open(receiverWs);
  receiver.send({ type: "claim", nameplate });
  const [a, b] = [await sender.next(), await receiver.next()];
  deepEqual([a.type, a.side, b.type, b.side], ["paired", "sender", "paired", "receiver"]);
  equal(a.mailbox, b.mailbox);
  match(a.mailbox as string, /^[0-9a-f]{32}$/);
  return [sender, receiver, nameplate];
}

/** Opens a new peer on `ws` that claims `nameplate`; returns it with the server's answer. */
export async function claimAs(
  ws: string,
  nameplate: string,
): Promise<[Peer, Record<string, unknown>]> {
  const peer = await Peer.open(ws);
  peer.send({ type: "claim", nameplate });
  return [peer, await peer.next()];
}

/** Closes every peer's socket and waits until each is closed. */
export async function closeAll(...peers: Peer[]): Promise<void> {
  for (const peer of peers) {
    if (peer.socket.readyState <= WebSocket.OPEN) peer.socket.close();
    await peer.closed;
  }
}
