// Sweeps of the nameplates (issue 16, finding 4): claims without the code.

import { deepEqual, equal } from "node:assert/strict";
import { DEFAULT_LIMITS } from "./defaults.ts";
import { claimAs, closeAll, Peer, serve } from "./_testing.ts";

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
