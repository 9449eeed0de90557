/**
 * The key schedule: every key of a punch session is derived from the CPace
 * ISK with HKDF-SHA256 (empty salt) and a purpose string as `info`.
 *
 * HKDF and HMAC come from `@noble/hashes`, not WebCrypto: a browser gives
 * WebCrypto only to pages of a secure context, and the browser peer must
 * also run from a sender's embedded rendezvous on a LAN address over plain
 * http. A session derives a handful of keys, so speed does not matter.
 *
 * @module
 */

import { expand, extract } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { timingSafeEqual } from "./timing_safe_equal.ts";

/** Which end of a transfer this party is: the sender is the CPace initiator. */
export type Side = "sender" | "receiver";

/** The keys of one session, as seen from one {@linkcode Side}. */
export interface SessionKeys {
  /** The 32-byte ChaCha20-Poly1305 key of the records this side sends (a fresh copy each time). */
  readonly send: Uint8Array<ArrayBuffer>;
  /** The 32-byte ChaCha20-Poly1305 key of the records this side receives (a fresh copy each time). */
  readonly receive: Uint8Array<ArrayBuffer>;
  /** The 32-byte key confirmation tag this side sends. */
  readonly confirmation: Uint8Array<ArrayBuffer>;
  /**
   * Checks the peer's confirmation tag in constant time. `false` means the
   * two sides hold different keys: a wrong code or an attacker.
   */
  verifyPeerConfirmation(tag: Uint8Array): boolean;
  /**
   * Derives `length` bytes for another layer (for example a direct-connection
   * handshake). The purpose must be unique to that use; the purposes this
   * module uses itself are refused.
   *
   * @param purpose The HKDF `info`, UTF-8 encoded, such as `"punch/v1 transit"`.
   * @param length The number of bytes, 1 to 8160; 32 if omitted.
   */
  deriveBytes(purpose: string, length?: number): Promise<Uint8Array<ArrayBuffer>>;
}

/** The length of the ISK that {@linkcode deriveSessionKeys} takes. */
const ISK_BYTES = 64;
/** The length of a record key (ChaCha20-Poly1305 takes 256-bit keys). */
const KEY_BYTES = 32;
const PURPOSE_RECORD_SENDER = "punch/v1 record sender-to-receiver";
const PURPOSE_RECORD_RECEIVER = "punch/v1 record receiver-to-sender";
const PURPOSE_CONFIRM_SENDER = "punch/v1 confirm sender";
const PURPOSE_CONFIRM_RECEIVER = "punch/v1 confirm receiver";
const RESERVED_PURPOSES: ReadonlySet<string> = new Set([
  PURPOSE_RECORD_SENDER,
  PURPOSE_RECORD_RECEIVER,
  PURPOSE_CONFIRM_SENDER,
  PURPOSE_CONFIRM_RECEIVER,
]);
/** What each side's confirmation tag is an HMAC of. */
const CONFIRMATION_LABEL = "punch/v1 key confirmation";
/** HKDF-SHA256 can give at most 255 blocks of 32 bytes. */
const HKDF_MAX_BYTES = 255 * 32;

const ENCODER = new TextEncoder();

/**
 * Derives the record keys and key confirmation tags of a session from the
 * CPace ISK. Both sides get matching keys: the sender's `send` key opens
 * what the receiver's `receive` key expects, and each side's `confirmation`
 * passes the other's `verifyPeerConfirmation` only if the ISKs are equal.
 *
 * @example Usage
 * ```ts
 * import { deriveSessionKeys } from "./keys.ts";
 *
 * const isk = crypto.getRandomValues(new Uint8Array(64));
 * const sender = await deriveSessionKeys(isk, "sender");
 * const receiver = await deriveSessionKeys(isk, "receiver");
 * receiver.verifyPeerConfirmation(sender.confirmation); // true
 * ```
 *
 * @param isk The 64-byte ISK from CPace.
 * @param side Which side this party is.
 */
export function deriveSessionKeys(isk: Uint8Array, side: Side): Promise<SessionKeys> {
  // A promise, as when WebCrypto did the work: bad input rejects it.
  try {
    return Promise.resolve(sessionKeys(isk, side));
  } catch (error) {
    return Promise.reject(error);
  }
}

