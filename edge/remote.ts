/**
 * Pairs across instances: claims forwarded to the instance holding the
 * nameplate, and the mailbox and relay of a pair whose two sockets landed on
 * different instances, over the bus.
 *
 * Protocol flow (each instance listens on `punch/v1/instance/<id>` and posts
 * to another's channel without listening to it):
 * - B, where a receiver claims a nameplate it does not hold, asks the
 *   registry for the holder A and posts `claim {c, np}` (c: the receiver's
 *   connection id on B).
 * - A checks the nameplate as for a local claim and answers `refused {c,
 *   error, message}`, or links its sender to (B, c) and answers `claimed {c,
 *   peer, mailbox}`, then tells its sender `paired`. B links its receiver to
 *   (A, peer) and tells it `paired`.
 * - From then on each side's traffic goes to the other instance addressed to
 *   the other connection: `add {phase, body}`, `data {b}` (raw bytes), and
 *   `gone {mood}` when a side leaves; each carries `n`, a per-link sequence
 *   number, so a lost message ends the pair instead of corrupting it.
 * - Flow control: the receiving instance checks its socket's queue as for a
 *   local pair and, when over the limit, posts `drop {error}` for the sender;
 *   it acknowledges forwarded bytes with `ack {bytes}`, and the sending
 *   instance drops a sender with more than the limit unacknowledged, so the
 *   bus never holds more than that per pair.
 * - Linked instances post `alive` every heartbeat; one silent for
 *   `instanceTimeoutMs` is presumed gone, and its pairs' local sides get
 *   `peer_gone`.
 *
 * @module
 */

import { type Mood, ProtocolError, type ServerErrorCode } from "../lib/rendezvous/messages.ts";
import type { BusChannel, BusFactory } from "./bus.ts";
import type { Conn, Link } from "./conn.ts";
import { BUS_RELAY_PIECE_BYTES, type Limits, RELAY_ACK_BYTES } from "./defaults.ts";

/** The channel an instance listens on. */
export function instanceChannel(instance: string): string {
  return `punch/v1/instance/${instance}`;
}

/** A pair message without its envelope (`from`, `c`, `n`), which the link adds. */
type PairMsgBody =
  | { t: "add"; phase: string; body: string }
  | { t: "data"; b: Uint8Array }
  | { t: "gone"; mood: Mood };

/** What instances post to each other; `from` is the poster's instance id. */
export type InstanceMsg =
  | { t: "claim"; from: string; c: number; np: string }
  | { t: "claimed"; from: string; c: number; peer: number; mailbox: string }
  | { t: "refused"; from: string; c: number; error: ServerErrorCode; message: string }
  | { t: "add"; from: string; c: number; n: number; phase: string; body: string }
  | { t: "data"; from: string; c: number; n: number; b: Uint8Array }
  | { t: "gone"; from: string; c: number; n: number; mood: Mood }
  | { t: "ack"; from: string; c: number; bytes: number }
  | { t: "drop"; from: string; c: number; error: ServerErrorCode; message: string }
  | { t: "alive"; from: string };

/** What the hub does when another instance speaks. */
export interface RemoteHandler {
  /** A claim of `nameplate` from (from, c): answer with `accept` or `refuse`. */
  claim(from: string, c: number, nameplate: string): void;
  /** The holder accepted `conn`'s claim; `conn.link` is set. */
  paired(conn: Conn, mailbox: string): void;
  /** The claim failed (refused, or no answer in time). */
  refused(conn: Conn, error: ServerErrorCode, message: string): void;
  /** A mailbox message for `conn`. */
  message(conn: Conn, phase: string, body: string): void;
  /** Relayed bytes for `conn`; throws `ProtocolError` over the flow-control limit. */
  relay(conn: Conn, data: Uint8Array): void;
  /** `conn`'s peer left. */
  peerGone(conn: Conn, mood: Mood): void;
  /** `conn` must be dropped (its peer's instance saw it break flow control). */
  drop(conn: Conn, error: ServerErrorCode, message: string): void;
}

/** One local connection linked to a connection on another instance. */
class RemoteLink implements Link {
  readonly conn: Conn;
  readonly instance: string;
  readonly peer: number;
  readonly #remote: Remote;
  /** Sequence numbers of the last message sent and received. */
  sent = 0;
  received = 0;
  /** Bytes posted and not yet acknowledged; bytes forwarded and not yet acknowledged. */
  unacked = 0;
  toAck = 0;
  /** Over the flow-control limit: further bytes from the peer are dropped. */
  discarding = false;
  /** Unlinked: the peer left, or this side did. */
  ended = false;

  constructor(remote: Remote, conn: Conn, instance: string, peer: number) {
    this.#remote = remote;
    this.conn = conn;
    this.instance = instance;
    this.peer = peer;
  }

