import { deepEqual, equal, throws } from "node:assert/strict";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex as hex, hexToBytes } from "@noble/hashes/utils.js";
import { chacha20poly1305 } from "npm:@noble/ciphers@2.4.0/chacha.js";
import { allocateMessage, recordAround } from "../link/room.ts";
import { RecordError } from "./records.ts";
import { KIND_CONTROL, KIND_MESSAGE, RecordSeal, RecordUnseal } from "./sealing.ts";

// The ISK of the documented session for the code 4812-violet-harbor (crypto.md, 5.2).
const ISK = hexToBytes(
  "87c4ac20f4a6621602b5fcb844d3dd49da23429a890158b88e0025b1724441262f7a2c36278beb55ee79ae20a2aeafb1ad0dfb6c40f0e0c13ddaf0712849c73a",
);
const ENCODER = new TextEncoder();
const key = (purpose: string) => hkdf(sha256, ISK, new Uint8Array(), ENCODER.encode(purpose), 32);
const TO_RECEIVER = key("punch/v2 sender-to-receiver");
const TO_SENDER = key("punch/v2 receiver-to-sender");

// docs/protocol/connection.md, "Vectors".
const KEY_TO_RECEIVER = "a81de323ca8adb0f19e2e3ba2a3a5ed25cd38bb2e186ec887fbfce6e476c7bb3";
const KEY_TO_SENDER = "079ec737303f6ef97b30d706267871112f1305bc4f2f1950a50878f685bffedb";
const MESSAGE_0_HELLO = "100000000000000000c4afd88a252895681dc11922e0dde3a7c66d5f1e89";
const MESSAGE_1_END = "10000000000000000130862e96ddf38a5a2d26bbda02702f61";
const CONTROL_0_ACK_1_RELAY =
  "110000000000000000a7fad4f68f11bb3304b32b72247a325c7ae9b601e45ffe93eb";
const CONTROL_1_PING_CARRIER_3 = "11000000000000000169add26f46a3206eceae3ce0fe3f4e6514";

function message(text: string): Uint8Array {
  const plaintext = allocateMessage(text.length);
  plaintext.set(ENCODER.encode(text));
  return recordAround(plaintext)!;
}

/** The same record from an independent ChaCha20-Poly1305 and the documented nonce and AD. */
function reference(
  k: Uint8Array,
  kind: number,
  n: number,
  plaintext: Uint8Array,
  carrier?: number,
) {
  const header = new Uint8Array(9);
  header[0] = kind;
  new DataView(header.buffer).setBigUint64(1, BigInt(n));
  const nonce = new Uint8Array(12);
  nonce[0] = kind;
  nonce.set(header.subarray(1), 4);
  const ad = new Uint8Array(carrier === undefined ? 9 : 13);
  ad.set(header);
  if (carrier !== undefined) new DataView(ad.buffer).setUint32(9, carrier);
  return hex(header) + hex(chacha20poly1305(k, nonce, ad).encrypt(plaintext));
}

Deno.test("RecordSeal seals the documented vectors, as an independent ChaCha20-Poly1305 does", () => {
  equal(hex(TO_RECEIVER), KEY_TO_RECEIVER);
  equal(hex(TO_SENDER), KEY_TO_SENDER);
  const sender = new RecordSeal(TO_RECEIVER);
  equal(hex(sender.message(0, message("hello"))), MESSAGE_0_HELLO);
  equal(hex(sender.message(1, message(""))), MESSAGE_1_END);
  equal(MESSAGE_0_HELLO, reference(TO_RECEIVER, KIND_MESSAGE, 0, ENCODER.encode("hello")));
  const receiver = new RecordSeal(TO_SENDER);
  equal(hex(receiver.control(Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 1), 0)), CONTROL_0_ACK_1_RELAY);
  equal(hex(receiver.control(Uint8Array.of(3), 3)), CONTROL_1_PING_CARRIER_3);
  equal(CONTROL_1_PING_CARRIER_3, reference(TO_SENDER, KIND_CONTROL, 1, Uint8Array.of(3), 3));
});

Deno.test("RecordUnseal opens a message on any carrier, a control record only on its own", () => {
  const unseal = new RecordUnseal(TO_RECEIVER);
  for (const carrier of [0, 5]) {
    const opened = unseal.open(hexToBytes(MESSAGE_0_HELLO) as Uint8Array<ArrayBuffer>, carrier);
    deepEqual({ kind: opened.kind, number: opened.number }, { kind: KIND_MESSAGE, number: 0 });
    equal(new TextDecoder().decode(opened.plaintext), "hello");
  }
  const fromSender = new RecordUnseal(TO_SENDER);
  equal(
    fromSender.open(hexToBytes(CONTROL_1_PING_CARRIER_3) as Uint8Array<ArrayBuffer>, 3).number,
    1,
  );
  throws(
    () => fromSender.open(hexToBytes(CONTROL_1_PING_CARRIER_3) as Uint8Array<ArrayBuffer>, 0),
    (error: unknown) => error instanceof RecordError && error.code === "tampered",
  );
});

Deno.test("RecordUnseal refuses altered, short, protocol 1 and unknown records", () => {
  const unseal = new RecordUnseal(TO_RECEIVER);
  const code = (bytes: Uint8Array) => {
    try {
      unseal.open(bytes as Uint8Array<ArrayBuffer>, 0);
      return "opened";
    } catch (error) {
      return error instanceof RecordError ? error.code : String(error);
    }
  };
  const altered = hexToBytes(MESSAGE_0_HELLO);
  altered[10]! ^= 1;
  equal(code(altered), "tampered");
  const renumbered = hexToBytes(MESSAGE_0_HELLO);
  renumbered[8] = 1;
  equal(code(renumbered), "tampered");
  equal(code(new Uint8Array(24)), "malformed");
  equal(code(Uint8Array.of(0x00, ...new Uint8Array(30))), "malformed");
  equal(code(Uint8Array.of(0x12, ...new Uint8Array(30))), "malformed");
});
