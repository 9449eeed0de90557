import { equal, ok } from "node:assert/strict";
import { Outbox } from "./_outbox.ts";

Deno.test("Outbox.hold() shuts the window until resume(), and resolves once nothing is in flight", async () => {
  const outbox = new Outbox(1000, 100);
  outbox.add(0, new Uint8Array(10), 10, 0);
  ok(outbox.open);
  let held = false;
  const holding = outbox.hold(5_000).then(() => held = true);
  ok(!outbox.open);
  let roomy = false;
  const room = outbox.room().then(() => roomy = true);
  await new Promise((resolve) => setTimeout(resolve, 20));
  equal(held, false, "resolved with a message in flight");
  outbox.ack(1);
  await holding;
  equal(outbox.bytes, 0);
  equal(roomy, false, "the window opened while held");
  outbox.resume();
  await room;
  ok(outbox.open);
});

Deno.test("Outbox.hold() resolves after its time when messages stay in flight", async () => {
  const outbox = new Outbox(1000, 100);
  outbox.add(0, new Uint8Array(10), 10, 0);
  await outbox.hold(50);
  equal(outbox.bytes, 10);
  ok(!outbox.open);
  outbox.resume();
  ok(outbox.open);
});
