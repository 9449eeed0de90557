import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { PunchError } from "../errors.ts";
import { allocateMessage } from "../link/room.ts";
import type { PunchConnection } from "./connection.ts";
import type { ConnectionEvent } from "./types.ts";
import { connectionPair, FakeNetwork, FAST_TIMINGS } from "./_test_utils.ts";

/** Message `i`: its number in the first 4 bytes, then `size - 4` bytes of filler. */
function numbered(i: number, size = 1000): Uint8Array {
  const message = allocateMessage(size);
  new DataView(message.buffer, message.byteOffset).setUint32(0, i);
  message.fill(i & 0xff, 4);
  return message;
}

/** Receives until the end; returns the numbers in the order they came. */
async function drain(connection: PunchConnection): Promise<number[]> {
  const got: number[] = [];
  for (;;) {
    const message = await connection.receive();
    if (message === null) return got;
    got.push(new DataView(message.buffer, message.byteOffset).getUint32(0));
  }
}

/** Collects the events of a connection from now on. */
function record(connection: PunchConnection): ConnectionEvent[] {
  const seen: ConnectionEvent[] = [];
  (async () => {
    for await (const event of connection.events()) seen.push(event);
  })();
  return seen;
}

function until(condition: () => boolean, ms = 5_000): Promise<void> {
  const deadline = performance.now() + ms;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (condition()) return resolve();
      if (performance.now() > deadline) return reject(new Error("Condition not met in time"));
      setTimeout(check, 5);
    };
    check();
  });
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

Deno.test("Connection carries messages both ways in order on the relay, and closes cleanly", async () => {
  const { sender, receiver } = await connectionPair();
  const senderEvents = record(sender);
  const sending = (async () => {
    for (const i of range(200)) await sender.send(numbered(i));
  })();
  const back = receiver.send(Uint8Array.of(0, 0, 0, 42));
  deepEqual(await sender.receive().then((m) => m?.[3]), 42);
  await sending;
  await back;
  const closing = sender.close();
  deepEqual(await drain(receiver), range(200));
  await receiver.close();
  await closing;
  equal(sender.path, "closed");
  equal(receiver.path, "closed");
  deepEqual(senderEvents.map((e) => e.type), ["closed"]);
});

Deno.test("Connection holds the sender at the window until the receiver takes messages", async () => {
  const { sender, receiver } = await connectionPair();
  let sent = 0;
  const sending = (async () => {
    for (const i of range(40)) {
      await sender.send(numbered(i, 1024 * 1024));
      sent++;
    }
  })();
  await until(() => sent >= 7);
  await new Promise((resolve) => setTimeout(resolve, 100));
  ok(sent <= 8, `${sent} MiB sent into an 8 MiB window nobody reads`);
  const closing = sending.then(() => sender.close());
  deepEqual(await drain(receiver), range(40));
  await receiver.close();
  await closing;
});

Deno.test("Connection moves onto a direct path, and messages arrive once and in order", async () => {
  const network = new FakeNetwork();
  network.blocked = true;
  const { sender, receiver, relay } = await connectionPair({ direct: "auto", network });
  const events = record(sender);
  const sending = (async () => {
    for (const i of range(300)) {
      if (i === 100) network.blocked = false; // the next round finds a path
      await sender.send(numbered(i, 20_000));
      if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 30));
    }
  })();
  const got = drain(receiver);
  await sending;
  equal(sender.path, "direct");
  const closing = sender.close();
  deepEqual(await got, range(300));
  await receiver.close();
  await closing;
  const moved = events.find((e) => e.type === "path" && e.path === "direct");
  ok(moved?.type === "path" && moved.address?.startsWith("fake:"), JSON.stringify(events));
  ok([...network.links.values()].some((link) => link.bytes[0] > 0));
  ok(relay.bytes[0] > 0);
});

