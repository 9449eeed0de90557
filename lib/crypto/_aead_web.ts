/**
 * ChaCha20-Poly1305 for the browser page (web/): the same {@linkcode Aead}
 * as `_aead.ts`, from `@noble/ciphers` in plain JavaScript, since a browser
 * has neither FFI nor node:crypto (and WebCrypto has no ChaCha20-Poly1305).
 * The page's bundle (web/build.ts) puts this module in place of `_aead.ts`,
 * so the record layer above is the same code; the known-answer test in
 * `_aead_test.ts` runs against both.
 *
 * @module
 */

import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import type { Aead, AeadBackend as NativeBackend } from "./_aead.ts";

export type { Aead } from "./_aead.ts";

// As in _aead.ts (this module takes its place, so it cannot import them from there).
/** Bytes of a key. */
export const AEAD_KEY_BYTES = 32;
/** Bytes of a nonce. */
export const AEAD_NONCE_BYTES = 12;
/** Bytes of an authentication tag. */
export const AEAD_TAG_BYTES = 16;

/** Which implementation {@linkcode createAead} uses here. */
export type AeadBackend = NativeBackend | "@noble/ciphers";

/** The implementation {@linkcode createAead} picks here. */
export function aeadBackend(): AeadBackend {
  return "@noble/ciphers";
}

/** ChaCha20-Poly1305 under `key` (32 bytes), in JavaScript. */
export function createAead(key: Uint8Array): Aead {
  if (key.length !== AEAD_KEY_BYTES) {
    throw new TypeError(`Cannot use key: expected ${AEAD_KEY_BYTES} bytes`);
  }
  const ownKey = new Uint8Array(key);
  return {
    seal(nonce, aad, input, output, tag) {
      const sealed = chacha20poly1305(ownKey, nonce, aad).encrypt(input);
      output.set(sealed.subarray(0, input.length));
      tag.set(sealed.subarray(input.length));
    },
    open(nonce, aad, input, output, tag) {
      const joined = new Uint8Array(input.length + AEAD_TAG_BYTES);
      joined.set(input);
      joined.set(tag, input.length);
      let plaintext: Uint8Array;
      try {
        plaintext = chacha20poly1305(ownKey, nonce, aad).decrypt(joined);
      } catch {
        return false;
      }
      output.set(plaintext);
      return true;
    },
  };
}