  message(phase: string, body: string): void {
    if (this.ended) return;
    this.#post({ t: "add", phase, body });
  }

  /** Forwards one relayed message, in bus messages of at most {@linkcode BUS_RELAY_PIECE_BYTES}. */
  binary(data: Uint8Array): void {
    if (this.ended) return;
    if (this.unacked + data.byteLength > this.#remote.maxInFlightBytes) {
      throw new ProtocolError("flow_control", "Relayed bytes exceed the flow-control window");
    }
    this.unacked += data.byteLength;
    // The receiving client reads a byte stream, so pieces may arrive as separate messages.
    for (let at = 0; at === 0 || at < data.byteLength; at += BUS_RELAY_PIECE_BYTES) {
      this.#post({ t: "data", b: data.subarray(at, at + BUS_RELAY_PIECE_BYTES) });
    }
  }

  leave(mood: Mood): void {
    if (this.ended) return;
    this.#post({ t: "gone", mood });
    this.#remote.unlink(this);
  }

  /** Posts a pair message to the peer's instance, numbered in sequence. */
  #post(msg: PairMsgBody): void {
    this.#remote.post(this.instance, {
      ...msg,
      from: this.#remote.instance,
      c: this.peer,
      n: ++this.sent,
    });
  }
}

interface PendingClaim {
  conn: Conn;
  owner: string;
  timer: ReturnType<typeof setTimeout>;
}

interface Peer {
  channel: BusChannel;
  /** Links and pending claims that involve this instance. */
  users: number;
  lastHeard: number;
}

