/**
 * Pairing: nameplates allocated to senders, claims that make pairs, the
 * links between the two sides, and what happens when one leaves. The hub
 * (`hub.ts`) owns the connections and hands their `allocate`, `claim` and
 * departures to this.
 *
 * Protocol flow:
 * - `allocate` reserves the nameplate in the bus's registry, unique across
 *   instances (`nameplates.ts`); this instance then holds it.
 * - `claim` is budgeted per address (`claims.ts`). A nameplate held here
 *   pairs at once; one held elsewhere is forwarded to its holder
 *   (`remote.ts`). Either way the holder decides, so a nameplate takes
 *   exactly one claim: a third party is refused wherever it lands, and a
 *   failed guess uses the nameplate up.
 * - Paired, each side gets `paired {side, mailbox}` and a {@linkcode Link}
 *   to the other, on this instance or another.
 * - A receiver must add a mailbox message within `pakeTimeoutMs` of pairing.
 *   One that leaves (or is dropped) before adding any has made no guess:
 *   its sender gets `unpaired`, and the nameplate takes claims again under
 *   a fresh mailbox id, so a sweep that claims without the key exchange
 *   fails no sender.
 * - Otherwise, when one side leaves, the other gets `peer_gone`; the
 *   nameplate is freed when both have left (when the sender has, for a
 *   receiver elsewhere).
 *
 * @module
 */

import { bytesToHex } from "@noble/hashes/utils.js";
import { type Mood, ProtocolError, type ServerErrorCode } from "../lib/rendezvous/messages.ts";
import type { BusFactory } from "./bus.ts";
import { ClaimBudgets } from "./claims.ts";
import { type Conn, type Link, type Plate, sendJson } from "./conn.ts";
import type { Limits } from "./defaults.ts";
import { Nameplates } from "./nameplates.ts";
import { Remote } from "./remote.ts";

/** What pairing needs of the hub. */
export interface PairsHost {
  /** Drops a connection with an error for it. */
  drop(conn: Conn, code: ServerErrorCode, message: string): void;
  /** Passes relayed bytes to a local socket; throws `flow_control` over the limit. */
  relay(conn: Conn, data: Uint8Array): void;
  /** Relayed bytes that came over the bus, for the garbage meter. */
  count(bytes: number): void;
  /** Stops `conn`'s timer for allocating or claiming. */
  endHello(conn: Conn): void;
}

