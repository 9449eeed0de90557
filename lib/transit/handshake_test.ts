import { deepEqual, equal, rejects } from "node:assert/strict";
import { deriveSessionKeys } from "../crypto/keys.ts";
import { memoryFramePipes } from "../link/frames.ts";
import {
  awaitNomination,
  directPipe,
  encodeHello,
  nominate,
  proveConnection,
  TRANSIT_PURPOSE,
  TransitError,
} from "./handshake.ts";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sessionPair(sameIsk = true) {
  const isk = crypto.getRandomValues(new Uint8Array(64));
  const other = sameIsk ? isk : crypto.getRandomValues(new Uint8Array(64));
  const sender = await deriveSessionKeys(isk, "sender");
  const receiver = await deriveSessionKeys(other, "receiver");
  return {
    sender,
    receiver,
    senderKey: await sender.deriveBytes(TRANSIT_PURPOSE),
    receiverKey: await receiver.deriveBytes(TRANSIT_PURPOSE),
  };
}

Deno.test("encodeHello() pins the hello bytes", () => {
  equal(
    hex(encodeHello("sender", new Uint8Array(16).fill(0xaa))),
    hex(new TextEncoder().encode("punch/v2 transit\n")) + "53" + "aa".repeat(16),
  );
});

Deno.test("proveConnection() lets two holders of the session key pass frames over a nominated connection", async () => {
  const keys = await sessionPair();
  const [a, b] = memoryFramePipes();
  const [s, r] = await Promise.all([
    proveConnection(a!, "sender", keys.senderKey),
    proveConnection(b!, "receiver", keys.receiverKey),
  ]);
  deepEqual(s.senderNonce, r.senderNonce);
  deepEqual(s.receiverNonce, r.receiverNonce);
  const [, chosen] = await Promise.all([nominate(s, true), awaitNomination(r)]);
  equal(chosen, true);
  const [ps, pr] = [directPipe(s), directPipe(r)];
  await ps.writable.getWriter().write(Uint8Array.of(1, 2, 3));
  await pr.writable.getWriter().write(Uint8Array.of(4));
  deepEqual((await pr.readable.getReader().read()).value, Uint8Array.of(1, 2, 3));
  deepEqual((await ps.readable.getReader().read()).value, Uint8Array.of(4));
});

Deno.test("proveConnection() refuses a peer without the session key", async () => {
  const keys = await sessionPair(false);
  const [a, b] = memoryFramePipes();
  const results = await Promise.allSettled([
    proveConnection(a!, "sender", keys.senderKey),
    proveConnection(b!, "receiver", keys.receiverKey),
  ]);
  for (const result of results) {
    equal(result.status, "rejected");
    equal(result.status === "rejected" && result.reason instanceof TransitError, true);
  }
});

Deno.test("proveConnection() refuses a connection back to the same side", async () => {
  const keys = await sessionPair();
  const [a, b] = memoryFramePipes();
  await rejects(
    Promise.all([
      proveConnection(a!, "sender", keys.senderKey),
      proveConnection(b!, "sender", keys.senderKey),
    ]),
    /leads back to this side/,
  );
});

Deno.test("proveConnection() refuses a stranger speaking another protocol", async () => {
  const keys = await sessionPair();
  const [a, b] = memoryFramePipes();
  const writer = b!.writable.getWriter();
  writer.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n"));
  await rejects(proveConnection(a!, "receiver", keys.receiverKey), /Not a punch transit/);
});
