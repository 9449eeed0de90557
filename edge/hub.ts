/**
 * The hub holds the rendezvous' connections and passes their traffic,
 * whether the two sockets of a pair landed on this instance or on two
 * instances; pairing itself is in `pairs.ts`.
 *
 * Protocol flow:
 * - A socket is greeted with `welcome {address}` and must `allocate` (sender)
 *   or `claim` (receiver) before `helloTimeoutMs`.
 * - `allocate` and `claim` go to {@linkcode Pairs}.
 * - Once paired, `add` becomes `message` for the other side and binary frames
 *   are relayed verbatim, through a {@linkcode Link} to a local socket or to
 *   another instance; a side that breaks the protocol is dropped alone.
 * - A closed socket is handed to {@linkcode Pairs} too, which tells the other
 *   side and frees the nameplate when it is no longer needed.
 *
 * @module
 */

import {
  MAX_BINARY_FRAME_BYTES,
  parseClientMessage,
  ProtocolError,
  type ServerErrorCode,
} from "../lib/rendezvous/messages.ts";
import { GarbageMeter } from "../lib/memory.ts";
import type { BusFactory, BusKind } from "./bus.ts";
import { type Conn, type HubSocket, type Link, sendJson } from "./conn.ts";
import { CONNECTION_GARBAGE_BYTES, type Limits, TEXT_MESSAGE_GARBAGE_BYTES } from "./defaults.ts";
import { Pairs, randomHex } from "./pairs.ts";

/** Counters a hub exposes for health checks and tests. */
export interface HubStats {
  /** This instance's id on the bus. */
  instance: string;
  /** What carries the bus. */
  bus: BusKind;
  connections: number;
  nameplates: number;
  /** Pairs made on this instance (the one holding the nameplate). */
  paired: number;
  /** Local sides of pairs whose other side is on another instance. */
  remote: number;
  /** Nameplate reservations lost to another instance (each retried). */
  collisions: number;
  dropped: number;
  /** Claims refused for their address's budget (`rate_limited`). */
  rateLimited: number;
  /** Pairs undone because the receiver left before adding a mailbox message. */
  unpaired: number;
  /** Failed claims in about the last minute; at the sweep threshold, nameplates grow. */
  failedClaimsPerMinute: number;
  /** Bytes relayed to this instance's sockets since it started, both directions of every pair. */
  relayedBytes: number;
}

/** One rendezvous instance's pairing state. */
export class Hub {
  readonly instance = randomHex(8);
  readonly #limits: Limits;
  readonly #bus: BusFactory;
  readonly #pairs: Pairs;
  readonly #conns = new Set<Conn>();
  #relayedBytes = 0;
  readonly #log: (line: string) => void;
  readonly #meter = new GarbageMeter();
  #nextId = 1;
  #dropped = 0;
  #closed = false;

