/**
 * The transit handshake: what every direct TCP connection does before either
 * side trusts it.
 *
 * Protocol flow (docs/protocol/transit.md has the bytes):
 * - Both sides write `hello = "punch/v2 transit\n" || side || nonce(16)`,
 *   side `S` (0x53) for the sender, `R` (0x52) for the receiver.
 * - Both read the other's hello; a wrong magic, or our own side (a connection
 *   to ourselves), ends the connection.
 * - Both write `proof = HMAC-SHA256(transit key, "punch/v1 transit proof" ||
 *   own side || own nonce || peer nonce)` and check the other's. The transit
 *   key comes from the session key, so only the peer that ran the PAKE with
 *   us can prove it.
 * - The sender nominates one proven connection with `01` and refuses the
 *   others with `00`; the receiver waits for that byte.
 * - Records follow, length-prefixed (protocol 2's records, bound to the
 *   connection by the round that found it: docs/protocol/connection.md).
 *
 * @module
 */

import { createHmac } from "node:crypto";
import type { Side } from "../crypto/keys.ts";
import { timingSafeEqual } from "../crypto/timing_safe_equal.ts";
import { type BytePipe, framedPipe } from "../link/framing.ts";
import type { FramePipe } from "../link/frames.ts";
import { SEALED_MAX_BYTES } from "../crypto/sealing.ts";
import type { FrameReads } from "../net/_adopt.ts";
import { ByteReader } from "./bytes.ts";

/** The first bytes of every direct connection. */
export const TRANSIT_MAGIC: Uint8Array = new TextEncoder().encode("punch/v2 transit\n");
/** Bytes of a hello: magic, side, nonce. */
export const HELLO_BYTES = TRANSIT_MAGIC.length + 1 + 16;
/** Bytes of a proof. */
export const PROOF_BYTES = 32;
/** The longest frame a direct connection carries: one record. */
const MAX_FRAME_BYTES = SEALED_MAX_BYTES;
/** The HKDF purpose of the key that proofs are made with. */
export const TRANSIT_PURPOSE = "punch/v2 transit";

const SIDE_BYTE = { sender: 0x53, receiver: 0x52 } as const;
const PROOF_LABEL = new TextEncoder().encode("punch/v2 transit proof");

/** A connection failed the handshake: not a punch peer, or not ours. */
export class TransitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TransitError";
  }
}

/** A connection whose peer proved it holds the session key. */
export interface ProvenConnection {
  side: Side;
  senderNonce: Uint8Array;
  receiverNonce: Uint8Array;
  reader: ByteReader;
  writable: WritableStream<Uint8Array>;
}

function proof(key: Uint8Array, side: Side, own: Uint8Array, peer: Uint8Array): Uint8Array {
  return new Uint8Array(
    createHmac("sha256", key).update(PROOF_LABEL).update(Uint8Array.of(SIDE_BYTE[side]))
      .update(own).update(peer).digest(),
  );
}

/** Queues bytes once the stream has room, like a socket write; errors surface on reads. */
async function write(writable: WritableStream<Uint8Array>, bytes: Uint8Array): Promise<void> {
  const writer = writable.getWriter();
  try {
    await writer.ready;
    writer.write(bytes).catch(() => {});
  } finally {
    writer.releaseLock();
  }
}

/**
 * How a side's direct connections read (see {@linkcode FrameReads}): what
 * comes before the records is the peer's hello and proof, and for the
 * receiver the sender's nomination byte.
 */
export function transitReads(side: Side): FrameReads {
  const nomination = side === "receiver" ? 1 : 0;
  return { skipBytes: HELLO_BYTES + PROOF_BYTES + nomination, maxFrameBytes: MAX_FRAME_BYTES };
}

/** Builds this side's hello. */
export function encodeHello(side: Side, nonce: Uint8Array): Uint8Array {
  const hello = new Uint8Array(HELLO_BYTES);
  hello.set(TRANSIT_MAGIC);
  hello[TRANSIT_MAGIC.length] = SIDE_BYTE[side];
  hello.set(nonce, TRANSIT_MAGIC.length + 1);
  return hello;
}

/**
 * Runs the handshake on a fresh connection; resolves once the peer proved
 * the session key, or throws {@linkcode TransitError}.
 */
export async function proveConnection(
  bytes: BytePipe,
  side: Side,
  transitKey: Uint8Array,
  nonce: Uint8Array = crypto.getRandomValues(new Uint8Array(16)),
): Promise<ProvenConnection> {
  const reader = new ByteReader(bytes.readable);
  await write(bytes.writable, encodeHello(side, nonce));
  const hello = await reader.read(HELLO_BYTES);
  if (!timingSafeEqual(hello.subarray(0, TRANSIT_MAGIC.length), TRANSIT_MAGIC)) {
    throw new TransitError("Not a punch transit connection");
  }
  const peerSide: Side = side === "sender" ? "receiver" : "sender";
  if (hello[TRANSIT_MAGIC.length] !== SIDE_BYTE[peerSide]) {
    throw new TransitError("The connection leads back to this side");
  }
  const peerNonce = hello.slice(TRANSIT_MAGIC.length + 1);
  await write(bytes.writable, proof(transitKey, side, nonce, peerNonce));
  const peerProof = await reader.read(PROOF_BYTES);
  if (!timingSafeEqual(peerProof, proof(transitKey, peerSide, peerNonce, nonce))) {
    throw new TransitError("The peer cannot prove the session key");
  }
  return {
    side,
    senderNonce: side === "sender" ? nonce : peerNonce,
    receiverNonce: side === "sender" ? peerNonce : nonce,
    reader,
    writable: bytes.writable,
  };
}

/** The sender's verdict on a proven connection: `01` use it, `00` close it. */
export async function nominate(connection: ProvenConnection, chosen: boolean): Promise<void> {
  await write(connection.writable, Uint8Array.of(chosen ? 1 : 0));
}

/** The receiver waits for the sender's verdict on a proven connection. */
export async function awaitNomination(connection: ProvenConnection): Promise<boolean> {
  const [verdict] = await connection.reader.read(1);
  if (verdict !== 0 && verdict !== 1) throw new TransitError("Bad nomination byte");
  return verdict === 1;
}

/** The frames of records over a nominated connection (protocol 2: the records carry their own keys). */
export function directPipe(connection: ProvenConnection): FramePipe {
  return framedPipe(
    { readable: connection.reader.rest(), writable: connection.writable },
    MAX_FRAME_BYTES,
  );
}
