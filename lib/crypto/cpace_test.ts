// Known-answer tests from draft-irtf-cfrg-cpace-21 (unchanged since -19),
// appendix "Test vector for CPace using group ristretto255 and hash SHA-512",
// plus the string utility vectors of appendix "CPace function definitions".

import { equal, ok, throws } from "node:assert/strict";
import { sha512 } from "@noble/hashes/sha2.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { concat, lexicographicallyLarger, lvCat, oCat, prependLen } from "./_encoding.ts";
import {
  calculateGenerator,
  decodeScalar,
  generatorString,
  IDENTITY,
  scalarMult,
  scalarMultVfy,
} from "./_ristretto.ts";
import { CPaceError, type CPaceOptions, startCPace } from "./cpace.ts";

const ENCODER = new TextEncoder();
const bytes = (text: string) => ENCODER.encode(text);
const hex = bytesToHex;
const range = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);

const PRS = bytes("Password");
const CI = hexToBytes("0b415f696e69746961746f720b425f726573706f6e646572");
const SID = hexToBytes("7e4b4791d6a8ef019b936c79fb7f2c57");
const GEN_STR = "11435061636552697374726574746f3235350850617373776f726464" +
  "00".repeat(100) + "180b415f696e69746961746f720b425f726573706f6e646572" +
  "107e4b4791d6a8ef019b936c79fb7f2c57";
const GEN_HASH = "da6d3ddc8802fca9058755ffd3ebde08a9c2c74945901a258482a288" +
  "b6663af06bf645c93cd1c51512307199c80e84908916d983b34af77205f90851a657ee27";
const G = "222b6b195fe84b1652badb6f6a3ae3d24341e7306967f0b8115b40d5698c7e56";
const ADA = bytes("ADa");
const YA_SCALAR = "da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08";
const YA = "d6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0eec482b9157";
const ADB = bytes("ADb");
const YB_SCALAR = "d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d";
const YB = "3ea7e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f7258";
const K = "80b69a8a76457ab6a4d7f887a4bf6b55a2f80ac19c333f917a05fc9887c8b40f";
const TRANSCRIPT_IR = "20" + YA + "03414461" + "20" + YB + "03414462";
const TRANSCRIPT_OC = "6f63" + TRANSCRIPT_IR;
const ISK_IR = "b69effbf61b51d56401c0f65601abe428de8206feaaf0e32198896dc" +
  "ae7b35cd2b38950a39dfd5d4a79164614c2984f7daa460b588c1e80c3fa2068af7900447";
const ISK_SY = "544199d71f62f8d9a1fee55727e24fe4a45844593c2b6013c4fa3969" +
  "d0e5debb2244675c0b43397cbb68d342b01fc0f98fc961469a25134de9f0f813c1a57476";
const S = "7cd0e075fa7955ba52c02759a6c90dbbfc10e6d40aea8d283e407d88cf538a05";
const X = "2c3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c";
const SX = "7c13645fe790a468f62c39beb7388e541d8405d1ade69d1778c5fe3e7f6b600e";
const Y_I1 = "2b3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c";

function vectorParty(role: "initiator" | "responder", extra: Partial<CPaceOptions> = {}) {
  const initiator = role === "initiator";
  return startCPace(role, {
    password: PRS,
    channelId: CI,
    sessionId: SID,
    associatedData: initiator ? ADA : ADB,
    scalar: hexToBytes(initiator ? YA_SCALAR : YB_SCALAR),
    ...extra,
  });
}

function randomOptions(): CPaceOptions {
  return {
    password: bytes("4812-violet-harbor"),
    channelId: bytes("punch/v1 4812"),
    sessionId: crypto.getRandomValues(new Uint8Array(16)),
  };
}

Deno.test("prependLen() matches the draft vectors", () => {
  equal(hex(prependLen(new Uint8Array())), "00");
  equal(hex(prependLen(bytes("1234"))), "0431323334");
  equal(hex(prependLen(range(127))), "7f" + hex(range(127)));
  equal(hex(prependLen(range(128))), "8001" + hex(range(128)));
});

Deno.test("lvCat() matches the draft vector", () => {
  const out = lvCat(bytes("1234"), bytes("5"), new Uint8Array(), bytes("678"));
  equal(hex(out), "043132333401350003363738");
});

Deno.test("oCat() orders lexicographically as the draft vectors say", () => {
  const u = (...b: number[]) => new Uint8Array(b);
  equal(lexicographicallyLarger(u(0), u(0, 0)), false);
  equal(lexicographicallyLarger(u(1), u(0, 0)), true);
  equal(lexicographicallyLarger(u(0, 0), u(0)), true);
  equal(lexicographicallyLarger(u(0, 0), u(1)), false);
  equal(lexicographicallyLarger(u(0, 1), u(1)), false);
  equal(lexicographicallyLarger(bytes("ABCD"), bytes("BCD")), false);
  equal(hex(oCat(bytes("ABCD"), bytes("BCD"))), "6f6342434441424344");
  equal(hex(oCat(bytes("BCD"), bytes("ABCDE"))), "6f634243444142434445");
});

