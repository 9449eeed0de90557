/**
 * The hub pairs WebSockets by nameplate and passes their traffic, whether
 * the two sockets landed on this instance or on two instances.
 *
 * Protocol flow:
 * - A socket is greeted with `welcome {address}` and must `allocate` (sender)
 *   or `claim` (receiver) before `helloTimeoutMs`.
 * - `allocate` reserves the nameplate in the bus's registry, unique across
 *   instances (`nameplates.ts`); this instance then holds it.
 * - `claim` of a nameplate held here pairs at once; one held elsewhere is
 *   forwarded to its holder (`remote.ts`). Either way the holder decides, so
 *   a nameplate takes exactly one claim: a third party is refused wherever
 *   it lands, and a failed guess uses the nameplate up.
 * - Once paired, `add` becomes `message` for the other side and binary frames
 *   are relayed verbatim, through a {@linkcode Link} to a local socket or to
 *   another instance; a side that breaks the protocol is dropped alone.
 * - When one side leaves, the other gets `peer_gone`; the nameplate is freed
 *   when both have left (when the sender has, for a receiver elsewhere).
 *
 * @module
 */

import { bytesToHex } from "@noble/hashes/utils.js";
import {
  MAX_BINARY_FRAME_BYTES,
  type Mood,
  parseClientMessage,
  ProtocolError,
  type ServerErrorCode,
} from "../lib/rendezvous/messages.ts";
import { GarbageMeter } from "../lib/memory.ts";
import type { BusFactory, BusKind } from "./bus.ts";
import { type Conn, type HubSocket, type Link, sendJson } from "./conn.ts";
import { CONNECTION_GARBAGE_BYTES, type Limits, TEXT_MESSAGE_GARBAGE_BYTES } from "./defaults.ts";
import { ClaimBudgets } from "./claims.ts";
import { Nameplates, type Plate } from "./nameplates.ts";
import { Remote } from "./remote.ts";

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
  /** Failed claims in about the last minute; at the sweep threshold, nameplates grow. */
  failedClaimsPerMinute: number;
}

function randomHex(bytes: number): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return bytesToHex(raw);
}

/** One rendezvous instance's pairing state. */
export class Hub {
  readonly instance = randomHex(8);
  readonly #limits: Limits;
  readonly #bus: BusFactory;
  readonly #nameplates: Nameplates;
  readonly #remote: Remote;
  readonly #conns = new Set<Conn>();
  readonly #log: (line: string) => void;
  readonly #meter = new GarbageMeter();
  readonly #claims: ClaimBudgets;
  #nextId = 1;
  #rateLimited = 0;
  #paired = 0;
  #dropped = 0;
  #closed = false;

