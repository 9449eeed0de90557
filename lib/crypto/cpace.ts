/**
 * CPace, the balanced PAKE of draft-irtf-cfrg-cpace (version -21), with the
 * cipher suite CPACE-RISTR255-SHA512.
 *
 * Each party computes a secret generator from the password (PRS), the channel
 * identifier (CI) and the session identifier (sid), sends one message
 * `lv_cat(Y, AD)`, and derives the 64-byte intermediate session key (ISK) from
 * the peer's message. Both ISKs match only if PRS, CI, sid and both messages
 * match, so a wrong password is noticed at key confirmation, not here.
 *
 * @module
 */

import { concat, lvCat, oCat, readLv } from "./_encoding.ts";
import {
  calculateGenerator,
  decodeScalar,
  ELEMENT_BYTES,
  IDENTITY,
  intermediateSessionKey,
  sampleScalar,
  scalarMult,
  scalarMultVfy,
} from "./_ristretto.ts";

/** The role of a party: the initiator is A (sends Ya), the responder is B (sends Yb). */
export type CPaceRole = "initiator" | "responder";

/** Inputs of one CPace run. Both parties must pass the same `password`, `channelId` and `sessionId`. */
export interface CPaceOptions {
  /** PRS, the password-related string. */
  password: Uint8Array;
  /** CI, the channel identifier: never sent, but both sides must agree on it. */
  channelId: Uint8Array;
  /** sid, a public session identifier unique to this run. */
  sessionId: Uint8Array;
  /**
   * This party's associated data (ADa or ADb), sent in clear and authenticated.
   *
   * @default {new Uint8Array()}
   */
  associatedData?: Uint8Array;
  /**
   * Use the symmetric setting's ordered transcript `transcript_oc` instead of
   * the initiator-responder transcript `transcript_ir`.
   *
   * @default {false}
   */
  symmetric?: boolean;
  /**
   * The secret scalar as 32 little-endian bytes. Only for known-answer tests:
   * reusing a scalar breaks the protocol.
   *
   * @default {a fresh random scalar}
   */
  scalar?: Uint8Array;
}

/** One party's side of a CPace run, returned by {@linkcode startCPace}. */
export interface CPaceState {
  /** This party's role. */
  readonly role: CPaceRole;
  /** The message to send to the peer: `lv_cat(Y, AD)`. */
  readonly message: Uint8Array<ArrayBuffer>;
  /**
   * Derives the 64-byte ISK from the peer's message. Can be called once.
   *
   * @throws {CPaceError} if the peer's message is malformed or its element
   * is invalid or yields the neutral element.
   */
  finish(peerMessage: Uint8Array): Uint8Array<ArrayBuffer>;
}

/** Thrown by {@linkcode CPaceState.finish} when the peer's message must be rejected. */
export class CPaceError extends Error {
  /** Constructs a new instance. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CPaceError";
  }
}

/**
 * Starts a CPace run and returns this party's message and a way to finish.
 *
 * @example Usage
 * ```ts
 * import { startCPace } from "./cpace.ts";
 *
 * const options = {
 *   password: new TextEncoder().encode("4812-violet-harbor"),
 *   channelId: new TextEncoder().encode("punch/v1 4812"),
 *   sessionId: crypto.getRandomValues(new Uint8Array(16)),
 * };
 * const a = startCPace("initiator", options);
 * const b = startCPace("responder", options);
 * const iskA = a.finish(b.message);
 * const iskB = b.finish(a.message); // equal to iskA
 * ```
 */
export function startCPace(role: CPaceRole, options: CPaceOptions): CPaceState {
  if (role !== "initiator" && role !== "responder") {
    throw new TypeError(`Cannot start CPace: unknown role ${JSON.stringify(role)}`);
  }
  const { password, channelId, sessionId, associatedData = new Uint8Array() } = options;
  for (const [name, value] of Object.entries({ password, channelId, sessionId, associatedData })) {
    if (!(value instanceof Uint8Array)) {
      throw new TypeError(`Cannot start CPace: ${name} must be a Uint8Array`);
    }
  }
  const scalar = options.scalar === undefined ? sampleScalar() : decodeScalar(options.scalar);
  return new CPaceSession(role, scalar, options.symmetric ?? false, {
    password,
    channelId,
    sessionId,
    associatedData,
  });
}

class CPaceSession implements CPaceState {
  readonly role: CPaceRole;
  readonly message: Uint8Array<ArrayBuffer>;
  #ownMessage: Uint8Array;
  #scalar: bigint | undefined;
  #symmetric: boolean;
  #sessionId: Uint8Array;

  constructor(
    role: CPaceRole,
    scalar: bigint,
    symmetric: boolean,
    inputs: Required<Omit<CPaceOptions, "scalar" | "symmetric">>,
  ) {
    this.role = role;
    this.#scalar = scalar;
    this.#symmetric = symmetric;
    this.#sessionId = inputs.sessionId.slice();
    const generator = calculateGenerator(inputs.password, inputs.channelId, inputs.sessionId);
    this.message = lvCat(scalarMult(scalar, generator), inputs.associatedData);
    this.#ownMessage = this.message.slice();
  }

  finish(peerMessage: Uint8Array): Uint8Array<ArrayBuffer> {
    const scalar = this.#scalar;
    if (scalar === undefined) throw new Error("Cannot finish CPace: already finished");
    if (!(peerMessage instanceof Uint8Array)) {
      throw new TypeError("Cannot finish CPace: peer message must be a Uint8Array");
    }
    this.#scalar = undefined;
    const element = readLv(peerMessage, 0);
    const data = element && readLv(peerMessage, element.next);
    if (!element || !data || data.next !== peerMessage.length) {
      throw new CPaceError("Cannot finish CPace: peer message is not lv_cat(Y, AD)");
    }
    if (element.value.length !== ELEMENT_BYTES) {
      throw new CPaceError(
        `Cannot finish CPace: peer element has ${element.value.length} bytes, expected ${ELEMENT_BYTES}`,
      );
    }
    const k = scalarMultVfy(scalar, element.value);
    if (k.every((byte, i) => byte === IDENTITY[i])) {
      throw new CPaceError(
        "Cannot finish CPace: peer element is invalid or yields the neutral element",
      );
    }
    // Re-encode what was parsed, so the transcript holds exactly the fields used.
    const peer = lvCat(element.value, data.value);
    const own = this.#ownMessage;
    const [a, b] = this.role === "initiator" ? [own, peer] : [peer, own];
    const transcript = this.#symmetric ? oCat(a, b) : concat([a, b]);
    return intermediateSessionKey(this.#sessionId, k, transcript);
  }
}