Deno.test("transcripts match the draft's transcript_ir and transcript_oc vectors", () => {
  const ir = (ya: string, yb: string) =>
    concat([lvCat(bytes(ya), bytes("PartyA")), lvCat(bytes(yb), bytes("PartyB"))]);
  const oc = (ya: string, yb: string) =>
    oCat(lvCat(bytes(ya), bytes("PartyA")), lvCat(bytes(yb), bytes("PartyB")));
  equal(hex(ir("123", "234")), "03313233065061727479410332333406506172747942");
  equal(hex(ir("3456", "2345")), "043334353606506172747941043233343506506172747942");
  equal(hex(oc("123", "234")), "6f6303323334065061727479420331323306506172747941");
  equal(hex(oc("3456", "2345")), "6f63043334353606506172747941043233343506506172747942");
});

Deno.test("calculateGenerator() matches the draft's ristretto255 vector", () => {
  const genStr = generatorString(PRS, CI, SID);
  equal(genStr.length, 170);
  equal(hex(genStr), GEN_STR);
  equal(hex(sha512(genStr)), GEN_HASH);
  equal(hex(calculateGenerator(PRS, CI, SID).toBytes()), G);
});

Deno.test("scalarMult() and scalarMultVfy() give the draft's Ya, Yb and K", () => {
  const g = calculateGenerator(PRS, CI, SID);
  const ya = decodeScalar(hexToBytes(YA_SCALAR));
  const yb = decodeScalar(hexToBytes(YB_SCALAR));
  equal(hex(scalarMult(ya, g)), YA);
  equal(hex(scalarMult(yb, g)), YB);
  equal(hex(scalarMultVfy(ya, hexToBytes(YB))), K);
  equal(hex(scalarMultVfy(yb, hexToBytes(YA))), K);
});

Deno.test("scalarMultVfy() matches the draft's valid and invalid input vectors", () => {
  const s = decodeScalar(hexToBytes(S));
  equal(hex(scalarMultVfy(s, hexToBytes(X))), SX);
  equal(hex(scalarMultVfy(s, hexToBytes(Y_I1))), hex(IDENTITY));
  equal(hex(scalarMultVfy(s, IDENTITY)), hex(IDENTITY));
});

Deno.test("startCPace() sends lv_cat(Y, AD) as in the draft vectors", () => {
  equal(hex(vectorParty("initiator").message), "20" + YA + "03414461");
  equal(hex(vectorParty("responder").message), "20" + YB + "03414462");
});

Deno.test("finish() gives the draft's initiator-responder ISK on both sides", () => {
  const a = vectorParty("initiator");
  const b = vectorParty("responder");
  equal(hex(concat([a.message, b.message])), TRANSCRIPT_IR);
  equal(hex(a.finish(b.message)), ISK_IR);
  equal(hex(b.finish(a.message)), ISK_IR);
});

Deno.test("finish() gives the draft's ordered-concatenation ISK with symmetric", () => {
  const a = vectorParty("initiator", { symmetric: true });
  const b = vectorParty("responder", { symmetric: true });
  equal(hex(oCat(a.message, b.message)), TRANSCRIPT_OC);
  equal(hex(a.finish(b.message)), ISK_SY);
  equal(hex(b.finish(a.message)), ISK_SY);
});

Deno.test("finish() rejects the draft's invalid element and the neutral element", () => {
  for (const y of [Y_I1, hex(IDENTITY)]) {
    for (const role of ["initiator", "responder"] as const) {
      const party = vectorParty(role);
      throws(() => party.finish(hexToBytes("20" + y + "00")), CPaceError);
    }
  }
});

Deno.test("finish() rejects malformed messages", () => {
  const y = "20" + YB;
  for (
    const message of [
      "",
      y, // no AD field
      y + "03414462ff", // trailing byte
      y + "0441", // AD shorter than declared
      "1f" + YB.slice(2) + "00", // 31-byte element
      "21" + YB + "0000", // 33-byte element
      y + "8000", // overlong LEB128 length
      y + "ffffffff7f", // absurd length
    ]
  ) {
    throws(() => vectorParty("initiator").finish(hexToBytes(message)), {
      name: "CPaceError",
      message: /^Cannot finish CPace: /,
    }, message);
  }
});

Deno.test("finish() accepts a canonical multi-byte AD length", () => {
  const ad = new Uint8Array(300);
  const b = vectorParty("responder", { associatedData: ad });
  equal(hex(b.message.subarray(33, 35)), "ac02");
  equal(hex(vectorParty("initiator").finish(b.message)).length, 128);
});

Deno.test("finish() throws when called twice", () => {
  const a = vectorParty("initiator");
  a.finish(vectorParty("responder").message);
  throws(() => a.finish(vectorParty("responder").message), /already finished/);
});