for (const cut of ["reset", "silence"] as const) {
  Deno.test(`Connection falls back to the relay when the direct path is cut (${cut}), and goes direct again`, async () => {
    const network = new FakeNetwork();
    const { sender, receiver, relay } = await connectionPair({ direct: "auto", network });
    const senderEvents = record(sender);
    const receiverEvents = record(receiver);
    const got = drain(receiver);
    await until(() => sender.path === "direct" && receiver.path === "direct");
    for (const round of [1, 2]) {
      for (const i of range(100)) await sender.send(numbered(round * 1000 + i, 10_000));
      const link = network.links.get(round)!;
      network.blocked = true;
      link[cut]();
      for (const i of range(100)) await sender.send(numbered(round * 1000 + 100 + i, 10_000));
      await until(() => senderEvents.some((e) => e.type === "fallback") && sender.path === "relay");
      network.blocked = false;
      await until(() => sender.path === "direct" && receiver.path === "direct");
      senderEvents.length = 0;
    }
    const closing = sender.close();
    const numbers = await got;
    deepEqual(numbers, [1, 2].flatMap((round) => range(200).map((i) => round * 1000 + i)));
    await receiver.close();
    await closing;
    ok(receiverEvents.some((e) => e.type === "fallback"), JSON.stringify(receiverEvents));
    // The relay carried at most what was in flight at each cut again (the window), not the transfer.
    ok(
      relay.bytes[0] < 2 * 8 * 1024 * 1024 + 2 * 100 * 10_100,
      `${relay.bytes[0]} bytes on the relay`,
    );
  });
}

Deno.test("Connection with direct only sends no message over the relay", async () => {
  const network = new FakeNetwork();
  network.delayMs = 100; // messages wait out the punch window
  const { sender, receiver, relay } = await connectionPair({ direct: "only", network });
  for (const i of range(20)) await sender.send(numbered(i));
  const closing = sender.close();
  deepEqual(await drain(receiver), range(20));
  await receiver.close();
  await closing;
  // Only control records (pings, acks, candidates) crossed the relay: no 1000-byte message.
  ok(
    relay.bytes[0] < relay.frames[0] * 200,
    `${relay.bytes[0]} bytes in ${relay.frames[0]} frames`,
  );
});

Deno.test("Connection with direct only fails with no_direct when no round finds a path", async () => {
  const network = new FakeNetwork();
  network.blocked = true;
  const { sender } = await connectionPair({ direct: "only", network });
  await rejects(sender.receive(), (error) => {
    ok(error instanceof PunchError);
    equal(error.kind, "no_direct");
    return true;
  });
  await rejects(sender.send(numbered(1)), { kind: "no_direct" });
});

Deno.test("Connection fails with stalled when the other side takes nothing", async () => {
  const { sender } = await connectionPair({ timings: { ...FAST_TIMINGS, flowStallMs: 200 } });
  await rejects(
    (async () => {
      for (const i of range(20)) await sender.send(numbered(i, 1024 * 1024));
    })(),
    { kind: "stalled" },
  );
});

Deno.test("Connection fails with tampered on an altered record", async () => {
  const { sender, receiver, relay } = await connectionPair();
  await sender.send(numbered(1));
  equal((await receiver.receive())?.length, 1000);
  // A message record the sender's key never sealed.
  const forged = new Uint8Array(60).fill(0x07);
  forged[0] = 0x10;
  forged.fill(0, 1, 9); // message number 0
  relay.inject(0, forged);
  await rejects(receiver.receive(), { kind: "tampered" });
});

Deno.test("Connection counts a tiny message as 512 bytes against the window, so few are in flight", async () => {
  const { sender, receiver, relay } = await connectionPair();
  let sent = 0;
  const sending = (async () => {
    for (const i of range(20_000)) {
      await sender.send(numbered(i, 4));
      sent++;
    }
  })();
  await until(() => sent >= 14_000);
  await new Promise((resolve) => setTimeout(resolve, 100));
  ok(sent <= 16_384, `${sent} tiny messages in flight to a receiver that reads nothing`);
  ok(relay.frames[0] <= 16_500, `${relay.frames[0]} frames on the relay`);
  const closing = sending.then(() => sender.close());
  deepEqual(await drain(receiver), range(20_000));
  await receiver.close();
  await closing;
});
