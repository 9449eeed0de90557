import { equal, notEqual, rejects, throws } from "node:assert/strict";
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex as hex, hexToBytes } from "@noble/hashes/utils.js";
import { chacha20poly1305 } from "npm:@noble/ciphers@2.4.0/chacha.js";
import { startCPace } from "./cpace.ts";
import { deriveSessionKeys } from "./keys.ts";
import { RecordOpener, RecordSealer } from "./records.ts";

// The ISK of the documented session for the code 4812-violet-harbor (see cpace_test.ts).
const ISK = hexToBytes(
  "87c4ac20f4a6621602b5fcb844d3dd49da23429a890158b88e0025b1724441262f7a2c36278beb55ee79ae20a2aeafb1ad0dfb6c40f0e0c13ddaf0712849c73a",
);
const KEY_SENDER_TO_RECEIVER = "e50279b00c4a13a95d3343040f93fa8a67f262476b7ca363401de79e441e2eb4";
const KEY_RECEIVER_TO_SENDER = "44f41bef03d1ebff3f0e9c0e1c78975121f72477b2cff35b947220905a61690a";
const KEY_CONFIRM_SENDER = "82ef66782746dc5f5a9e090f2db8ea4865e4c2f63a488939f846774a6291160d";
const KEY_CONFIRM_RECEIVER = "7d60287d24693d03a34f41d172f41ca1d0bb12b6b2c768e4e9a836f3d693059f";
const TAG_SENDER = "fbbb11c41ac2be988e4941fe820333bd737623465ea0e837a1c2be7a68f013ac";
const TAG_RECEIVER = "125277e21434d6bd3f3f90020c34e9bbbd6dbb4ea4498ccc1416ddc6dede8160";
const EXAMPLE_BYTES = "48c7adbecb756adcba8a2d0ff6bf47d0827aea36b53db087fe0bfeed5aed3ecc";
// Record 0 with plaintext "hello" in each direction, checked against @noble/ciphers below.
const FRAME_SENDER = "0053c6ceaee6f56a3c4dec56d2c162e5058098c24f99";
const FRAME_RECEIVER = "00cdfdd6215e143e846d5b5a584a0e1cd98592de94af";

const ENCODER = new TextEncoder();
const HELLO = ENCODER.encode("hello");
/** The additional data of a data record: its flag byte. */
const ZERO = new Uint8Array([0x00]);

function referenceHkdf(purpose: string, length = 32): string {
  return hex(hkdf(sha256, ISK, new Uint8Array(), ENCODER.encode(purpose), length));
}

Deno.test("deriveSessionKeys() key schedule matches an independent HKDF", () => {
  equal(referenceHkdf("punch/v1 record sender-to-receiver"), KEY_SENDER_TO_RECEIVER);
  equal(referenceHkdf("punch/v1 record receiver-to-sender"), KEY_RECEIVER_TO_SENDER);
  equal(referenceHkdf("punch/v1 confirm sender"), KEY_CONFIRM_SENDER);
  equal(referenceHkdf("punch/v1 confirm receiver"), KEY_CONFIRM_RECEIVER);
  const label = ENCODER.encode("punch/v1 key confirmation");
  equal(hex(hmac(sha256, hexToBytes(KEY_CONFIRM_SENDER), label)), TAG_SENDER);
  equal(hex(hmac(sha256, hexToBytes(KEY_CONFIRM_RECEIVER), label)), TAG_RECEIVER);
});

Deno.test("deriveSessionKeys() gives the known-answer confirmation tags", async () => {
  const sender = await deriveSessionKeys(ISK, "sender");
  const receiver = await deriveSessionKeys(ISK, "receiver");
  equal(hex(sender.confirmation), TAG_SENDER);
  equal(hex(receiver.confirmation), TAG_RECEIVER);
  equal(receiver.verifyPeerConfirmation(sender.confirmation), true);
  equal(sender.verifyPeerConfirmation(receiver.confirmation), true);
});

Deno.test("deriveSessionKeys() gives the known-answer record keys", async () => {
  const sender = await deriveSessionKeys(ISK, "sender");
  const receiver = await deriveSessionKeys(ISK, "receiver");
  equal(hex(sender.send), KEY_SENDER_TO_RECEIVER);
  equal(hex(sender.receive), KEY_RECEIVER_TO_SENDER);
  equal(hex(receiver.send), KEY_RECEIVER_TO_SENDER);
  equal(hex(receiver.receive), KEY_SENDER_TO_RECEIVER);
});

Deno.test("deriveSessionKeys() record keys seal the known-answer frames", async () => {
  const sender = await deriveSessionKeys(ISK, "sender");
  const receiver = await deriveSessionKeys(ISK, "receiver");
  equal(hex(new RecordSealer(sender.send).seal(HELLO)), FRAME_SENDER);
  equal(hex(new RecordSealer(receiver.send).seal(HELLO)), FRAME_RECEIVER);
  const frame = chacha20poly1305(hexToBytes(KEY_SENDER_TO_RECEIVER), new Uint8Array(12), ZERO)
    .encrypt(HELLO);
  equal("00" + hex(frame), FRAME_SENDER);
  const back = chacha20poly1305(hexToBytes(KEY_RECEIVER_TO_SENDER), new Uint8Array(12), ZERO)
    .encrypt(HELLO);
  equal("00" + hex(back), FRAME_RECEIVER);
});

