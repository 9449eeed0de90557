import { deepEqual, equal, match, ok } from "node:assert/strict";
import { claimAs, closeAll, pair, Peer, serve } from "./_testing.ts";
import { type BusChannel, type BusFactory, localBus, type OpenOptions } from "./bus.ts";
import { BUS_RELAY_PIECE_BYTES } from "./defaults.ts";
import type { InstanceMsg } from "./remote.ts";
import { MAX_BINARY_FRAME_BYTES } from "../lib/rendezvous/messages.ts";

/** Two instances in this process: they share the in-process bus and registry. */
function twoInstances(options: Parameters<typeof serve>[0] = {}) {
  return [serve(options), serve(options)] as const;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The in-process bus, except that messages `lose` picks are not posted (it
 * may post them later with the `post` it is given).
 */
function lossyBus(
  lose: (msg: InstanceMsg, post: (msg: InstanceMsg) => void) => boolean,
): BusFactory {
  const inner = localBus();
  return {
    ...inner,
    open(name: string, options?: OpenOptions): BusChannel {
      const channel = inner.open(name, options);
      const post = channel.postMessage.bind(channel);
      // A second channel of the name posts a held message after the first closed.
      const later = (msg: InstanceMsg) => inner.open(name, { listen: false }).postMessage(msg);
      channel.postMessage = (msg: unknown) => {
        if (!lose(msg as InstanceMsg, later)) post(msg);
      };
      return channel;
    },
  };
}

async function until(probe: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !probe(); i++) await sleep(10);
  ok(probe(), what);
}

Deno.test("createRendezvous() pairs a sender and a receiver on two instances", async () => {
  await using a = serve();
  await using b = serve();
  const [sender, receiver, nameplate] = await pair(a.ws, b.ws);
  equal(a.rendezvous.stats().paired, 1);
  equal(b.rendezvous.stats().paired, 0);
  equal(a.rendezvous.stats().remote, 1);
  equal(b.rendezvous.stats().remote, 1);
  deepEqual([...a.rendezvous.nameplates()], [nameplate]);

  sender.send({ type: "add", phase: "pake", body: "AAEC" });
  deepEqual(await receiver.next(), { type: "message", phase: "pake", body: "AAEC" });
  receiver.send({ type: "add", phase: "confirm", body: "" });
  deepEqual(await sender.next(), { type: "message", phase: "confirm", body: "" });

  for (let i = 0; i < 50; i++) sender.socket.send(new Uint8Array(1000).fill(i));
  for (let i = 0; i < 5; i++) receiver.socket.send(new Uint8Array(65536).fill(100 + i));
  const there = await receiver.binary(50);
  deepEqual(there.map((f) => [f[0], f.length]), Array.from({ length: 50 }, (_, i) => [i, 1000]));
  const back = await sender.binary(5);
  deepEqual(back.map((f) => [f[999], f.length]), [0, 1, 2, 3, 4].map((i) => [100 + i, 65536]));

  // A largest message crosses the bus in 64 KiB pieces; the bytes arrive whole and in order.
  const large = Uint8Array.from({ length: MAX_BINARY_FRAME_BYTES }, (_, i) => (i * 7 + (i >> 16)));
  sender.socket.send(large);
  const pieces = await receiver.binary(MAX_BINARY_FRAME_BYTES / BUS_RELAY_PIECE_BYTES);
  pieces.forEach((piece, i) => {
    const at = i * BUS_RELAY_PIECE_BYTES;
    deepEqual(piece, large.subarray(at, at + BUS_RELAY_PIECE_BYTES), `piece ${i}`);
  });

  receiver.send({ type: "release", mood: "happy" });
  deepEqual(await sender.next(), { type: "peer_gone", mood: "happy" });
  await closeAll(sender, receiver);
  await until(() => a.rendezvous.stats().nameplates === 0, "the nameplate is freed on a");
  await until(() => b.rendezvous.stats().remote === 0, "b forgets the link");
});

