/**
 * The channel object every bus hands out, and the bookkeeping every factory
 * shares: channels by name, close on factory close, one error sink.
 *
 * @module
 */

import { bytesToHex } from "@noble/hashes/utils.js";
import { decodeFrame, encodeFrame } from "./_codec.ts";
import type { BusChannel, BusKind, BusOptions } from "./types.ts";

/** A short random id naming a channel or an instance. */
export function randomId(): string {
  const raw = crypto.getRandomValues(new Uint8Array(8));
  return bytesToHex(raw);
}

/** The default error sink. */
export function defaultOnError(error: unknown): void {
  console.error("bus:", error);
}

/** How a factory moves one channel's frames. */
export interface Transport {
  /** Sends an encoded frame; must keep the order of calls. */
  send(frame: Uint8Array): void;
  /** Called once when the channel closes. */
  detach(channel: Channel): void;
}

/** A channel: encodes on post, decodes per receiver, never delivers to itself. */
export class Channel implements BusChannel {
  onmessage: ((event: MessageEvent) => void) | null = null;
  readonly name: string;
  readonly id = randomId();
  readonly ready: Promise<void>;
  readonly #transport: Transport;
  readonly #onError: (error: unknown) => void;
  #closed = false;

  constructor(
    name: string,
    ready: Promise<void>,
    transport: Transport,
    onError: (error: unknown) => void,
  ) {
    this.name = name;
    this.ready = ready;
    this.#transport = transport;
    this.#onError = onError;
  }

  get closed(): boolean {
    return this.#closed;
  }

  postMessage(message: unknown): void {
    if (this.#closed) {
      throw new DOMException("Cannot post on a closed channel", "InvalidStateError");
    }
    this.#transport.send(encodeFrame(message, this.id));
  }

  /** Hands a received frame to `onmessage` unless this channel posted it or is closed. */
  deliver(frame: Uint8Array): void {
    if (this.#closed) return;
    let decoded;
    try {
      decoded = decodeFrame(frame);
    } catch (error) {
      return this.#onError(error);
    }
    if (decoded.from === this.id) return;
    try {
      this.onmessage?.(new MessageEvent("message", { data: decoded.data }));
    } catch (error) {
      this.#onError(error);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#transport.detach(this);
  }
}

/** State every factory keeps: its open channels by name and whether it is closed. */
export class ChannelTable {
  readonly kind: BusKind;
  readonly onError: (error: unknown) => void;
  readonly #byName = new Map<string, Set<Channel>>();
  readonly #all = new Set<Channel>();
  #closed = false;

  constructor(kind: BusKind, options: BusOptions) {
    this.kind = kind;
    this.onError = options.onError ?? defaultOnError;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Throws if the factory is closed. */
  assertOpen(): void {
    if (this.#closed) {
      throw new DOMException(
        `Cannot open a channel: the ${this.kind} bus is closed`,
        "InvalidStateError",
      );
    }
  }

  /** Opens a channel that only posts (`open(name, {listen: false})`) through `send`. */
  postOnly(name: string, send: (frame: Uint8Array) => void): Channel {
    const channel = new Channel(name, Promise.resolve(), {
      send,
      detach: (closing) => void this.remove(closing),
    }, this.onError);
    this.add(channel, false);
    return channel;
  }

  /** The open listening channels of `name` (live set; empty if none). */
  channels(name: string): ReadonlySet<Channel> {
    return this.#byName.get(name) ?? new Set();
  }

  /**
   * Records `channel`, among the receivers of its name if `listen`; true if
   * it is the first receiver of its name.
   */
  add(channel: Channel, listen = true): boolean {
    this.#all.add(channel);
    if (!listen) return false;
    let set = this.#byName.get(channel.name);
    const first = !set;
    if (!set) this.#byName.set(channel.name, set = new Set());
    set.add(channel);
    return first;
  }

  /** Forgets `channel`; true if it was the last receiver of its name. */
  remove(channel: Channel): boolean {
    this.#all.delete(channel);
    const set = this.#byName.get(channel.name);
    if (!set?.delete(channel)) return false;
    if (set.size > 0) return false;
    this.#byName.delete(channel.name);
    return true;
  }

  /** Marks the factory closed and closes every channel. */
  closeAll(): void {
    this.#closed = true;
    for (const channel of [...this.#all]) channel.close();
  }
}