/** This instance's side of every cross-instance pair. */
export class Remote {
  readonly instance: string;
  readonly ready: Promise<void>;
  readonly maxInFlightBytes: number;
  readonly #bus: BusFactory;
  readonly #limits: Limits;
  readonly #handler: RemoteHandler;
  readonly #log: (line: string) => void;
  readonly #inbox: BusChannel;
  readonly #links = new Map<number, RemoteLink>();
  readonly #claims = new Map<number, PendingClaim>();
  readonly #peers = new Map<string, Peer>();
  readonly #heartbeat: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(
    bus: BusFactory,
    instance: string,
    limits: Limits,
    handler: RemoteHandler,
    log: (line: string) => void,
  ) {
    this.#bus = bus;
    this.instance = instance;
    this.#limits = limits;
    this.maxInFlightBytes = limits.relayMaxBufferedBytes;
    this.#handler = handler;
    this.#log = log;
    this.#inbox = bus.open(instanceChannel(instance));
    this.#inbox.onmessage = (event) => this.#onMessage(event.data as InstanceMsg);
    this.ready = this.#inbox.ready;
    this.#heartbeat = setInterval(() => this.#beat(), limits.instanceHeartbeatMs);
    Deno.unrefTimer(this.#heartbeat);
  }

  /** Pairs on this instance whose other side is elsewhere. */
  get links(): number {
    return this.#links.size;
  }

  /** Forwards `conn`'s claim of `nameplate` to `owner`; the answer reaches the handler. */
  claim(owner: string, nameplate: string, conn: Conn): void {
    const timer = setTimeout(() => {
      if (!this.#forget(conn.id)) return;
      this.#handler.refused(
        conn,
        "unknown_nameplate",
        `The rendezvous instance holding nameplate ${nameplate} did not answer; try again`,
      );
    }, this.#limits.claimTimeoutMs);
    this.#claims.set(conn.id, { conn, owner, timer });
    this.#use(owner);
    this.post(owner, { t: "claim", from: this.instance, c: conn.id, np: nameplate });
  }

  /** Answers a claim from (from, c): links `sender` to it. Tell the sender `paired` after. */
  accept(from: string, c: number, sender: Conn, mailbox: string): void {
    sender.link = this.#link(sender, from, c);
    this.post(from, { t: "claimed", from: this.instance, c, peer: sender.id, mailbox });
  }

  /** Answers a claim from (from, c) with a refusal. */
  refuse(from: string, c: number, error: ServerErrorCode, message: string): void {
    this.post(from, { t: "refused", from: this.instance, c, error, message });
  }

  /** Forgets `conn`'s pending claim, if any (its socket closed). */
  cancel(conn: Conn): void {
    this.#forget(conn.id);
  }

  /** Posts `msg` to `instance`'s channel. */
  post(instance: string, msg: InstanceMsg): void {
    if (this.#closed) return;
    const peer = this.#peers.get(instance);
    try {
      if (peer) return peer.channel.postMessage(msg);
      const channel = this.#bus.open(instanceChannel(instance), { listen: false });
      channel.postMessage(msg);
      channel.close();
    } catch (error) {
      this.#log(`bus: cannot post ${msg.t} to ${instance}: ${(error as Error).message}`);
    }
  }

  /** Removes an ended link. */
  unlink(link: RemoteLink): void {
    if (link.ended) return;
    link.ended = true;
    this.#links.delete(link.conn.id);
    this.#unuse(link.instance);
  }

  /** Tells every linked instance this side is gone, and stops listening. */
  close(): void {
    for (const link of [...this.#links.values()]) link.leave("errory");
    for (const id of [...this.#claims.keys()]) this.#forget(id);
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#inbox.close();
    for (const peer of this.#peers.values()) peer.channel.close();
    this.#peers.clear();
  }

  #link(conn: Conn, instance: string, peer: number): RemoteLink {
    const link = new RemoteLink(this, conn, instance, peer);
    this.#links.set(conn.id, link);
    this.#use(instance);
    return link;
  }

  #forget(id: number): boolean {
    const claim = this.#claims.get(id);
    if (!claim) return false;
    clearTimeout(claim.timer);
    this.#claims.delete(id);
    this.#unuse(claim.owner);
    return true;
  }

  #use(instance: string): void {
    const peer = this.#peers.get(instance);
    if (peer) return void peer.users++;
    const channel = this.#bus.open(instanceChannel(instance), { listen: false });
    this.#peers.set(instance, { channel, users: 1, lastHeard: Date.now() });
  }

  #unuse(instance: string): void {
    const peer = this.#peers.get(instance);
    if (!peer || --peer.users > 0) return;
    this.#peers.delete(instance);
    peer.channel.close();
  }

  #beat(): void {
    const now = Date.now();
    for (const [instance, peer] of [...this.#peers]) {
      if (now - peer.lastHeard <= this.#limits.instanceTimeoutMs) {
        this.post(instance, { t: "alive", from: this.instance });
        continue;
      }
      this.#log(`bus: instance ${instance} is silent; ending its pairs`);
      for (const link of [...this.#links.values()]) {
        if (link.instance !== instance) continue;
        this.unlink(link);
        this.#handler.peerGone(link.conn, "errory");
      }
    }
  }

  #onMessage(msg: InstanceMsg): void {
    if (typeof msg !== "object" || msg === null || typeof msg.from !== "string") return;
    const peer = this.#peers.get(msg.from);
    if (peer) peer.lastHeard = Date.now();
    switch (msg.t) {
      case "claim":
        return this.#handler.claim(msg.from, msg.c, msg.np);
      case "claimed": {
        const claim = this.#claims.get(msg.c);
        if (!claim || claim.owner !== msg.from || !this.#forget(msg.c)) {
          // The claimant left (or gave up) meanwhile: the sender must hear of it.
          return this.post(msg.from, {
            t: "gone",
            from: this.instance,
            c: msg.peer,
            n: 1,
            mood: "lonely",
          });
        }
        claim.conn.link = this.#link(claim.conn, msg.from, msg.peer);
        return this.#handler.paired(claim.conn, msg.mailbox);
      }
      case "refused": {
        const claim = this.#claims.get(msg.c);
        if (!claim || claim.owner !== msg.from || !this.#forget(msg.c)) return;
        return this.#handler.refused(claim.conn, msg.error, msg.message);
      }
      case "add":
      case "data":
      case "gone":
        return this.#onPairMsg(msg);
      case "ack": {
        const link = this.#links.get(msg.c);
        if (link?.instance === msg.from) link.unacked = Math.max(0, link.unacked - msg.bytes);
        return;
      }
      case "drop": {
        const link = this.#links.get(msg.c);
        if (link?.instance === msg.from) this.#handler.drop(link.conn, msg.error, msg.message);
        return;
      }
    }
  }

  #onPairMsg(msg: Extract<InstanceMsg, { t: "add" | "data" | "gone" }>): void {
    const link = this.#links.get(msg.c);
    if (!link || link.instance !== msg.from) return;
    if (msg.n !== link.received + 1) {
      this.#log(`bus: message ${msg.n} from ${msg.from} after ${link.received}; ending the pair`);
      link.leave("errory");
      return this.#handler.peerGone(link.conn, "errory");
    }
    link.received = msg.n;
    switch (msg.t) {
      case "add":
        return this.#handler.message(link.conn, msg.phase, msg.body);
      case "gone":
        this.unlink(link);
        return this.#handler.peerGone(link.conn, msg.mood);
      case "data":
        return this.#onData(link, msg.b);
    }
  }

  #onData(link: RemoteLink, data: Uint8Array): void {
    if (link.discarding) return;
    try {
      this.#handler.relay(link.conn, data);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      link.discarding = true;
      return this.post(link.instance, {
        t: "drop",
        from: this.instance,
        c: link.peer,
        error: error.code,
        message: error.message,
      });
    }
    link.toAck += data.byteLength;
    if (link.toAck < RELAY_ACK_BYTES) return;
    this.post(link.instance, { t: "ack", from: this.instance, c: link.peer, bytes: link.toAck });
    link.toAck = 0;
  }
}
