import { equal } from "node:assert/strict";
import { bytesToHex as hex, hexToBytes } from "@noble/hashes/utils.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { type Aead, aeadBackend, createAead, libcryptoAead, nodeAead } from "./_aead.ts";
import { createAead as webAead } from "./_aead_web.ts";

// RFC 8439 §2.8.2.
const KEY = hexToBytes("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
const NONCE = hexToBytes("070000004041424344454647");
const AAD = hexToBytes("50515253c0c1c2c3c4c5c6c7");
const PLAINTEXT = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);
const CIPHERTEXT = "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6" +
  "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36" +
  "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc" +
  "3ff4def08e4b7a9de576d26586cec64b6116";
const TAG = "1ae10b594f09e26a7e902ecbd0600691";

const backends: [string, (key: Uint8Array) => Aead | null][] = [
  ["node:crypto", nodeAead],
  ["libcrypto", libcryptoAead],
  ["@noble/ciphers (the browser page's)", webAead],
];

Deno.test("createAead() uses libcrypto on Linux when FFI is allowed", () => {
  // CI runs the tests with -A on Linux, where OpenSSL 3 is installed: the
  // fast path must really be the one tested and benchmarked there.
  if (Deno.build.os === "linux") equal(aeadBackend(), "libcrypto");
  else equal(["libcrypto", "node:crypto"].includes(aeadBackend()), true);
});

/** Seals the RFC 8439 plaintext out of place: `[ciphertext, tag]`. */
function sealVector(aead: Aead): [Uint8Array, Uint8Array] {
  const sealed = new Uint8Array(PLAINTEXT.length);
  const tag = new Uint8Array(16);
  aead.seal(NONCE, AAD, PLAINTEXT, sealed, tag);
  return [sealed, tag];
}

for (const [name, make] of backends) {
  const available = make(KEY) !== null;

  Deno.test({
    name: `${name} passes the RFC 8439 §2.8.2 vector, in place and out of place`,
    ignore: !available,
    fn() {
      const aead = make(KEY)!;
      const [output, tag] = sealVector(aead);
      equal(hex(output), CIPHERTEXT);
      equal(hex(tag), TAG);
      const data = new Uint8Array(PLAINTEXT);
      aead.seal(NONCE, AAD, data, data, tag);
      equal(hex(data), CIPHERTEXT);
      equal(aead.open(NONCE, AAD, data, data, tag), true);
      equal(hex(data), hex(PLAINTEXT));
    },
  });

  Deno.test({
    name: `${name} matches @noble/ciphers on many sizes, offsets and nonces`,
    ignore: !available,
    fn() {
      const key = crypto.getRandomValues(new Uint8Array(32));
      const aead = make(key)!;
      const backing = new Uint8Array(70_100).map((_, i) => (i * 131 + 7) & 0xff);
      const sizes = [0, 1, 15, 16, 17, 63, 64, 65, 255, 4096, 65_537, 69_990];
      for (const [i, size] of sizes.entries()) {
        const nonce = crypto.getRandomValues(new Uint8Array(12));
        const aad = Uint8Array.of(i % 3);
        const input = backing.subarray(i, i + size);
        const expected = chacha20poly1305(key, nonce, aad).encrypt(input);
        const output = new Uint8Array(size + 16);
        aead.seal(nonce, aad, input, output.subarray(0, size), output.subarray(size));
        equal(hex(output), hex(expected), `size ${size}`);
        const opened = new Uint8Array(size);
        equal(aead.open(nonce, aad, output.subarray(0, size), opened, output.subarray(size)), true);
        equal(hex(opened), hex(input));
      }
    },
  });

  Deno.test({
    name: `${name} rejects a changed byte, tag, nonce or additional data`,
    ignore: !available,
    fn() {
      const aead = make(KEY)!;
      const [sealed, tag] = sealVector(aead);
      const opens = (n: Uint8Array, a: Uint8Array, c: Uint8Array, t: Uint8Array) =>
        aead.open(n, a, c, new Uint8Array(c.length), t);
      const flip = (bytes: Uint8Array, at: number) => {
        const copy = bytes.slice();
        copy[at]! ^= 0x80;
        return copy;
      };
      equal(opens(NONCE, AAD, sealed, tag), true);
      equal(opens(NONCE, AAD, flip(sealed, 40), tag), false);
      equal(opens(NONCE, AAD, sealed, flip(tag, 15)), false);
      equal(opens(flip(NONCE, 11), AAD, sealed, tag), false);
      equal(opens(NONCE, flip(AAD, 0), sealed, tag), false);
      // A failure leaves the context usable for the next record.
      equal(opens(NONCE, AAD, sealed, tag), true);
    },
  });
}

Deno.test("createAead() seals what nodeAead() opens, and the other way round", () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const fast = createAead(key);
  const portable = nodeAead(key);
  const nonce = new Uint8Array(12);
  const plaintext = crypto.getRandomValues(new Uint8Array(1 << 16));
  for (const [a, b] of [[fast, portable], [portable, fast]] as const) {
    const sealed = new Uint8Array(plaintext.length);
    const tag = new Uint8Array(16);
    a.seal(nonce, Uint8Array.of(0), plaintext, sealed, tag);
    equal(b.open(nonce, Uint8Array.of(0), sealed, sealed, tag), true);
    equal(hex(sealed), hex(plaintext));
  }
});
