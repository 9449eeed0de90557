/**
 * ChaCha20-Poly1305 ([RFC 8439](https://www.rfc-editor.org/rfc/rfc8439))
 * under one key, from the fastest implementation this process can use:
 *
 * - **libcrypto** (OpenSSL 3) through FFI where it loads: its vectorised
 *   code seals 1 MiB in ~0.25 ms on these machines and works in place,
 *   without a copy.
 * - **node:crypto** everywhere else (no FFI permission, no OpenSSL 3, or a
 *   library that fails the known-answer check at load): ~1.1 ms per MiB,
 *   plus a copy, since it always returns a new buffer.
 *
 * Both produce the same bytes; the record layer does not care which runs.
 * The browser page's bundle puts `_aead_web.ts` (`@noble/ciphers`) in place
 * of this module (web/build.ts).
 * Loading never prompts for a permission.
 *
 * @module
 */

import { createCipheriv, createDecipheriv } from "node:crypto";
import { bytesToHex as hex, hexToBytes } from "@noble/hashes/utils.js";
import { ffiAllowed } from "../_ffi.ts";

/** Bytes of a key. */
export const AEAD_KEY_BYTES = 32;
/** Bytes of a nonce. */
export const AEAD_NONCE_BYTES = 12;
/** Bytes of an authentication tag. */
export const AEAD_TAG_BYTES = 16;

/** ChaCha20-Poly1305 under one key. */
export interface Aead {
  /**
   * Encrypts `input` into `output` (same length; the same memory works, a
   * partial overlap does not) and writes the tag into `tag`.
   */
  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    input: Uint8Array,
    output: Uint8Array,
    tag: Uint8Array,
  ): void;
  /**
   * Decrypts `input` into `output` (as for {@linkcode seal}) and checks
   * `tag`. Returns `false` if the tag does not verify; `output` then holds
   * bytes that must not be used.
   */
  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    input: Uint8Array,
    output: Uint8Array,
    tag: Uint8Array,
  ): boolean;
}

/** Which implementation {@linkcode createAead} uses in this process. */
export type AeadBackend = "libcrypto" | "node:crypto";

/** An {@linkcode Aead} from node:crypto, which works everywhere. */
export function nodeAead(key: Uint8Array): Aead {
  const ownKey = new Uint8Array(key);
  const options = { authTagLength: AEAD_TAG_BYTES } as const;
  return {
    seal(nonce, aad, input, output, tag) {
      const cipher = createCipheriv("chacha20-poly1305", ownKey, nonce, options);
      cipher.setAAD(aad, { plaintextLength: input.length });
      output.set(cipher.update(input));
      cipher.final();
      tag.set(cipher.getAuthTag());
    },
    open(nonce, aad, input, output, tag) {
      const decipher = createDecipheriv("chacha20-poly1305", ownKey, nonce, options);
      decipher.setAAD(aad, { plaintextLength: input.length });
      decipher.setAuthTag(tag);
      const plaintext = decipher.update(input);
      try {
        decipher.final();
      } catch {
        return false;
      }
      output.set(plaintext);
      return true;
    },
  };
}

const SYMBOLS = {
  EVP_chacha20_poly1305: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_CipherInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_CipherUpdate: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_CipherFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  EVP_CIPHER_CTX_ctrl: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
  ERR_clear_error: { parameters: [], result: "void" },
} as const;

type Libcrypto = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** `EVP_CTRL_AEAD_GET_TAG` and `EVP_CTRL_AEAD_SET_TAG` (openssl/evp.h). */
const GET_TAG = 0x10;
const SET_TAG = 0x11;

/** Where OpenSSL 3's libcrypto is found, per OS. */
const LIBRARY_PATHS: Partial<Record<typeof Deno.build.os, string[]>> = {
  linux: ["libcrypto.so.3"],
  // macOS' own /usr/lib/libcrypto refuses to be loaded; Homebrew's works.
  darwin: [
    "/opt/homebrew/opt/openssl@3/lib/libcrypto.3.dylib",
    "/usr/local/opt/openssl@3/lib/libcrypto.3.dylib",
  ],
};

/** Frees the OpenSSL context of an {@linkcode Aead} nobody holds any more. */
let contexts: FinalizationRegistry<Deno.PointerValue> | undefined;