  constructor(limits: Limits, bus: BusFactory, log: (line: string) => void) {
    this.#limits = limits;
    this.#bus = bus;
    this.#log = log;
    this.#pairs = new Pairs(this.instance, limits, bus, {
      drop: (conn, code, message) => this.#drop(conn, code, message),
      relay: (conn, data) => this.#relay(conn, data),
      count: (bytes) => this.#meter.count(bytes),
      endHello: (conn) => this.#endHello(conn),
    }, log);
  }

  /** Whether this instance holds its most connections. */
  get full(): boolean {
    return this.#conns.size >= this.#limits.maxConnections;
  }

  /** Drops the oldest connection that has not allocated or claimed; false if there is none. */
  evictIdle(): boolean {
    for (const conn of this.#conns) {
      if (conn.side !== undefined || conn.socket.closing) continue;
      this.#drop(conn, "server_busy", "The rendezvous is full; try again");
      return true;
    }
    return false;
  }

  stats(): HubStats {
    return {
      instance: this.instance,
      bus: this.#bus.kind,
      connections: this.#conns.size,
      nameplates: this.#pairs.nameplates.size,
      paired: this.#pairs.paired,
      remote: this.#pairs.remote.links,
      collisions: this.#pairs.nameplates.collisions,
      dropped: this.#dropped,
      rateLimited: this.#pairs.rateLimited,
      unpaired: this.#pairs.unpaired,
      failedClaimsPerMinute: Math.round(this.#pairs.claims.failuresPerMinute),
      relayedBytes: this.#relayedBytes,
    };
  }

  /** The nameplates this instance holds. */
  nameplates(): IterableIterator<string> {
    return this.#pairs.nameplates.keys();
  }

  /**
   * Takes over an upgraded socket; `address` is the client's ip:port as seen,
   * `key` what per-address limits count it as.
   */
  attach(socket: HubSocket, address: string, key: string): void {
    const conn: Conn = {
      id: this.#nextId++,
      socket,
      key,
      mood: "lonely",
      added: 0,
      heard: 0,
      peerLeft: false,
      closed: false,
      claimFailed: false,
      hello: undefined,
    };
    this.#conns.add(conn);
    this.#meter.count(CONNECTION_GARBAGE_BYTES);
    socket.listen({
      open: () => {
        sendJson(conn, { type: "welcome", version: 1, address });
        conn.hello = setTimeout(
          () => this.#drop(conn, "idle_timeout", "No allocate or claim in time"),
          this.#limits.helloTimeoutMs,
        );
      },
      text: (data) => {
        this.#meter.count(TEXT_MESSAGE_GARBAGE_BYTES);
        try {
          this.#onText(conn, data);
        } catch (error) {
          this.#fail(conn, error);
        }
      },
      binary: (data) => {
        try {
          this.#onBinary(conn, data);
        } catch (error) {
          this.#fail(conn, error);
        }
      },
      oversize: (message) => this.#drop(conn, "too_large", message),
      close: () => this.#onClose(conn),
    });
  }

  /** Tells linked instances this one is leaving, closes every socket, frees every nameplate. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = this.#pairs.close();
    for (const conn of this.#conns) {
      this.#endHello(conn);
      conn.socket.close(1001, "server closing");
    }
    await closed;
  }

  /** Drops `conn`: with the code of a protocol error, or as `server_busy` for a bug (logged). */
  #fail(conn: Conn, error: unknown): void {
    if (error instanceof ProtocolError) return this.#drop(conn, error.code, error.message);
    this.#log(`error: ${(error as Error)?.stack ?? error}`);
    this.#drop(conn, "server_busy", "The rendezvous failed; try again");
  }

  #onText(conn: Conn, text: string): void {
    const msg = parseClientMessage(text);
    switch (msg.type) {
      case "allocate":
      case "claim": {
        if (conn.side) throw new ProtocolError("unexpected", "Already allocated or claimed");
        const started = msg.type === "allocate"
          ? this.#pairs.allocate(conn, msg.nameplate)
          : this.#pairs.claim(conn, msg.nameplate);
        started.catch((error) => this.#fail(conn, error));
        return;
      }
      case "add": {
        const link = this.#linkOf(conn);
        if (++conn.added > this.#limits.maxMailboxMessages) {
          throw new ProtocolError("too_large", "Too many mailbox messages in one session");
        }
        clearTimeout(conn.pake);
        if (!conn.peerLeft) link.message(msg.phase, msg.body);
        return;
      }
      case "release":
        conn.mood = msg.mood;
        conn.socket.close(1000, "released");
        return;
      case "ping":
        return sendJson(conn, { type: "pong", id: msg.id });
    }
  }

  #onBinary(conn: Conn, data: Uint8Array): void {
    if (data.byteLength > MAX_BINARY_FRAME_BYTES) {
      throw new ProtocolError(
        "too_large",
        `Binary frame of ${data.byteLength} bytes exceeds ${MAX_BINARY_FRAME_BYTES}`,
      );
    }
    const link = this.#linkOf(conn);
    // An honest side relays records only after key confirmation, when both have spoken.
    if (conn.added === 0 || conn.heard === 0) {
      throw new ProtocolError("unexpected", "Binary frame before the key exchange");
    }
    if (conn.peerLeft) return;
    link.binary(data);
    this.#meter.count(data.byteLength);
  }

  /** The link of a paired connection; throws if it is not paired. */
  #linkOf(conn: Conn): Link {
    if (!conn.link) throw new ProtocolError("not_paired", "Not paired yet");
    return conn.link;
  }

  /** Passes relayed bytes to a local socket, within the flow-control limit. */
  #relay(conn: Conn, data: Uint8Array): void {
    if (!conn.socket.open) return;
    if (conn.socket.bufferedAmount > this.#limits.relayMaxBufferedBytes) {
      throw new ProtocolError("flow_control", "Relayed bytes exceed the flow-control window");
    }
    conn.socket.send(data);
    this.#relayedBytes += data.byteLength;
  }

  #onClose(conn: Conn): void {
    if (conn.closed) return;
    conn.closed = true;
    this.#endHello(conn);
    this.#conns.delete(conn);
    this.#pairs.left(conn);
  }

  #endHello(conn: Conn): void {
    clearTimeout(conn.hello);
    conn.hello = undefined;
    clearTimeout(conn.pake);
  }

  #drop(conn: Conn, code: ServerErrorCode, message: string): void {
    if (conn.socket.closing) return;
    this.#dropped++;
    conn.mood = "errory";
    this.#log(`drop ${code}: ${message}`);
    sendJson(conn, { type: "error", error: code, message });
    conn.socket.close(1008, code);
  }
}
