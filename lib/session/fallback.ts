/**
 * Falling back to the relay when the direct connection breaks mid-transfer.
 *
 * Protocol flow (docs/protocol/transit.md, "Falling back"):
 * - Once both directions moved to the direct connection, each side keeps its
 *   relay open and reads it. Nothing more is due there: the old record
 *   streams ended with their `moved` records.
 * - A side whose direct connection breaks (a reset, a stall, a stream cut
 *   short) drops it and sends, on the relay, the first record of a new
 *   stream under the fallback keys: an empty message, "back on the relay".
 * - A side that reads that record drops its own direct connection at once,
 *   which ends its transfer, and answers with the same empty record.
 * - With both records through, the two sides run the transfer again on the
 *   new streams; the receiver resumes the files it kept (transfer.md).
 * - A receiver that reads the sender's `moved` record but never got the
 *   nomination (the connection broke first) follows onto a connection
 *   broken from the start ({@linkcode followMissedMove}), and so falls back
 *   too.
 * - Once only: a broken relay, or a second failure, ends the transfer.
 *
 * @module
 */

import type { SessionKeys } from "../crypto/keys.ts";
import { RecordError } from "../crypto/records.ts";
import { SecureChannel } from "../link/channel.ts";
import type { FramePipe } from "../link/frames.ts";
import type { MigratingChannel } from "../link/migrating.ts";
import { connectionBroke } from "../net/errors.ts";
import { TransferError } from "../transfer/messages.ts";
import { FALLBACK_WAIT_MS } from "../transit/defaults.ts";
import { whenAborted } from "../_abort.ts";

/** The HKDF purposes of the fallback streams' keys, one per direction. */
export const FALLBACK_PURPOSES = {
  sender: "punch/v1 fallback sender-to-receiver",
  receiver: "punch/v1 fallback receiver-to-sender",
} as const;

/** The other side fell back to the relay: its direct connection broke. */
export class PeerFellBackError extends Error {
  constructor() {
    super("the other side's direct connection broke");
    this.name = "PeerFellBackError";
  }
}

/**
 * For a side that has no direct connection although the other side moved to
 * one (the nominated connection broke before this side read the
 * nomination): once the other side's `moved` record is read, moves `channel`
 * onto a carrier that is already broken, so that the transfer fails as on a
 * broken direct connection and falls back to the relay.
 */
export function followMissedMove(channel: MigratingChannel): void {
  channel.peerMoved.then(() => {
    const error = new Deno.errors.ConnectionReset(
      "the other side moved to a direct connection this side never got",
    );
    const pipe: FramePipe = {
      readable: new ReadableStream({ start: (controller) => controller.error(error) }),
      writable: new WritableStream({ start: (controller) => controller.error(error) }),
    };
    const key = () => crypto.getRandomValues(new Uint8Array(32));
    return channel.moveTo(new SecureChannel(pipe, { send: key(), receive: key() }));
  }).catch(() => {});
}

/** Options for {@linkcode Fallback.take}. */
export interface TakeOptions {
  /** How long to wait for the other side on the relay. */
  waitMs?: number;
  signal?: AbortSignal;
}

/** The relay kept in reserve while a transfer runs on a direct connection. */
export class Fallback {
  readonly #relay: SecureChannel;
  readonly #keys: { send: Uint8Array; receive: Uint8Array };
  #migrating: MigratingChannel | undefined;
  /** Resolves once both directions moved and the relay is read again. */
  #ready: Promise<void> | undefined;
  #channel: SecureChannel | undefined;
  #peer: Promise<boolean> | undefined;
  #peerFirst = false;
  #taken = false;

  private constructor(relay: SecureChannel, keys: { send: Uint8Array; receive: Uint8Array }) {
    this.#relay = relay;
    this.#keys = keys;
  }

  /** Derives the fallback keys of a session whose relay channel is `relay`. */
  static async create(
    relay: SecureChannel,
    keys: SessionKeys,
    side: "sender" | "receiver",
  ): Promise<Fallback> {
    const [toReceiver, toSender] = await Promise.all([
      keys.deriveBytes(FALLBACK_PURPOSES.sender),
      keys.deriveBytes(FALLBACK_PURPOSES.receiver),
    ]);
    return new Fallback(
      relay,
      side === "sender"
        ? { send: toReceiver, receive: toSender }
        : { send: toSender, receive: toReceiver },
    );
  }

  /**
   * Once `channel` has moved both directions off the relay, reads the relay
   * for the other side's "back on the relay" record; when it comes, drops
   * the direct connection so that the transfer on it ends.
   */
  watch(channel: MigratingChannel): void {
    this.#migrating = channel;
    this.#ready = channel.moved.then(() => {
      const reopened = this.#channel = this.#relay.reopen(this.#keys);
      this.#peer = reopened.receive().then((message) => {
        // The relay ended (the other side left), or something else than the
        // empty record came: no fallback.
        if (message === null || message.length !== 0) return false;
        this.#peerFirst = true;
        channel.abortMoved(new PeerFellBackError());
        return true;
      }, () => false);
    });
    this.#ready.catch(() => {});
  }

  /**
   * Whether the transfer that ended with `error` may go on over the relay:
   * this side had moved to the direct connection, and that connection broke
   * (or the other side says its did), as opposed to a peer that refused,
   * failed, or sent bad data.
   */
  canTake(error: unknown): boolean {
    if (this.#migrating?.path !== "direct" || this.#taken) return false;
    return error instanceof PeerFellBackError || connectionBroke(error) ||
      error instanceof RecordError && error.code === "truncated" ||
      error instanceof TransferError &&
        (error.code === "stalled" || error.code === "peer_error" && error.peerCode === "stalled");
  }

  /** Why the transfer left the direct connection, for the user. */
  reason(error: unknown): string {
    if (this.#peerFirst) return new PeerFellBackError().message;
    return `the direct connection broke (${error instanceof Error ? error.message : error})`;
  }

  /**
   * Drops the direct connection, sends this side's "back on the relay"
   * record and waits for the other side's. Resolves with the channel to run
   * the transfer again on; throws `error` (the direct connection's failure)
   * when the other side does not come back.
   */
  async take(error: unknown, options: TakeOptions = {}): Promise<SecureChannel> {
    if (!this.canTake(error)) throw error;
    this.#taken = true;
    const migrating = this.#migrating!;
    migrating.abortMoved(error);
    // The other side's relay stream may still hold records before its
    // `moved` record, which the failed transfer no longer reads: read them,
    // so that both directions count as moved. Reads after it end at once on
    // the dropped direct connection.
    (async () => {
      while (await migrating.receive() !== null) { /* discarded */ }
    })().catch(() => {});
    const gaveUp = Promise.withResolvers<false>();
    const timer = setTimeout(() => gaveUp.resolve(false), options.waitMs ?? FALLBACK_WAIT_MS);
    const unlisten = whenAborted(
      options.signal,
      () => gaveUp.reject(new TransferError("cancelled", "Cancelled")),
    );
    try {
      if (!await Promise.race([this.#ready!.then(() => true, () => false), gaveUp.promise])) {
        throw error;
      }
      await this.#channel!.send(new Uint8Array(0)).catch(() => {});
      if (!await Promise.race([this.#peer!, gaveUp.promise])) throw error;
    } finally {
      clearTimeout(timer);
      unlisten();
    }
    return this.#channel!;
  }
}
