// The group environment G_Ristretto255 with H = SHA-512 of draft-irtf-cfrg-cpace
// (section "CPace group objects G_Ristretto255 and G_Decaf448").

import { ristretto255, ristretto255_hasher } from "@noble/curves/ed25519.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { concat, lvCat, prependLen } from "./_encoding.ts";

const Point = ristretto255.Point;
type Point = InstanceType<typeof Point>;

const ENCODER = new TextEncoder();

/** G.DSI: the domain-separation identifier of the group environment. */
export const DSI: Uint8Array = ENCODER.encode("CPaceRistretto255");
/** G.DSI || b"_ISK", the domain-separation identifier of the ISK hash. */
export const DSI_ISK: Uint8Array = ENCODER.encode("CPaceRistretto255_ISK");
/** H.s_in_bytes: the input block size of SHA-512. */
export const HASH_BLOCK_BYTES = 128;
/** G.field_size_bytes, also the size of an encoded element and of a scalar. */
export const ELEMENT_BYTES = 32;
/** G.I: the encoding of the neutral element. */
export const IDENTITY: Uint8Array = new Uint8Array(ELEMENT_BYTES);

const ORDER = Point.Fn.ORDER;

/** `generator_string(G.DSI, PRS, CI, sid, H.s_in_bytes)`. */
export function generatorString(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  const zpad = Math.max(
    0,
    HASH_BLOCK_BYTES - 1 - prependLen(prs).length - prependLen(DSI).length,
  );
  return lvCat(DSI, prs, new Uint8Array(zpad), ci, sid);
}

/** `G.calculate_generator(H, PRS, CI, sid)`: hash to 64 bytes, then element derivation. */
export function calculateGenerator(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Point {
  const hash = sha512(generatorString(prs, ci, sid));
  return ristretto255_hasher.deriveToCurve!(hash);
}

/**
 * `G.sample_scalar()`: 32 random bytes with the bits above bit 252 cleared,
 * read little-endian (so always below the group order). Zero is resampled.
 */
export function sampleScalar(): bigint {
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(ELEMENT_BYTES));
    bytes[ELEMENT_BYTES - 1] = bytes[ELEMENT_BYTES - 1]! & 0x0f;
    const scalar = bytesToNumberLE(bytes);
    if (scalar !== 0n) return scalar;
  }
}

/** Reads a 32-byte little-endian scalar, reduced modulo the group order. */
export function decodeScalar(bytes: Uint8Array): bigint {
  if (bytes.length !== ELEMENT_BYTES) {
    throw new RangeError(`Cannot use scalar: expected ${ELEMENT_BYTES} bytes, got ${bytes.length}`);
  }
  const scalar = bytesToNumberLE(bytes) % ORDER;
  if (scalar === 0n) throw new RangeError("Cannot use scalar: it is zero modulo the group order");
  return scalar;
}

/** `G.scalar_mult(y, g)`: the encoding of `y * g`. */
export function scalarMult(y: bigint, g: Point): Uint8Array {
  return g.multiply(y).toBytes();
}

/**
 * `G.scalar_mult_vfy(y, X)`: the encoding of `y * decode(X)`, or `G.I` when
 * `X` is not a valid encoding or the product is the neutral element.
 */
export function scalarMultVfy(y: bigint, x: Uint8Array): Uint8Array {
  let point: Point;
  try {
    point = Point.fromBytes(x);
  } catch {
    return IDENTITY.slice();
  }
  const product = point.multiply(y);
  return product.is0() ? IDENTITY.slice() : product.toBytes();
}

/** `ISK = H.hash(lv_cat(G.DSI || b"_ISK", sid, K) || transcript)`. */
export function intermediateSessionKey(
  sid: Uint8Array,
  k: Uint8Array,
  transcript: Uint8Array,
): Uint8Array<ArrayBuffer> {
  return sha512(concat([lvCat(DSI_ISK, sid, k), transcript]));
}

function bytesToNumberLE(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}