  constructor(limits: Limits, bus: BusFactory, log: (line: string) => void) {
    this.#limits = limits;
    this.#bus = bus;
    this.#log = log;
    this.#claims = new ClaimBudgets(limits);
    this.#nameplates = new Nameplates(
      bus.registry({ ttlMs: limits.registryTtlMs }),
      this.instance,
      {
        ttlMs: limits.registryTtlMs,
        maxNameplates: limits.maxNameplates,
        log,
        extraDigits: () => this.#claims.extraDigits,
        unclaimedTtlMs: limits.nameplateTtlMs,
        onExpired: (plate) =>
          this.#drop(plate.sender, "expired", `Nameplate ${plate.nameplate} was never claimed`),
        onLost: (plate) => {
          if (plate.claimed) return;
          this.#drop(
            plate.sender,
            "expired",
            `Nameplate ${plate.nameplate} was lost to another rendezvous instance; ` +
              "run punch send again",
          );
        },
      },
    );
    this.#remote = new Remote(bus, this.instance, limits, {
      claim: (from, c, nameplate) => this.#onRemoteClaim(from, c, nameplate),
      paired: (conn, mailbox) => this.#tellPaired(conn, "receiver", mailbox),
      refused: (conn, error, message) => {
        this.#claimFailed(conn);
        this.#drop(conn, error, message);
      },
      message: (conn, phase, body) => sendJson(conn, { type: "message", phase, body }),
      relay: (conn, data) => {
        this.#relay(conn, data);
        this.#meter.count(data.byteLength);
      },
      peerGone: (conn, mood) => this.#peerGone(conn, mood),
      drop: (conn, error, message) => this.#drop(conn, error, message),
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
      nameplates: this.#nameplates.size,
      paired: this.#paired,
      remote: this.#remote.links,
      collisions: this.#nameplates.collisions,
      dropped: this.#dropped,
      rateLimited: this.#rateLimited,
      failedClaimsPerMinute: Math.round(this.#claims.failuresPerMinute),
    };
  }

  /** The nameplates this instance holds. */
  nameplates(): IterableIterator<string> {
    return this.#nameplates.keys();
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
    this.#remote.close();
    for (const conn of this.#conns) {
      this.#endHello(conn);
      conn.socket.close(1001, "server closing");
    }
    await this.#nameplates.close();
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
          ? this.#allocate(conn, msg.nameplate)
          : this.#claim(conn, msg.nameplate);
        started.catch((error) => this.#fail(conn, error));
        return;
      }
      case "add": {
        const link = this.#linkOf(conn);
        if (++conn.added > this.#limits.maxMailboxMessages) {
          throw new ProtocolError("too_large", "Too many mailbox messages in one session");
        }
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
  }

  async #allocate(conn: Conn, wanted: string | undefined): Promise<void> {
    conn.side = "sender";
    await this.#remote.ready;
    const reserved = await this.#nameplates.reserve(wanted);
    if ("error" in reserved) return this.#drop(conn, reserved.error, reserved.message);
    const { nameplate } = reserved;
    if (conn.closed || this.#closed) {
      await this.#nameplates.release(nameplate);
      return;
    }
    this.#endHello(conn);
    const plate: Plate = {
      nameplate,
      mailbox: randomHex(16),
      sender: conn,
      heldAt: Date.now(),
      claimed: false,
      remoteReceiver: false,
      senderLeft: false,
      receiverLeft: false,
    };
    conn.plate = plate;
    this.#nameplates.hold(plate);
    sendJson(conn, { type: "allocated", nameplate });
  }

  async #claim(conn: Conn, nameplate: string): Promise<void> {
    conn.side = "receiver";
    const waitMs = this.#claims.claim(conn.key);
    if (waitMs > 0) {
      this.#rateLimited++;
      return this.#drop(
        conn,
        "rate_limited",
        `Too many claims from this address; try again in ${Math.ceil(waitMs / 1000)} s`,
      );
    }
    if (!this.#nameplates.get(nameplate)) {
      await this.#remote.ready;
      const owner = await this.#ownerOf(nameplate);
      if (conn.closed || this.#closed) return;
      if (owner !== undefined && owner !== this.instance && !this.#nameplates.get(nameplate)) {
        return this.#remote.claim(owner, nameplate, conn);
      }
    }
    const plate = this.#nameplates.refusal(nameplate);
    if (Array.isArray(plate)) {
      this.#claimFailed(conn);
      return this.#drop(conn, ...plate);
    }
    this.#take(plate);
    const sender = plate.sender;
    sender.link = this.#localLink(conn);
    conn.link = this.#localLink(sender);
    this.#tellPaired(sender, "sender", plate.mailbox);
    this.#tellPaired(conn, "receiver", plate.mailbox);
  }

  async #ownerOf(nameplate: string): Promise<string | undefined> {
    try {
      return await this.#nameplates.owner(nameplate);
    } catch (error) {
      throw new ProtocolError(
        "server_busy",
        `Cannot look up nameplate ${nameplate}: the nameplate registry is unreachable ` +
          `(${(error as Error).message})`,
      );
    }
  }

  /** A claim forwarded by another instance. */
  #onRemoteClaim(from: string, c: number, nameplate: string): void {
    const plate = this.#nameplates.refusal(nameplate);
    if (Array.isArray(plate)) return this.#remote.refuse(from, c, ...plate);
    this.#take(plate);
    plate.remoteReceiver = true;
    this.#remote.accept(from, c, plate.sender, plate.mailbox);
    this.#tellPaired(plate.sender, "sender", plate.mailbox);
  }

  /** Marks `plate` claimed: no one else may claim it. */
  #take(plate: Plate): void {
    plate.claimed = true;
    this.#paired++;
  }

  #tellPaired(conn: Conn, side: "sender" | "receiver", mailbox: string): void {
    this.#endHello(conn);
    sendJson(conn, { type: "paired", side, mailbox });
  }

  #localLink(peer: Conn): Link {
    return {
      message: (phase, body) => sendJson(peer, { type: "message", phase, body }),
      binary: (data) => this.#relay(peer, data),
      leave: (mood) => this.#peerGone(peer, mood),
    };
  }

  /** `conn`'s peer left: tell it, and free the nameplate if it was the last. */
  #peerGone(conn: Conn, mood: Mood): void {
    if (conn.peerLeft) return;
    conn.peerLeft = true;
    // The sender found the claimant's code wrong.
    if (mood === "scary") this.#claimFailed(conn);
    sendJson(conn, { type: "peer_gone", mood });
    const plate = conn.plate;
    if (plate) {
      plate.receiverLeft = true;
      if (!this.#closed) this.#nameplates.maybeFree(plate);
    }
  }

  #onClose(conn: Conn): void {
    if (conn.closed) return;
    conn.closed = true;
    this.#endHello(conn);
    this.#conns.delete(conn);
    this.#remote.cancel(conn);
    // A claimant that left before the key exchange, or found the code wrong.
    if (conn.link && (conn.added === 0 || conn.mood === "scary")) this.#claimFailed(conn);
    const plate = conn.plate;
    if (plate) {
      plate.senderLeft = true;
      if (!this.#closed) this.#nameplates.maybeFree(plate);
    }
    conn.link?.leave(conn.mood);
  }

  /** Counts a failed claim against a receiver's address, once per connection. */
  #claimFailed(conn: Conn): void {
    if (conn.side !== "receiver" || conn.claimFailed) return;
    conn.claimFailed = true;
    this.#claims.failed(conn.key);
  }

  #endHello(conn: Conn): void {
    clearTimeout(conn.hello);
    conn.hello = undefined;
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
