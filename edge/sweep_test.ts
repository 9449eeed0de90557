// Sweeps of the nameplates (issue 16, finding 4): claims without the code,
// and claimants that make no guess.

import { deepEqual, equal } from "node:assert/strict";
import { DEFAULT_LIMITS } from "./defaults.ts";
import { claimAs, closeAll, pairSilent, Peer, serve, TRANSPORTS } from "./_testing.ts";

Deno.test("createRendezvous() stops a sweep from one address before it reaches a waiting sender", async () => {
  await using server = serve({ limits: { claimBurst: DEFAULT_LIMITS.claimBurst } });
  const sender = await Peer.open(server.ws);
  sender.send({ type: "allocate", nameplate: "4812" });
  equal((await sender.next()).type, "allocated");
  const refused: unknown[] = [];
  for (let nameplate = 1000; nameplate < 1000 + DEFAULT_LIMITS.claimBurst; nameplate++) {
    const [peer, answer] = await claimAs(server.ws, String(nameplate));
    refused.push(answer.error);
    await peer.closed;
  }
  deepEqual(refused, new Array(DEFAULT_LIMITS.claimBurst).fill("unknown_nameplate"));
  // The sweep reaches the waiting sender's nameplate: its budget is spent.
  const [sweeper, answer] = await claimAs(server.ws, "4812");
  equal(answer.error, "rate_limited");
  equal(typeof answer.message, "string");
  await sweeper.closed;
  equal(server.rendezvous.stats().rateLimited, 1);
  sender.send({ type: "ping", id: 1 });
  deepEqual(await sender.next(), { type: "pong", id: 1 }, "the sender is still waiting, unpaired");
  await closeAll(sender);
});

for (const transport of TRANSPORTS) {
  Deno.test(`createRendezvous() re-opens a nameplate whose claimant left without a word (${transport})`, async () => {
    await using server = serve({ transport });
    const [sender, claimant, nameplate] = await pairSilent(server.ws);
    sender.send({ type: "add", phase: "pake", body: "AAEC" }); // what a sender sends at once
    deepEqual(await claimant.next(), { type: "message", phase: "pake", body: "AAEC" });
    await closeAll(claimant);
    deepEqual(await sender.next(), { type: "unpaired" });
    // The next claimant pairs under a new mailbox id, and the pair works.
    const receiver = await Peer.open(server.ws);
    receiver.send({ type: "claim", nameplate });
    const [a, b] = [await sender.next(), await receiver.next()];
    deepEqual([a.type, b.type], ["paired", "paired"]);
    equal(a.mailbox, b.mailbox);
    receiver.send({ type: "add", phase: "pake", body: "AAAA" });
    deepEqual(await sender.next(), { type: "message", phase: "pake", body: "AAAA" });
    equal(server.rendezvous.stats().unpaired, 1);
    await closeAll(sender, receiver);
  });

  Deno.test(`createRendezvous() drops a claimant silent after pairing and re-opens (${transport})`, async () => {
    await using server = serve({ transport, limits: { pakeTimeoutMs: 50 } });
    const [sender, claimant] = await pairSilent(server.ws);
    equal((await claimant.next()).error, "idle_timeout");
    deepEqual(await sender.next(), { type: "unpaired" });
    await closeAll(sender, claimant);
  });

  Deno.test(`createRendezvous() relays no binary frame before both sides spoke (${transport})`, async () => {
    await using server = serve({ transport });
    const [sender, claimant] = await pairSilent(server.ws);
    claimant.socket.send(new Uint8Array(64 * 1024)); // a stranger streaming before the PAKE
    equal((await claimant.next()).error, "unexpected");
    deepEqual(await sender.next(), { type: "unpaired" });
    equal(sender.binaries.length, 0);
    await closeAll(sender, claimant);
  });
}

Deno.test("createRendezvous() re-opens a nameplate whose claimant on another instance left", async () => {
  await using a = serve();
  await using b = serve();
  const [sender, claimant] = await pairSilent(a.ws, b.ws);
  await closeAll(claimant);
  deepEqual(await sender.next(), { type: "unpaired" });
  await closeAll(sender);
});