function libcryptoAeadFrom(lib: Libcrypto, key: Uint8Array): Aead {
  if (key.length !== AEAD_KEY_BYTES) {
    throw new TypeError(`Cannot use key: expected ${AEAD_KEY_BYTES} bytes`);
  }
  const cipher = lib.EVP_chacha20_poly1305();
  // One context per direction of use: re-initialising it with the cipher and
  // key for every record would cost as much as a small record's cipher work.
  const make = (encrypt: 0 | 1) => {
    const ctx = lib.EVP_CIPHER_CTX_new();
    if (ctx === null) {
      throw new Error("Cannot set up ChaCha20-Poly1305: libcrypto allocated no context");
    }
    if (lib.EVP_CipherInit_ex(ctx, cipher, null, new Uint8Array(key), null, encrypt) !== 1) {
      lib.EVP_CIPHER_CTX_free(ctx);
      throw new Error("Cannot set up ChaCha20-Poly1305: libcrypto refused the key");
    }
    return ctx;
  };
  const encrypting = make(1);
  const decrypting = make(0);
  const length = new Int32Array(1);
  const scratch = new Uint8Array(AEAD_TAG_BYTES);
  const run = (
    ctx: Deno.PointerValue,
    encrypt: 0 | 1,
    nonce: Uint8Array,
    aad: Uint8Array,
    input: Uint8Array,
    output: Uint8Array,
  ): boolean => {
    if (output.length !== input.length) {
      throw new RangeError("Cannot run ChaCha20-Poly1305: output and input differ in length");
    }
    if (lib.EVP_CipherInit_ex(ctx, null, null, null, nonce, encrypt) !== 1) return false;
    if (aad.length > 0 && lib.EVP_CipherUpdate(ctx, null, length, aad, aad.length) !== 1) {
      return false;
    }
    return input.length === 0 ||
      lib.EVP_CipherUpdate(ctx, output, length, input, input.length) === 1;
  };
  const aead: Aead = {
    seal(nonce, aad, input, output, tag) {
      if (
        !run(encrypting, 1, nonce, aad, input, output) ||
        lib.EVP_CipherFinal_ex(encrypting, scratch, length) !== 1 ||
        lib.EVP_CIPHER_CTX_ctrl(encrypting, GET_TAG, AEAD_TAG_BYTES, tag) !== 1
      ) {
        lib.ERR_clear_error();
        throw new Error("Cannot seal record: libcrypto failed");
      }
    },
    open(nonce, aad, input, output, tag) {
      const ok = run(decrypting, 0, nonce, aad, input, output) &&
        lib.EVP_CIPHER_CTX_ctrl(decrypting, SET_TAG, AEAD_TAG_BYTES, tag) === 1 &&
        lib.EVP_CipherFinal_ex(decrypting, scratch, length) === 1;
      if (!ok) lib.ERR_clear_error();
      return ok;
    },
  };
  contexts ??= new FinalizationRegistry((ctx) => lib.EVP_CIPHER_CTX_free(ctx));
  contexts.register(aead, encrypting);
  contexts.register(aead, decrypting);
  return aead;
}

/** RFC 8439 §2.8.2: the AEAD vector the library must reproduce before it is used. */
const VECTOR = {
  key: "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
  nonce: "070000004041424344454647",
  aad: "50515253c0c1c2c3c4c5c6c7",
  plaintext: "Ladies and Gentlemen of the class of '99: If I could offer you only one tip " +
    "for the future, sunscreen would be it.",
  ciphertextStart: "d31a8d34648e60db7b86afbc53ef7ec2",
  tag: "1ae10b594f09e26a7e902ecbd0600691",
};

/** Whether `make` seals and opens the RFC 8439 vector correctly, in place too. */
function passesVector(make: (key: Uint8Array) => Aead): boolean {
  const aead = make(hexToBytes(VECTOR.key));
  const nonce = hexToBytes(VECTOR.nonce);
  const aad = hexToBytes(VECTOR.aad);
  const plaintext = new TextEncoder().encode(VECTOR.plaintext);
  const data = new Uint8Array(plaintext);
  const tag = new Uint8Array(AEAD_TAG_BYTES);
  aead.seal(nonce, aad, data, data, tag);
  if (!hex(data).startsWith(VECTOR.ciphertextStart) || hex(tag) !== VECTOR.tag) return false;
  if (!aead.open(nonce, aad, data, data, tag)) return false;
  if (hex(data) !== hex(plaintext)) return false;
  tag[0]! ^= 1;
  return !aead.open(nonce, aad, data.slice(), new Uint8Array(data.length), tag);
}

let library: Libcrypto | null | undefined;

/**
 * OpenSSL 3's libcrypto, or `null` where it cannot be used: no FFI
 * permission (never prompts), no library, or one that fails RFC 8439's
 * vector. Tried once per process.
 */
export function openLibcrypto(): Libcrypto | null {
  if (library !== undefined) return library;
  library = null;
  const paths = LIBRARY_PATHS[Deno.build.os];
  if (paths === undefined || !ffiAllowed()) return null;
  for (const path of paths) {
    try {
      const symbols = Deno.dlopen(path, SYMBOLS).symbols;
      if (passesVector((key) => libcryptoAeadFrom(symbols, key))) return library = symbols;
    } catch {
      // Not there, or not OpenSSL 3: try the next path.
    }
  }
  return null;
}

/** An {@linkcode Aead} from libcrypto, or `null` where {@linkcode openLibcrypto} finds none. */
export function libcryptoAead(key: Uint8Array): Aead | null {
  const lib = openLibcrypto();
  return lib === null ? null : libcryptoAeadFrom(lib, key);
}

/** The implementation {@linkcode createAead} picks here. */
export function aeadBackend(): AeadBackend {
  return openLibcrypto() === null ? "node:crypto" : "libcrypto";
}

/** ChaCha20-Poly1305 under `key` (32 bytes), from the fastest implementation available. */
export function createAead(key: Uint8Array): Aead {
  return libcryptoAead(key) ?? nodeAead(key);
}