Deno.test("createRendezvous() tells a receiver on another instance that the sender left", async () => {
  await using a = serve();
  await using b = serve();
  const [sender, receiver] = await pair(a.ws, b.ws);
  sender.send({ type: "release", mood: "scary" });
  deepEqual(await receiver.next(), { type: "peer_gone", mood: "scary" });
  // Traffic after the peer left is dropped, not an error.
  receiver.send({ type: "add", phase: "pake", body: "" });
  receiver.socket.send(new Uint8Array(10));
  await closeAll(sender, receiver);
  await until(() => a.rendezvous.stats().nameplates === 0, "the nameplate is freed on a");
});

Deno.test("createRendezvous() refuses a third claimant on either instance, and unknown nameplates", async () => {
  await using a = serve();
  await using b = serve();
  const [sender, receiver, nameplate] = await pair(a.ws, b.ws);
  for (const ws of [a.ws, b.ws]) {
    const [third, refused] = await claimAs(ws, nameplate);
    deepEqual([refused.type, refused.error], ["error", "nameplate_claimed"]);
    equal((await third.closed).code, 1008);
  }
  const [stranger, unknown] = await claimAs(b.ws, "99999999");
  equal(unknown.error, "unknown_nameplate");
  // A failed guess burns the nameplate: once the receiver left, it stays claimed.
  receiver.send({ type: "release", mood: "scary" });
  equal((await sender.next()).type, "peer_gone");
  const [late, refusedLate] = await claimAs(b.ws, nameplate);
  equal(refusedLate.error, "nameplate_claimed");
  await closeAll(stranger, late, sender, receiver);
});

Deno.test("createRendezvous() gives a chosen nameplate to one instance only", async () => {
  const [a, b] = twoInstances();
  await using _a = a;
  await using _b = b;
  const peers = await Promise.all([a.ws, b.ws, a.ws, b.ws].map((ws) => Peer.open(ws)));
  for (const peer of peers) peer.send({ type: "allocate", nameplate: "4812" });
  const answers = await Promise.all(peers.map((peer) => peer.next()));
  deepEqual(
    answers.map((m) => m.type === "allocated" ? "allocated" : m.error).sort(),
    ["allocated", "nameplate_taken", "nameplate_taken", "nameplate_taken"],
  );
  await closeAll(...peers);
});

Deno.test("createRendezvous() allocates another nameplate after a collision", async () => {
  const registry = localBus().registry();
  const fourDigits = Array.from({ length: 9000 }, (_, i) => String(1000 + i));
  await Promise.all(fourDigits.map((np) => registry.reserve(np, "another-instance")));
  try {
    await using a = serve();
    const sender = await Peer.open(a.ws);
    sender.send({ type: "allocate" });
    const allocated = await sender.next();
    match(allocated.nameplate as string, /^\d{5}$/);
    equal(a.rendezvous.stats().collisions, 16);
    // Four digits are crowded now: the next sender goes straight to five.
    const next = await Peer.open(a.ws);
    next.send({ type: "allocate" });
    match((await next.next()).nameplate as string, /^\d{5}$/);
    equal(a.rendezvous.stats().collisions, 16);
    await closeAll(sender, next);
  } finally {
    await Promise.all(fourDigits.map((np) => registry.release(np, "another-instance")));
  }
});

Deno.test("createRendezvous() relays 1000 concurrent pairs across two instances", async () => {
  await using a = serve();
  await using b = serve();
  const pairs = await Promise.all(Array.from({ length: 1000 }, () => pair(a.ws, b.ws)));
  const nameplates = new Set(pairs.map(([, , np]) => np));
  equal(nameplates.size, 1000);
  await Promise.all(pairs.map(async ([sender, receiver, np]) => {
    sender.send({ type: "add", phase: "pake", body: btoa(np.padEnd(9)) });
    deepEqual(await receiver.next(), { type: "message", phase: "pake", body: btoa(np.padEnd(9)) });
  }));
  await Promise.all(pairs.map(([sender, receiver]) => closeAll(sender, receiver)));
  await until(() => a.rendezvous.stats().nameplates === 0, "every nameplate is freed");
});

Deno.test("createRendezvous() drops a sender whose receiver on another instance is not reading", async () => {
  await using a = serve();
  await using b = serve({ limits: { relayMaxBufferedBytes: 1 } });
  const [sender, receiver] = await pair(a.ws, b.ws);
  for (let i = 0; i < 20; i++) sender.socket.send(new Uint8Array(65536));
  equal((await sender.next()).error, "flow_control");
  await sender.closed;
  equal((await receiver.next()).type, "peer_gone");
  await closeAll(receiver);
});