/** 16 random bytes as hex, or as many as asked. */
export function randomHex(bytes = 16): string {
  return bytesToHex(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** One instance's nameplates, claims and pairs. */
export class Pairs {
  readonly nameplates: Nameplates;
  readonly remote: Remote;
  readonly claims: ClaimBudgets;
  readonly #instance: string;
  readonly #host: PairsHost;
  /** Pairs made here; claims refused for their budget; pairs undone by a claimant that left. */
  paired = 0;
  rateLimited = 0;
  unpaired = 0;
  readonly #pakeTimeoutMs: number;
  #closed = false;

  constructor(
    instance: string,
    limits: Limits,
    bus: BusFactory,
    host: PairsHost,
    log: (line: string) => void,
  ) {
    this.#instance = instance;
    this.#host = host;
    this.#pakeTimeoutMs = limits.pakeTimeoutMs;
    this.claims = new ClaimBudgets(limits);
    this.nameplates = new Nameplates(bus.registry({ ttlMs: limits.registryTtlMs }), instance, {
      ttlMs: limits.registryTtlMs,
      maxNameplates: limits.maxNameplates,
      log,
      extraDigits: () => this.claims.extraDigits,
      unclaimedTtlMs: limits.nameplateTtlMs,
      onExpired: (plate) =>
        host.drop(plate.sender, "expired", `Nameplate ${plate.nameplate} was never claimed`),
      onLost: (plate) => {
        if (plate.claimed) return;
        host.drop(
          plate.sender,
          "expired",
          `Nameplate ${plate.nameplate} was lost to another rendezvous instance; ` +
            "run punch send again",
        );
      },
    });
    this.remote = new Remote(bus, instance, limits, {
      claim: (from, c, nameplate) => this.#onRemoteClaim(from, c, nameplate),
      paired: (conn, mailbox) => this.#tellPaired(conn, "receiver", mailbox),
      refused: (conn, error, message) => {
        this.#claimFailed(conn);
        host.drop(conn, error, message);
      },
      message: (conn, phase, body) => this.#deliver(conn, phase, body),
      relay: (conn, data) => {
        host.relay(conn, data);
        host.count(data.byteLength);
      },
      peerGone: (conn, mood) => this.#peerGone(conn, mood),
      drop: (conn, error, message) => host.drop(conn, error, message),
    }, log);
  }

  /** `conn` asks for a nameplate (the one it wants, or any). */
  async allocate(conn: Conn, wanted: string | undefined): Promise<void> {
    conn.side = "sender";
    await this.remote.ready;
    const reserved = await this.nameplates.reserve(wanted);
    if ("error" in reserved) return this.#host.drop(conn, reserved.error, reserved.message);
    const { nameplate } = reserved;
    if (conn.closed || this.#closed) {
      await this.nameplates.release(nameplate);
      return;
    }
    this.#host.endHello(conn);
    const plate: Plate = {
      nameplate,
      mailbox: randomHex(),
      sender: conn,
      heldAt: Date.now(),
      claimed: false,
      remoteReceiver: false,
      senderLeft: false,
      receiverLeft: false,
    };
    conn.plate = plate;
    this.nameplates.hold(plate);
    sendJson(conn, { type: "allocated", nameplate });
  }

  /** `conn` claims `nameplate`. */
  async claim(conn: Conn, nameplate: string): Promise<void> {
    conn.side = "receiver";
    const waitMs = this.claims.claim(conn.key);
    if (waitMs > 0) {
      this.rateLimited++;
      return this.#host.drop(
        conn,
        "rate_limited",
        `Too many claims from this address; try again in ${Math.ceil(waitMs / 1000)} s`,
      );
    }
    if (!this.nameplates.get(nameplate)) {
      await this.remote.ready;
      const owner = await this.#ownerOf(nameplate);
      if (conn.closed || this.#closed) return;
      if (owner !== undefined && owner !== this.#instance && !this.nameplates.get(nameplate)) {
        return this.remote.claim(owner, nameplate, conn);
      }
    }
    const plate = this.nameplates.refusal(nameplate);
    if (Array.isArray(plate)) {
      this.#claimFailed(conn);
      return this.#host.drop(conn, ...plate);
    }
    this.#take(plate);
    const sender = plate.sender;
    sender.link = this.#localLink(conn);
    conn.link = this.#localLink(sender);
    this.#tellPaired(sender, "sender", plate.mailbox);
    this.#tellPaired(conn, "receiver", plate.mailbox);
  }

  /** `conn`'s socket closed. */
  left(conn: Conn): void {
    this.remote.cancel(conn);
    // A claimant that left before the key exchange, or found the code wrong.
    if (conn.link && (conn.added === 0 || conn.mood === "scary")) this.#claimFailed(conn);
    const plate = conn.plate;
    if (plate) {
      plate.senderLeft = true;
      if (!this.#closed) this.nameplates.maybeFree(plate);
    }
    conn.link?.leave(conn.mood);
  }

  /** Tells linked instances this one is leaving and frees every nameplate. */
  async close(): Promise<void> {
    this.#closed = true;
    this.remote.close();
    await this.nameplates.close();
  }

  async #ownerOf(nameplate: string): Promise<string | undefined> {
    try {
      return await this.nameplates.owner(nameplate);
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
    const plate = this.nameplates.refusal(nameplate);
    if (Array.isArray(plate)) return this.remote.refuse(from, c, ...plate);
    this.#take(plate);
    plate.remoteReceiver = true;
    this.remote.accept(from, c, plate.sender, plate.mailbox);
    this.#tellPaired(plate.sender, "sender", plate.mailbox);
  }

  /** Marks `plate` claimed: no one else may claim it. */
  #take(plate: Plate): void {
    plate.claimed = true;
    this.paired++;
  }

  #tellPaired(conn: Conn, side: "sender" | "receiver", mailbox: string): void {
    this.#host.endHello(conn);
    if (side === "receiver") {
      conn.pake = setTimeout(() => {
        if (conn.added === 0) {
          this.#host.drop(conn, "idle_timeout", "No key exchange message in time after pairing");
        }
      }, this.#pakeTimeoutMs);
    }
    sendJson(conn, { type: "paired", side, mailbox });
  }

  /** A mailbox message from `conn`'s peer. */
  #deliver(conn: Conn, phase: string, body: string): void {
    conn.heard++;
    sendJson(conn, { type: "message", phase, body });
  }

  #localLink(peer: Conn): Link {
    return {
      message: (phase, body) => this.#deliver(peer, phase, body),
      binary: (data) => this.#host.relay(peer, data),
      leave: (mood) => this.#peerGone(peer, mood),
    };
  }

  /**
   * `conn`'s peer left: tell it, and free the nameplate if it was the last;
   * a sender whose claimant never spoke waits for another.
   */
  #peerGone(conn: Conn, mood: Mood): void {
    if (conn.peerLeft) return;
    if (conn.plate && conn.heard === 0 && !conn.closed && !this.#closed) return this.#reopen(conn);
    conn.peerLeft = true;
    // The sender found the claimant's code wrong.
    if (mood === "scary") this.#claimFailed(conn);
    sendJson(conn, { type: "peer_gone", mood });
    const plate = conn.plate;
    if (plate) {
      plate.receiverLeft = true;
      if (!this.#closed) this.nameplates.maybeFree(plate);
    }
  }

  /** The claimant of `sender`'s nameplate left having said nothing: the nameplate is open again. */
  #reopen(sender: Conn): void {
    const plate = sender.plate!;
    plate.claimed = false;
    plate.remoteReceiver = false;
    plate.receiverLeft = false;
    // The sender's PAKE message went to the claimant; the next pairing runs afresh.
    plate.mailbox = randomHex();
    delete sender.link;
    sender.added = 0;
    sender.heard = 0;
    this.unpaired++;
    sendJson(sender, { type: "unpaired" });
  }

  /** Counts a failed claim against a receiver's address, once per connection. */
  #claimFailed(conn: Conn): void {
    if (conn.side !== "receiver" || conn.claimFailed) return;
    conn.claimFailed = true;
    this.claims.failed(conn.key);
  }
}