Deno.test("deriveSessionKeys() pairs each side's send key with the other's receive key", async () => {
  const isk = crypto.getRandomValues(new Uint8Array(64));
  const sender = await deriveSessionKeys(isk, "sender");
  const receiver = await deriveSessionKeys(isk, "receiver");
  const toReceiver = new RecordSealer(sender.send).seal(HELLO);
  equal(hex(new RecordOpener(receiver.receive).open(toReceiver)!), hex(HELLO));
  const toSender = new RecordSealer(receiver.send).seal(HELLO);
  equal(hex(new RecordOpener(sender.receive).open(toSender)!), hex(HELLO));
  notEqual(hex(toReceiver), hex(toSender));
  throws(() => new RecordOpener(sender.receive).open(toReceiver), { code: "tampered" });
});

Deno.test("deriveSessionKeys() makes both confirmations fail for different ISKs", async () => {
  const other = ISK.slice();
  other[0] = other[0]! ^ 1;
  const sender = await deriveSessionKeys(ISK, "sender");
  const receiver = await deriveSessionKeys(other, "receiver");
  equal(receiver.verifyPeerConfirmation(sender.confirmation), false);
  equal(sender.verifyPeerConfirmation(receiver.confirmation), false);
});

Deno.test("deriveSessionKeys() confirmations fail both ways after CPace with a wrong code", async () => {
  const channelId = ENCODER.encode("punch/v1 4812");
  const sessionId = crypto.getRandomValues(new Uint8Array(16));
  const a = startCPace("initiator", {
    password: ENCODER.encode("4812-violet-harbor"),
    channelId,
    sessionId,
  });
  const b = startCPace("responder", {
    password: ENCODER.encode("4812-violet-harpoon"),
    channelId,
    sessionId,
  });
  const sender = await deriveSessionKeys(a.finish(b.message), "sender");
  const receiver = await deriveSessionKeys(b.finish(a.message), "receiver");
  equal(receiver.verifyPeerConfirmation(sender.confirmation), false);
  equal(sender.verifyPeerConfirmation(receiver.confirmation), false);
});

Deno.test("SessionKeys.verifyPeerConfirmation() rejects a reflected or short tag", async () => {
  const sender = await deriveSessionKeys(ISK, "sender");
  equal(sender.verifyPeerConfirmation(sender.confirmation), false);
  equal(sender.verifyPeerConfirmation(hexToBytes(TAG_RECEIVER).subarray(0, 16)), false);
  equal(sender.verifyPeerConfirmation(new Uint8Array(32)), false);
});

Deno.test("SessionKeys record keys are fresh 32-byte copies", async () => {
  const keys = await deriveSessionKeys(ISK, "receiver");
  for (const key of [keys.send, keys.receive]) {
    equal(Object.getPrototypeOf(key), Uint8Array.prototype);
    equal(key.length, 32);
  }
  notEqual(keys.send, keys.send);
  keys.send.fill(0);
  keys.receive.fill(0);
  equal(hex(keys.send), KEY_RECEIVER_TO_SENDER);
  equal(hex(keys.receive), KEY_SENDER_TO_RECEIVER);
});

Deno.test("SessionKeys.deriveBytes() gives the known-answer bytes on both sides", async () => {
  const sender = await deriveSessionKeys(ISK, "sender");
  const receiver = await deriveSessionKeys(ISK, "receiver");
  equal(hex(await sender.deriveBytes("punch/v1 example")), EXAMPLE_BYTES);
  equal(hex(await receiver.deriveBytes("punch/v1 example")), EXAMPLE_BYTES);
  equal(
    hex(await sender.deriveBytes("punch/v1 example", 100)),
    referenceHkdf("punch/v1 example", 100),
  );
});

Deno.test("SessionKeys.deriveBytes() rejects reserved purposes and bad lengths", async () => {
  const keys = await deriveSessionKeys(ISK, "sender");
  await rejects(keys.deriveBytes("punch/v1 record sender-to-receiver"), RangeError);
  await rejects(keys.deriveBytes("punch/v1 confirm receiver"), RangeError);
  await rejects(keys.deriveBytes(""), TypeError);
  for (const length of [0, -1, 1.5, 8161, NaN]) {
    await rejects(keys.deriveBytes("punch/v1 example", length), RangeError);
  }
  equal((await keys.deriveBytes("punch/v1 example", 8160)).length, 8160);
});

Deno.test("deriveSessionKeys() rejects bad input", async () => {
  await rejects(deriveSessionKeys(new Uint8Array(32), "sender"), RangeError);
  // @ts-expect-error: testing an unknown side
  await rejects(deriveSessionKeys(ISK, "initiator"), TypeError);
});

Deno.test("deriveSessionKeys() derives what WebCrypto's HKDF-SHA256 derives from the ISK", async () => {
  const base = await crypto.subtle.importKey("raw", ISK, "HKDF", false, ["deriveBits"]);
  const webHkdf = async (purpose: string, length = 32) =>
    hex(
      new Uint8Array(
        await crypto.subtle.deriveBits(
          { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(), info: ENCODER.encode(purpose) },
          base,
          length * 8,
        ),
      ),
    );
  const sender = await deriveSessionKeys(ISK, "sender");
  equal(hex(sender.send), await webHkdf("punch/v1 record sender-to-receiver"));
  equal(hex(sender.receive), await webHkdf("punch/v1 record receiver-to-sender"));
  equal(
    hex(await sender.deriveBytes("punch/v2 transit", 48)),
    await webHkdf("punch/v2 transit", 48),
  );
});