Deno.test("createRendezvous() drops a sender with more than the limit unacknowledged on the bus", async () => {
  const bus = lossyBus((msg) => msg.t === "ack");
  try {
    await using a = serve({ bus, limits: { relayMaxBufferedBytes: 1024 * 1024 } });
    await using b = serve({ bus });
    const [sender, receiver] = await pair(a.ws, b.ws);
    for (let i = 0; i < 40; i++) sender.socket.send(new Uint8Array(65536));
    equal((await sender.next()).error, "flow_control");
    await sender.closed;
    // 16 messages of 64 KiB fit under 1 MiB; the 17th does not.
    await until(() => receiver.binaries.length >= 16, "the receiver got what was allowed");
    equal((await receiver.next()).type, "peer_gone");
    equal(receiver.binaries.length, 16);
    await closeAll(receiver);
  } finally {
    await bus.close();
  }
});

Deno.test("createRendezvous() ends a pair across instances when a relayed message is lost", async () => {
  let count = 0;
  const bus = lossyBus((msg) => msg.t === "data" && ++count === 3);
  try {
    await using a = serve({ bus });
    await using b = serve({ bus });
    const [sender, receiver] = await pair(a.ws, b.ws);
    for (let i = 0; i < 5; i++) sender.socket.send(new Uint8Array([i]));
    deepEqual(await receiver.next(), { type: "peer_gone", mood: "errory" });
    deepEqual(await sender.next(), { type: "peer_gone", mood: "errory" });
    deepEqual(receiver.binaries.map((f) => f[0]), [0, 1]);
    await closeAll(sender, receiver);
  } finally {
    await bus.close();
  }
});

Deno.test("createRendezvous() ends pairs with an instance that falls silent", async () => {
  let silent = "";
  const bus = lossyBus((msg) => msg.from === silent);
  const limits = { instanceHeartbeatMs: 20, instanceTimeoutMs: 100 };
  try {
    await using a = serve({ bus, limits });
    await using b = serve({ bus, limits });
    const [sender, receiver] = await pair(a.ws, b.ws);
    await sleep(150);
    sender.send({ type: "add", phase: "pake", body: "" });
    equal((await receiver.next()).type, "message", "heartbeats keep the pair");
    silent = b.rendezvous.stats().instance;
    deepEqual(await sender.next(), { type: "peer_gone", mood: "errory" });
    await closeAll(sender, receiver);
  } finally {
    await bus.close();
  }
});

Deno.test("createRendezvous() refuses a claim the holding instance does not answer", async () => {
  const registry = localBus().registry();
  await registry.reserve("7777", "a-crashed-instance");
  try {
    await using a = serve({ limits: { claimTimeoutMs: 50 } });
    const receiver = await Peer.open(a.ws);
    receiver.send({ type: "claim", nameplate: "7777" });
    const refused = await receiver.next();
    equal(refused.error, "unknown_nameplate");
    match(refused.message as string, /did not answer/);
    await receiver.closed;
  } finally {
    await registry.release("7777", "a-crashed-instance");
  }
});

Deno.test("createRendezvous() tells a sender when its remote receiver left before the answer", async () => {
  let release: (() => void) | undefined;
  const bus = lossyBus((msg, post) => {
    if (msg.t !== "claimed") return false;
    release = () => post(msg);
    return true;
  });
  try {
    await using a = serve({ bus });
    await using b = serve({ bus });
    const sender = await Peer.open(a.ws);
    sender.send({ type: "allocate" });
    const { nameplate } = await sender.next();
    const receiver = await Peer.open(b.ws);
    receiver.send({ type: "claim", nameplate });
    equal((await sender.next()).type, "paired");
    await until(() => release !== undefined, "the answer is held");
    await closeAll(receiver);
    release!();
    // It made no guess: the sender waits for another claim.
    deepEqual(await sender.next(), { type: "unpaired" });
    await closeAll(sender);
  } finally {
    await bus.close();
  }
});
