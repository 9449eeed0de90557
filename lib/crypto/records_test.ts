import { deepEqual, equal, throws } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createCipheriv, createDecipheriv } from "node:crypto";
import { bytesToHex as hex, hexToBytes } from "@noble/hashes/utils.js";
import { chacha20poly1305 } from "npm:@noble/ciphers@2.4.0/chacha.js";
import {
  RECORD_MAX_PLAINTEXT,
  RECORD_OVERHEAD,
  RecordError,
  type RecordErrorCode,
  RecordOpener,
  RecordSealer,
} from "./records.ts";

// Known-answer vector, checked below against @noble/ciphers' ChaCha20-Poly1305.
const KEY = hexToBytes("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
const FRAME_0 = "0070dd2e5dc204f1de8025740068a11d6392abbab151"; // "hello", record 0
const FRAME_1 = "00192912ba5922686eeb1463f03b1260e2a4f4f8f42b"; // "punch", record 1
const FRAME_FINAL = "0123b2f3f709a6d9aa310dbc6b84f70a83"; // final, record 2

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();

function vectorFrames(): Uint8Array[] {
  return [FRAME_0, FRAME_1, FRAME_FINAL].map(hexToBytes);
}

function throwsWith(fn: () => unknown, code: RecordErrorCode, message?: RegExp) {
  throws(fn, (error) => {
    equal(error instanceof RecordError, true);
    equal((error as RecordError).name, "RecordError");
    equal((error as RecordError).code, code);
    if (message) equal(message.test((error as RecordError).message), true);
    return true;
  });
}

/** Whether two views share any memory. */
function shareMemory(a: Uint8Array, b: Uint8Array): boolean {
  return a.buffer === b.buffer;
}

Deno.test("node:crypto chacha20-poly1305 passes the RFC 8439 §2.8.2 AEAD vector", () => {
  const key = hexToBytes("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const nonce = hexToBytes("070000004041424344454647");
  const aad = hexToBytes("50515253c0c1c2c3c4c5c6c7");
  const plaintext = ENCODER.encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );
  const ciphertext = "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6" +
    "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36" +
    "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc" +
    "3ff4def08e4b7a9de576d26586cec64b6116";
  const tag = "1ae10b594f09e26a7e902ecbd0600691";

  const cipher = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  equal(hex(cipher.update(plaintext)) + hex(cipher.final()), ciphertext);
  equal(hex(cipher.getAuthTag()), tag);

  const decipher = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
  decipher.setAAD(aad, { plaintextLength: plaintext.length });
  decipher.setAuthTag(hexToBytes(tag));
  equal(hex(decipher.update(hexToBytes(ciphertext))) + hex(decipher.final()), hex(plaintext));

  const forged = hexToBytes(tag);
  forged[0] = forged[0]! ^ 1;
  const rejecting = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
  rejecting.setAAD(aad, { plaintextLength: plaintext.length });
  rejecting.setAuthTag(forged);
  rejecting.update(hexToBytes(ciphertext));
  throws(() => rejecting.final());
});

Deno.test("RecordSealer frames match an independent ChaCha20-Poly1305", () => {
  const records: [number, number, string][] = [
    [0x00, 0, "hello"],
    [0x00, 1, "punch"],
    [0x01, 2, ""],
  ];
  const expected = records.map(([flag, sequence, text]) => {
    const nonce = new Uint8Array(12);
    new DataView(nonce.buffer).setBigUint64(4, BigInt(sequence));
    const sealed = chacha20poly1305(KEY, nonce, new Uint8Array([flag])).encrypt(
      ENCODER.encode(text),
    );
    return hex(new Uint8Array([flag])) + hex(sealed);
  });
  equal(expected.join(), [FRAME_0, FRAME_1, FRAME_FINAL].join());
});

Deno.test("RecordSealer.seal() matches the known-answer frames", () => {
  const sealer = new RecordSealer(KEY);
  equal(hex(sealer.seal(ENCODER.encode("hello"))), FRAME_0);
  equal(hex(sealer.seal(ENCODER.encode("punch"))), FRAME_1);
  equal(hex(sealer.sealFinal()), FRAME_FINAL);
});

Deno.test("RecordSealer.seal() returns a plain Uint8Array that does not alias the plaintext", () => {
  const sealer = new RecordSealer(KEY);
  const buffer = ENCODER.encode("hello");
  const frame = sealer.seal(buffer);
  equal(Object.getPrototypeOf(frame), Uint8Array.prototype);
  equal(frame.byteOffset, 0);
  equal(frame.byteLength, frame.buffer.byteLength);
  equal(shareMemory(frame, buffer), false);
  buffer.fill(0);
  equal(hex(frame), FRAME_0);
  // A pooled node Buffer and an offset view of a larger buffer seal the same way.
  const pooled = Buffer.from("punch");
  const inner = new Uint8Array(64);
  inner.set(ENCODER.encode("punch"), 20);
  equal(hex(new RecordSealer(KEY).seal(ENCODER.encode("hello"))), FRAME_0);
  const a = new RecordSealer(KEY);
  a.seal(ENCODER.encode("hello"));
  equal(hex(a.seal(pooled)), FRAME_1);
  const b = new RecordSealer(KEY);
  b.seal(ENCODER.encode("hello"));
  equal(hex(b.seal(inner.subarray(20, 25))), FRAME_1);
});

Deno.test("RecordOpener.open() opens the known-answer frames", () => {
  const opener = new RecordOpener(KEY);
  const [a, b, final] = vectorFrames();
  equal(DECODER.decode(opener.open(a!)!), "hello");
  equal(opener.finished, false);
  equal(DECODER.decode(opener.open(b!)!), "punch");
  equal(opener.open(final!), null);
  equal(opener.finished, true);
  opener.end();
});

Deno.test("RecordOpener.open() decrypts in place and returns a plain Uint8Array view", () => {
  const opener = new RecordOpener(KEY);
  const received = new Uint8Array(100);
  received.set(hexToBytes(FRAME_0), 30);
  const frame = received.subarray(30, 30 + FRAME_0.length / 2);
  const plaintext = opener.open(frame)!;
  equal(Object.getPrototypeOf(plaintext), Uint8Array.prototype);
  equal(plaintext.buffer, received.buffer);
  equal(plaintext.byteOffset, 31);
  equal(DECODER.decode(plaintext), "hello");
  equal(DECODER.decode(received.subarray(31, 36)), "hello");
  equal(DECODER.decode(opener.open(Buffer.from(hexToBytes(FRAME_1)))!), "punch");
});

Deno.test("RecordOpener round-trips empty, largest and offset records", () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const sealer = new RecordSealer(key);
  const opener = new RecordOpener(key);
  const big = new Uint8Array(RECORD_MAX_PLAINTEXT);
  for (let i = 0; i < big.length; i += 65_536) crypto.getRandomValues(big.subarray(i, i + 65_536));
  const plaintexts = [new Uint8Array(), big, ENCODER.encode("x"), big.subarray(7, 70_007)];
  const frames = [...plaintexts.map((p) => sealer.seal(p)), sealer.sealFinal()];
  equal(frames[0]!.length, RECORD_OVERHEAD);
  equal(frames[1]!.length, RECORD_MAX_PLAINTEXT + RECORD_OVERHEAD);
  const opened = frames.map((frame) => opener.open(frame));
  for (const [i, plaintext] of plaintexts.entries()) equal(hex(opened[i]!), hex(plaintext));
  equal(opened[4], null);
  opener.end();
});