Deno.test("startCPace() with random scalars agrees on both roles", () => {
  const options = randomOptions();
  const a = startCPace("initiator", options);
  const b = startCPace("responder", options);
  equal(a.message.length, 34);
  equal(hex(a.finish(b.message)), hex(b.finish(a.message)));
  const c = startCPace("initiator", options);
  ok(hex(c.message) !== hex(a.message), "fresh scalar per run");
});

Deno.test("startCPace() gives different ISKs for a wrong password, CI or sid", () => {
  const options = randomOptions();
  const variants: Partial<CPaceOptions>[] = [
    { password: bytes("4812-violet-harpoon") },
    { channelId: bytes("punch/v1 4813") },
    { sessionId: new Uint8Array(16) },
  ];
  for (const variant of variants) {
    const a = startCPace("initiator", options);
    const b = startCPace("responder", { ...options, ...variant });
    ok(hex(a.finish(b.message)) !== hex(b.finish(a.message)), JSON.stringify(variant));
  }
});

Deno.test("finish() gives different ISKs when AD is changed in transit", () => {
  const options = randomOptions();
  const a = startCPace("initiator", { ...options, associatedData: bytes("A") });
  const b = startCPace("responder", options);
  const forged = a.message.slice();
  forged[forged.length - 1] = 0x42;
  ok(hex(a.finish(b.message)) !== hex(b.finish(forged)));
});

Deno.test("startCPace() rejects bad input", () => {
  const options = randomOptions();
  // @ts-expect-error: testing an invalid role
  throws(() => startCPace("sender", options), TypeError);
  // @ts-expect-error: testing a non-byte password
  throws(() => startCPace("initiator", { ...options, password: "x" }), TypeError);
  throws(() => startCPace("initiator", { ...options, scalar: new Uint8Array(31) }), RangeError);
  throws(() => startCPace("initiator", { ...options, scalar: new Uint8Array(32) }), RangeError);
});

// The documented punch session (docs/protocol/crypto.md): code 4812-violet-harbor,
// mailbox id 000102…0f, the draft's test scalars, empty AD.
const PUNCH_PRS = "343831322d76696f6c65742d686172626f72";
const PUNCH_CI = "70756e63682f76312034383132";
const PUNCH_SID = "000102030405060708090a0b0c0d0e0f";
const PUNCH_GEN_HASH = "4c19926c307ae7b24acae36f2fd997ad435f0056dcf6a03c115ee6accf4047ee" +
  "076e5dc096e9f0e7c9a6ecfc7f2185ad09e66cd4c13bc65883791391f1ab1c04";
const PUNCH_G = "2c7dd09d5bd5f5b763f795ea1c3026cc404cb45c04f01dc9e344b532d56d4e2b";
const PUNCH_MSG_SENDER = "206aea167b96720978f60dbfa2dfdab14e3c8804fc50829f934e0e9bf443e7527700";
const PUNCH_MSG_RECEIVER = "20fe86dd47db39f29b25afb80973d1ba51e4dc61c2a7f2caa26b26980e919c331e00";
const PUNCH_K = "5413f58c19713b0b784d9f2514909b24010ea34fa2fd294585a2a434f0224507";
const PUNCH_ISK = "87c4ac20f4a6621602b5fcb844d3dd49da23429a890158b88e0025b172444126" +
  "2f7a2c36278beb55ee79ae20a2aeafb1ad0dfb6c40f0e0c13ddaf0712849c73a";

Deno.test("startCPace() gives the documented punch vector for 4812-violet-harbor", () => {
  const password = bytes("4812-violet-harbor");
  const channelId = bytes("punch/v1 " + "4812");
  const sessionId = hexToBytes(PUNCH_SID);
  equal(hex(password), PUNCH_PRS);
  equal(hex(channelId), PUNCH_CI);
  const genStr = generatorString(password, channelId, sessionId);
  equal(
    hex(genStr),
    "11435061636552697374726574746f323535" + "12" + PUNCH_PRS + "5a" + "00".repeat(90) +
      "0d" + PUNCH_CI + "10" + PUNCH_SID,
  );
  equal(hex(sha512(genStr)), PUNCH_GEN_HASH);
  equal(hex(calculateGenerator(password, channelId, sessionId).toBytes()), PUNCH_G);
  const ya = decodeScalar(hexToBytes(YA_SCALAR));
  equal(hex(scalarMultVfy(ya, hexToBytes(PUNCH_MSG_RECEIVER).subarray(1, 33))), PUNCH_K);
  const options = { password, channelId, sessionId };
  const sender = startCPace("initiator", { ...options, scalar: hexToBytes(YA_SCALAR) });
  const receiver = startCPace("responder", { ...options, scalar: hexToBytes(YB_SCALAR) });
  equal(hex(sender.message), PUNCH_MSG_SENDER);
  equal(hex(receiver.message), PUNCH_MSG_RECEIVER);
  equal(hex(sender.finish(receiver.message)), PUNCH_ISK);
  equal(hex(receiver.finish(sender.message)), PUNCH_ISK);
});
