/**
 * A channel that starts on one carrier (the relay) and moves to another (a
 * direct connection) at a record boundary, without the transfer on top
 * noticing.
 *
 * Protocol flow (docs/protocol/transit.md):
 * - Each side calls `moveTo(next)` once the direct channel is nominated: its
 *   outgoing direction ends on the old channel with a `moved` record, and
 *   everything after goes over `next`.
 * - A `moved` record on the incoming side means: keep reading from `next`.
 *   Records are never lost or repeated: the old carrier delivers everything
 *   before the marker, the new one everything after.
 * - The other side's `moved` record is its acknowledgement; once both
 *   directions moved, `moved` resolves and the old carrier can be closed.
 *
 * @module
 */

import type { Channel, SecureChannel } from "./channel.ts";

/** Which carrier a channel is on. */
export type Path = "relay" | "direct";

/** A {@linkcode Channel} that can move from one secure channel to another once. */
export class MigratingChannel implements Channel {
  #out: SecureChannel;
  #in: SecureChannel;
  readonly #first: SecureChannel;
  readonly #next = Promise.withResolvers<SecureChannel>();
  readonly #peerMoved = Promise.withResolvers<void>();
  readonly #incomingMoved = Promise.withResolvers<void>();
  readonly #outgoingMoved = Promise.withResolvers<void>();
  #moving = false;
  #receiving: Promise<void> = Promise.resolve();

  constructor(initial: SecureChannel) {
    this.#first = this.#out = this.#in = initial;
    this.#incomingMoved.promise.catch(() => {});
    this.#outgoingMoved.promise.catch(() => {});
  }

  /** The carrier this side sends on now. */
  get path(): Path {
    return this.#out === this.#first ? "relay" : "direct";
  }

  /** The carrier this side now reads from. */
  get readPath(): Path {
    return this.#in === this.#first ? "relay" : "direct";
  }

  /**
   * Resolves once the other side's `moved` record has been read: it sends on
   * another carrier now, whether or not this side has one to read it from.
   */
  get peerMoved(): Promise<void> {
    return this.#peerMoved.promise;
  }

  /** Resolves once both directions have moved; the old carrier may then be closed. */
  get moved(): Promise<void> {
    return Promise.all([this.#incomingMoved.promise, this.#outgoingMoved.promise]).then(() => {});
  }

  /**
   * Moves this side's sending to `next` at the next record boundary, and
   * lets reading follow the other side when it moves. Once only. If this
   * side has already closed its direction, only reading moves.
   */
  async moveTo(next: SecureChannel): Promise<void> {
    if (this.#moving) throw new TypeError("Cannot move a channel twice");
    this.#moving = true;
    this.#next.resolve(next);
    if (this.#out.closing) return this.#outgoingMoved.resolve();
    // Switch first: a send racing with the marker must go to `next`, not to
    // the old channel, which refuses sends once its `moved` record is sealed
    // (records already sent on it are sealed before the marker).
    const old = this.#out;
    this.#out = next;
    await old.moveOut();
    this.#outgoingMoved.resolve();
  }

  send(message: Uint8Array): Promise<void> {
    return this.#out.send(message);
  }

  get sentTag(): Uint8Array {
    return this.#out.sentTag;
  }

  get receivedTag(): Uint8Array {
    return this.#in.receivedTag;
  }

  /**
   * One receive at a time: a second caller (such as a fallback reading what
   * is left on the relay while a failed transfer's read is pending) waits
   * for the first, so that a read started before the other side's `moved`
   * record never takes a record of what follows it on the old carrier.
   */
  receive(): Promise<Uint8Array | null> {
    const next = this.#receiving.then(() => this.#receiveOne());
    this.#receiving = next.then(() => {}, () => {});
    return next;
  }

  async #receiveOne(): Promise<Uint8Array | null> {
    for (;;) {
      const message = await this.#in.receive();
      if (message !== null || this.#in.ending !== "moved" || this.#in !== this.#first) {
        return message;
      }
      this.#peerMoved.resolve();
      this.#in = await this.#next.promise;
      this.#incomingMoved.resolve();
    }
  }

  close(): Promise<void> {
    return this.#out.close();
  }

  /**
   * Drops the carrier this channel moved to, leaving the first one open to
   * be taken up again ({@linkcode SecureChannel.reopen}). Anything waiting on
   * this channel fails.
   */
  abortMoved(reason?: unknown): void {
    this.#next.promise.then((next) => next.abort(reason), () => {});
    this.#next.reject(reason);
  }

  abort(reason?: unknown): void {
    this.#first.abort(reason);
    this.#next.promise.then((next) => next.abort(reason), () => {});
    this.#next.reject(reason);
  }
}