Deno.test("RecordSealer and RecordOpener copy the key", () => {
  const key = KEY.slice();
  const sealer = new RecordSealer(key);
  const opener = new RecordOpener(key);
  key.fill(0);
  const frame = sealer.seal(ENCODER.encode("hello"));
  equal(hex(frame), FRAME_0);
  equal(DECODER.decode(opener.open(frame)!), "hello");
});

Deno.test("RecordOpener.open() rejects a tampered byte", () => {
  for (const index of [1, 5, 6, 21]) {
    const opener = new RecordOpener(KEY);
    const frame = vectorFrames()[0]!;
    frame[index] = frame[index]! ^ 0x01;
    throwsWith(
      () => opener.open(frame),
      "tampered",
      /^Cannot open record 0: authentication failed \(tampered, reordered or wrong key\)$/,
    );
  }
});

Deno.test("RecordOpener.open() rejects reordered records", () => {
  const opener = new RecordOpener(KEY);
  throwsWith(() => opener.open(vectorFrames()[1]!), "tampered", /^Cannot open record 0: /);
});

Deno.test("RecordOpener.open() rejects a dropped record", () => {
  const opener = new RecordOpener(KEY);
  const [a, , final] = vectorFrames();
  opener.open(a!);
  throwsWith(() => opener.open(final!), "tampered", /^Cannot open record 1: /);
});

Deno.test("RecordOpener.open() rejects a replayed record", () => {
  const opener = new RecordOpener(KEY);
  const [a] = vectorFrames();
  opener.open(a!);
  throwsWith(() => opener.open(a!), "tampered");
});

Deno.test("RecordOpener.open() rejects a flipped flag", () => {
  const [a, , final] = vectorFrames();
  a![0] = 0x01;
  throwsWith(() => new RecordOpener(KEY).open(a!), "tampered");
  const opener = new RecordOpener(KEY);
  opener.open(vectorFrames()[0]!);
  opener.open(vectorFrames()[1]!);
  final![0] = 0x00;
  throwsWith(() => opener.open(final!), "tampered");
  equal(opener.finished, false);
  throws(() => opener.end(), { name: "RecordError", code: "truncated" });
});

Deno.test("RecordOpener.open() rejects a frame with the wrong key", () => {
  const opener = new RecordOpener(new Uint8Array(32));
  throwsWith(() => opener.open(vectorFrames()[0]!), "tampered");
});

