import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import type { Socket } from "node:dgram";
import { announce } from "./announce.ts";
import { discover } from "./discover.ts";
import { ANSWER_BURST, ANSWERS_PER_SECOND, DISCOVERY_GROUP, DISCOVERY_PORT } from "./constants.ts";
import { decodeMessage, encodeQuery } from "./_message.ts";
import { bindUdp, closeUdp, sendUdp } from "./_udp.ts";

/** Tests look on loopback only: nothing they send may leave this machine. */
const LOOPBACK = { scope: "loopback" } as const;

/** A nameplate no real sender on this host is likely to hold. */
function randomNameplate(): string {
  return String(10_000_000 + (crypto.getRandomValues(new Uint32Array(1))[0]! % 90_000_000));
}

/** A socket that sends to the discovery group over loopback. */
async function loopbackSender(): Promise<Socket> {
  const socket = await bindUdp(0, false);
  socket.setMulticastInterface("127.0.0.1");
  return socket;
}

/** Resolves once `condition()` holds, checking on every message; rejects after `ms`. */
function until(socket: Socket, condition: () => boolean, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`Condition not met within ${ms} ms`)), ms);
    const check = () => condition() && finish();
    function finish(error?: Error) {
      clearTimeout(timer);
      socket.removeListener("message", check);
      error ? reject(error) : resolve();
    }
    socket.on("message", check);
    check();
  });
}

Deno.test("announce() answers discover() for a nameplate it holds", async () => {
  const nameplate = randomNameplate();
  await using announcer = announce({ scope: "loopback", port: 41234, nameplates: [nameplate] });
  await announcer.ready;
  deepEqual(await discover(nameplate, LOOPBACK), [{
    url: "http://127.0.0.1:41234",
    address: "127.0.0.1",
  }]);
});

Deno.test("announce() reads a live nameplate set afresh on each query", async () => {
  const nameplate = randomNameplate();
  const nameplates = new Set<string>();
  await using announcer = announce({ scope: "loopback", port: 41234, nameplates });
  await announcer.ready;
  deepEqual(await discover(nameplate, { ...LOOPBACK, timeoutMs: 300 }), []);
  nameplates.add(nameplate);
  equal((await discover(nameplate, LOOPBACK)).length, 1);
});

Deno.test("announce() survives malformed datagrams and a failing nameplate source", async () => {
  const nameplate = randomNameplate();
  let fail = true;
  const nameplates = () => {
    if (fail) throw new Error("Nameplate source broke");
    return [nameplate];
  };
  await using announcer = announce({ scope: "loopback", port: 41234, nameplates });
  await announcer.ready;
  const sender = await loopbackSender();
  try {
    const valid = encodeQuery({ queryId: new Uint8Array(16), nameplate });
    const garbage = [
      new Uint8Array(0),
      new Uint8Array(65_000).fill(0x50),
      crypto.getRandomValues(new Uint8Array(64)),
      valid.subarray(0, 10),
      Uint8Array.from([...valid, 0]),
      valid,
    ];
    for (const bytes of garbage) {
      await sendUdp(sender, bytes, DISCOVERY_PORT, DISCOVERY_GROUP);
      await sendUdp(sender, bytes, DISCOVERY_PORT, "127.0.0.1");
    }
  } finally {
    await closeUdp(sender);
  }
  fail = false;
  equal((await discover(nameplate, LOOPBACK)).length, 1);
});

Deno.test("announce() rate-limits its answers", async () => {
  const nameplate = randomNameplate();
  await using announcer = announce({ scope: "loopback", port: 41234, nameplates: [nameplate] });
  await announcer.ready;
  const sender = await loopbackSender();
  try {
    let answers = 0;
    sender.on("message", (bytes: Uint8Array) => {
      if (decodeMessage(bytes)?.kind === "answer") answers++;
    });
    const query = encodeQuery({ queryId: new Uint8Array(16), nameplate });
    const start = performance.now();
    for (let i = 0; i < 3 * ANSWER_BURST; i++) {
      await sendUdp(sender, query, DISCOVERY_PORT, DISCOVERY_GROUP);
    }
    await until(sender, () => answers >= ANSWER_BURST, 2_000);
    const refilled = Math.ceil(((performance.now() - start) / 1000) * ANSWERS_PER_SECOND);
    ok(answers <= ANSWER_BURST + refilled, `${answers} answers to ${3 * ANSWER_BURST} queries`);
  } finally {
    await closeUdp(sender);
  }
});

Deno.test({
  name: "Announcer.close() stops answering and releases the socket",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const nameplate = randomNameplate();
    const announcer = announce({ scope: "loopback", port: 41234, nameplates: [nameplate] });
    await announcer.ready;
    await announcer.close();
    await announcer.close();
    deepEqual(await discover(nameplate, { ...LOOPBACK, timeoutMs: 300 }), []);
  },
});

Deno.test({
  name: "announce() closes when its signal aborts, even before it listens",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const nameplate = randomNameplate();
    const controller = new AbortController();
    const announcer = announce({
      scope: "loopback",
      port: 41234,
      nameplates: [nameplate],
      signal: controller.signal,
    });
    controller.abort();
    await announcer.ready;
    await announcer.close();
    deepEqual(await discover(nameplate, { ...LOOPBACK, timeoutMs: 300 }), []);
    const aborted = announce({
      scope: "loopback",
      port: 1,
      nameplates: [nameplate],
      signal: AbortSignal.abort(),
    });
    await aborted.close();
  },
});

Deno.test("announce() rejects a port outside 1..65535", () => {
  throws(() => announce({ scope: "loopback", port: 0, nameplates: [] }), RangeError);
  throws(() => announce({ scope: "loopback", port: 65536, nameplates: [] }), RangeError);
  throws(() => announce({ scope: "loopback", port: 1.5, nameplates: [] }), RangeError);
});

Deno.test("Announcer.ready rejects with a clear error when the port is taken", async () => {
  // A socket without SO_REUSEADDR takes the port exclusively.
  const blocker = await bindUdp(DISCOVERY_PORT, false).catch(() => undefined);
  if (blocker === undefined) return; // Another announcer holds the port: cannot test here.
  try {
    const announcer = announce({ scope: "loopback", port: 41234, nameplates: [] });
    await rejects(announcer.ready, /Cannot listen for discovery queries on UDP port 20558/);
    await announcer.close();
  } finally {
    await closeUdp(blocker);
  }
});
