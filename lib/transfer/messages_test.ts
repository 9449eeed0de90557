import { deepEqual, equal, throws } from "node:assert/strict";
import {
  allocateData,
  decodeMessage,
  encodeMessage,
  TransferError,
  type TransferMsg,
} from "./messages.ts";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const VECTORS: [string, Exclude<TransferMsg, { type: "data" }>, string][] = [
  ["offer", { type: "offer", more: false, piece: Uint8Array.of(0x7b, 0x7d) }, "01007b7d"],
  [
    "answer",
    { type: "answer", accept: true },
    "02" + hex(new TextEncoder().encode('{"accept":true}')),
  ],
  [
    "file_end",
    { type: "file_end", index: 2, digest: new Uint8Array(32).fill(0xab) },
    "0400000002" + "ab".repeat(32),
  ],
  [
    "stream_end",
    { type: "stream_end", index: 0, size: 268435456, digest: new Uint8Array(32).fill(0x5e) },
    "0e00000000" + "0000000010000000" + "5e".repeat(32),
  ],
  ["done", { type: "done" }, "06"],
  [
    "answer with have",
    { type: "answer", accept: true, have: 2 },
    "02" + hex(new TextEncoder().encode('{"accept":true,"have":2}')),
  ],
  [
    "have",
    { type: "have", entries: [{ index: 1, bytes: 2097152 }, { index: 3, bytes: 0 }] },
    "09" + "00000001" + "0000000000200000" + "00000003" + "0000000000000000",
  ],
  [
    "check",
    {
      type: "check",
      entries: [
        { index: 1, sha256: new Uint8Array(32).fill(0xcd) },
        { index: 3, sha256: new Uint8Array(32).fill(0xef) },
      ],
    },
    "0a" + "00000001" + "cd".repeat(32) + "00000003" + "ef".repeat(32),
  ],
  [
    "resume",
    { type: "resume", entries: [{ index: 1, offset: 2097152 }, { index: 3, offset: 0 }] },
    "0b" + "00000001" + "0000000000200000" + "00000003" + "0000000000000000",
  ],
];

for (const [name, msg, expected] of VECTORS) {
  Deno.test(`encodeMessage() pins the bytes of ${name}`, () => {
    const bytes = encodeMessage(msg);
    equal(hex(bytes), expected);
    deepEqual(decodeMessage(bytes), msg);
  });
}

Deno.test("allocateData() writes the header of a data message", () => {
  const bytes = allocateData(1, 65536, 3);
  bytes.set([0xaa, 0xbb, 0xcc], 13);
  equal(hex(bytes), "03" + "00000001" + "0000000000010000" + "aabbcc");
  const msg = decodeMessage(bytes);
  equal(msg.type, "data");
  if (msg.type === "data") {
    equal(msg.index, 1);
    equal(msg.offset, 65536);
    deepEqual(msg.bytes, Uint8Array.of(0xaa, 0xbb, 0xcc));
  }
});

Deno.test("decodeMessage() rejects garbage with a protocol error", () => {
  for (
    const bad of [
      new Uint8Array(),
      Uint8Array.of(0x99),
      Uint8Array.of(0x03, 0, 0),
      Uint8Array.of(0x04, 0, 0, 0, 1),
      Uint8Array.of(0x05, 0),
      Uint8Array.of(0x06, 0),
      Uint8Array.of(0x0c, 0),
      Uint8Array.of(0x0d, 0),
      Uint8Array.of(0x01),
      Uint8Array.of(0x01, 7),
      Uint8Array.of(0x02, 0x7b),
      Uint8Array.of(0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
      Uint8Array.of(0x09),
      new Uint8Array(12).fill(0x09, 0, 1), // a have entry one byte short
      Uint8Array.of(0x0a),
      new Uint8Array(36).fill(0x0a, 0, 1), // a check entry one byte short
      Uint8Array.of(0x0b, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0), // a resume entry one byte short
      new TextEncoder().encode('\x02{"accept":true,"window":1,"have":-1}'),
      new Uint8Array(1 + 12 * 16385).fill(0x0b, 0, 1), // more resume entries than a piece holds
      new Uint8Array(44).fill(0x0e, 0, 1), // a stream_end one byte short
      Uint8Array.of(0x0e, 0, 0, 0, 0, 0xff, ...new Array(39).fill(0)), // a length past 2^53-1
    ]
  ) {
    throws(() => decodeMessage(bad), (e) => e instanceof TransferError && e.code === "protocol");
  }
});

Deno.test("decodeMessage() bounds the text of a peer's error", () => {
  const bytes = encodeMessage({ type: "error", error: "io", message: "x".repeat(5000) });
  const msg = decodeMessage(bytes);
  equal(msg.type === "error" && msg.message.length, 1000);
});

Deno.test("decodeMessage() refuses protocol 1's credit, hashing and deciding, retired", () => {
  for (const type of [0x05, 0x0c, 0x0d]) {
    throws(() => decodeMessage(Uint8Array.of(type)), /unknown type/);
  }
});