Deno.test("RecordOpener.end() rejects a truncated stream", () => {
  const opener = new RecordOpener(KEY);
  throws(() => opener.end(), { name: "RecordError", code: "truncated" });
  const [a, b] = vectorFrames();
  opener.open(a!);
  opener.open(b!);
  throws(() => opener.end(), {
    name: "RecordError",
    code: "truncated",
    message: "Cannot end record stream: it stopped after 2 records without the final record",
  });
});

Deno.test("RecordOpener.open() rejects a record after the final record", () => {
  const sealer = new RecordSealer(KEY);
  const opener = new RecordOpener(KEY);
  opener.open(sealer.sealFinal());
  throwsWith(
    () => opener.open(vectorFrames()[1]!),
    "after_final",
    /^Cannot open record 1: it comes after the final record$/,
  );
});

Deno.test("RecordSealer rejects sealing after the final record", () => {
  const sealer = new RecordSealer(KEY);
  sealer.sealFinal();
  throwsWith(
    () => sealer.seal(new Uint8Array(1)),
    "after_final",
    /^Cannot seal record 1: the final record was already sealed$/,
  );
  throwsWith(() => sealer.sealFinal(), "after_final");
});

Deno.test("RecordOpener.open() rejects an oversize frame", () => {
  const opener = new RecordOpener(KEY);
  const frame = new Uint8Array(RECORD_MAX_PLAINTEXT + RECORD_OVERHEAD + 1);
  throwsWith(() => opener.open(frame), "too_large", /the maximum is 1049617$/);
});

Deno.test("RecordSealer.seal() rejects an oversize plaintext", () => {
  const sealer = new RecordSealer(KEY);
  throws(() => sealer.seal(new Uint8Array(RECORD_MAX_PLAINTEXT + 1)), RangeError);
  // The rejected call used no sequence number.
  equal(hex(sealer.seal(ENCODER.encode("hello"))), FRAME_0);
});

Deno.test("RecordOpener.open() rejects malformed frames", () => {
  throwsWith(
    () => new RecordOpener(KEY).open(new Uint8Array(16)),
    "malformed",
    /the minimum is 17$/,
  );
  const flag = vectorFrames()[0]!;
  flag[0] = 0x03;
  throwsWith(() => new RecordOpener(KEY).open(flag), "malformed", /flag 0x03$/);
  // A final record that authenticates but carries data.
  const nonce = new Uint8Array(12);
  const sealed = chacha20poly1305(KEY, nonce, new Uint8Array([1])).encrypt(new Uint8Array([7]));
  const final = new Uint8Array([0x01, ...sealed]);
  throwsWith(
    () => new RecordOpener(KEY).open(final),
    "malformed",
    /^Cannot open record 0: the final record is not empty$/,
  );
});

Deno.test("RecordOpener.open() refuses every frame after an error", () => {
  const opener = new RecordOpener(KEY);
  const [a, b, final] = vectorFrames();
  a![5] = a![5]! ^ 0xff;
  throwsWith(() => opener.open(a!), "tampered");
  throwsWith(() => opener.open(b!), "tampered", /an earlier record was rejected$/);
  throwsWith(() => opener.open(final!), "tampered");
  const short = new RecordOpener(KEY);
  throwsWith(() => short.open(new Uint8Array(3)), "malformed");
  throwsWith(() => short.open(vectorFrames()[0]!), "malformed", /an earlier record was rejected$/);
});

Deno.test("RecordSealer and RecordOpener reject a key that is not 32 bytes", () => {
  for (
    const key of [new Uint8Array(16), new Uint8Array(31), new Uint8Array(33), new Uint8Array()]
  ) {
    throws(() => new RecordSealer(key), TypeError);
    throws(() => new RecordOpener(key), TypeError);
  }
  // @ts-expect-error: testing a key of the wrong type
  throws(() => new RecordSealer([...KEY]), TypeError);
});

Deno.test("RecordSealer.seal() and RecordOpener.open() reject non-byte input", () => {
  // @ts-expect-error: testing a plaintext of the wrong type
  throws(() => new RecordSealer(KEY).seal("hello"), TypeError);
  // @ts-expect-error: testing a frame of the wrong type
  throws(() => new RecordOpener(KEY).open([0]), TypeError);
});

Deno.test("sealFinal() marks a stream that moved, authenticated like the end", () => {
  const key = new Uint8Array(32).fill(9);
  const sealer = new RecordSealer(key);
  const opener = new RecordOpener(key);
  const data = sealer.seal(Uint8Array.of(1));
  const dataAgain = data.slice(); // open() decrypts in place
  const moved = sealer.sealFinal("moved");
  equal(moved[0], 0x02);
  deepEqual(opener.open(data), Uint8Array.of(1));
  equal(opener.ending, undefined);
  equal(opener.open(moved), null);
  equal(opener.ending, "moved");
  opener.end();
  // A moved marker turned into an end (or back) fails authentication.
  const again = new RecordOpener(key);
  again.open(dataAgain);
  const flipped = moved.slice();
  flipped[0] = 0x01;
  throws(() => again.open(flipped), (e) => e instanceof RecordError && e.code === "tampered");
});
