/**
 * The key schedule: every key of a punch session is derived from the CPace
 * ISK with HKDF-SHA256 (empty salt) and a purpose string as `info`.
 *
 * @module
 */

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
export async function deriveSessionKeys(isk: Uint8Array, side: Side): Promise<SessionKeys> {
  if (!(isk instanceof Uint8Array)) throw new TypeError("Cannot derive keys: ISK must be bytes");
  if (isk.length !== ISK_BYTES) {
    throw new RangeError(`Cannot derive keys: ISK has ${isk.length} bytes, expected ${ISK_BYTES}`);
  }
  if (side !== "sender" && side !== "receiver") {
    throw new TypeError(`Cannot derive keys: unknown side ${JSON.stringify(side)}`);
  }
  const base = await crypto.subtle.importKey("raw", isk as Uint8Array<ArrayBuffer>, "HKDF", false, [
    "deriveBits",
    "deriveKey",
  ]);
  const sender = side === "sender";
  const [send, receive, ownTag, peerTag] = await Promise.all([
    deriveKeyBytes(base, sender ? PURPOSE_RECORD_SENDER : PURPOSE_RECORD_RECEIVER, KEY_BYTES),
    deriveKeyBytes(base, sender ? PURPOSE_RECORD_RECEIVER : PURPOSE_RECORD_SENDER, KEY_BYTES),
    confirmationTag(base, sender ? PURPOSE_CONFIRM_SENDER : PURPOSE_CONFIRM_RECEIVER),
    confirmationTag(base, sender ? PURPOSE_CONFIRM_RECEIVER : PURPOSE_CONFIRM_SENDER),
  ]);
  return new Keys(base, send, receive, ownTag, peerTag);
}

class Keys implements SessionKeys {
  #send: Uint8Array<ArrayBuffer>;
  #receive: Uint8Array<ArrayBuffer>;
  #base: CryptoKey;
  #ownTag: Uint8Array<ArrayBuffer>;
  #peerTag: Uint8Array;

  constructor(
    base: CryptoKey,
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

  async deriveBytes(purpose: string, length = 32): Promise<Uint8Array<ArrayBuffer>> {
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
    return await deriveKeyBytes(this.#base, purpose, length);
  }
}

function hkdf(purpose: string): HkdfParams {
  return { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(), info: ENCODER.encode(purpose) };
}

async function deriveKeyBytes(
  base: CryptoKey,
  purpose: string,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.deriveBits(hkdf(purpose), base, length * 8));
}

async function confirmationTag(
  base: CryptoKey,
  purpose: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const key = await crypto.subtle.deriveKey(
    hkdf(purpose),
    base,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign"],
  );
  const tag = await crypto.subtle.sign("HMAC", key, ENCODER.encode(CONFIRMATION_LABEL));
  return new Uint8Array(tag);
}