function sessionKeys(isk: Uint8Array, side: Side): SessionKeys {
  if (!(isk instanceof Uint8Array)) throw new TypeError("Cannot derive keys: ISK must be bytes");
  if (isk.length !== ISK_BYTES) {
    throw new RangeError(`Cannot derive keys: ISK has ${isk.length} bytes, expected ${ISK_BYTES}`);
  }
  if (side !== "sender" && side !== "receiver") {
    throw new TypeError(`Cannot derive keys: unknown side ${JSON.stringify(side)}`);
  }
  // HKDF's extract step with the empty salt, once; each purpose expands it.
  const base = extract(sha256, isk, new Uint8Array(0));
  const sender = side === "sender";
  const send = deriveKeyBytes(
    base,
    sender ? PURPOSE_RECORD_SENDER : PURPOSE_RECORD_RECEIVER,
    KEY_BYTES,
  );
  const receive = deriveKeyBytes(
    base,
    sender ? PURPOSE_RECORD_RECEIVER : PURPOSE_RECORD_SENDER,
    KEY_BYTES,
  );
  const ownTag = confirmationTag(base, sender ? PURPOSE_CONFIRM_SENDER : PURPOSE_CONFIRM_RECEIVER);
  const peerTag = confirmationTag(base, sender ? PURPOSE_CONFIRM_RECEIVER : PURPOSE_CONFIRM_SENDER);
  return new Keys(base, send, receive, ownTag, peerTag);
}

class Keys implements SessionKeys {
  #send: Uint8Array<ArrayBuffer>;
  #receive: Uint8Array<ArrayBuffer>;
  /** HKDF's pseudorandom key (the extract step's output). */
  #base: Uint8Array;
  #ownTag: Uint8Array<ArrayBuffer>;
  #peerTag: Uint8Array;

  constructor(
    base: Uint8Array,
    send: Uint8Array<ArrayBuffer>,
    receive: Uint8Array<ArrayBuffer>,
    ownTag: Uint8Array<ArrayBuffer>,
    peerTag: Uint8Array,
  ) {
    this.#base = base;
    this.#send = send;
    this.#receive = receive;
    this.#ownTag = ownTag;
    this.#peerTag = peerTag;
  }

  get send(): Uint8Array<ArrayBuffer> {
    return this.#send.slice();
  }

  get receive(): Uint8Array<ArrayBuffer> {
    return this.#receive.slice();
  }

  get confirmation(): Uint8Array<ArrayBuffer> {
    return this.#ownTag.slice();
  }

  verifyPeerConfirmation(tag: Uint8Array): boolean {
    return timingSafeEqual(tag, this.#peerTag);
  }

  deriveBytes(purpose: string, length = 32): Promise<Uint8Array<ArrayBuffer>> {
    try {
      return Promise.resolve(this.#deriveBytes(purpose, length));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #deriveBytes(purpose: string, length: number): Uint8Array<ArrayBuffer> {
    if (typeof purpose !== "string" || purpose === "") {
      throw new TypeError("Cannot derive bytes: purpose must be a non-empty string");
    }
    if (RESERVED_PURPOSES.has(purpose)) {
      throw new RangeError(`Cannot derive bytes: purpose "${purpose}" is reserved`);
    }
    if (!Number.isInteger(length) || length < 1 || length > HKDF_MAX_BYTES) {
      throw new RangeError(
        `Cannot derive bytes: length must be an integer from 1 to ${HKDF_MAX_BYTES}, got ${length}`,
      );
    }
    return deriveKeyBytes(this.#base, purpose, length);
  }
}

/** HKDF-SHA256's expand step of `base` for `purpose`. */
function deriveKeyBytes(
  base: Uint8Array,
  purpose: string,
  length: number,
): Uint8Array<ArrayBuffer> {
  return new Uint8Array(expand(sha256, base, ENCODER.encode(purpose), length));
}

/** The confirmation tag: an HMAC-SHA256, under the key derived for `purpose`, of the label. */
function confirmationTag(base: Uint8Array, purpose: string): Uint8Array<ArrayBuffer> {
  const key = deriveKeyBytes(base, purpose, KEY_BYTES);
  return new Uint8Array(hmac(sha256, key, ENCODER.encode(CONFIRMATION_LABEL)));
}
