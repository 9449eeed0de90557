import { equal } from "node:assert/strict";
import { OptimisticRegistry } from "./_optimistic_registry.ts";
import type { BusChannel } from "./types.ts";

/** Two channels joined in memory; `held` notices arrive `heldDelayMs` late, the rest at once. */
function pair(heldDelayMs: number): [BusChannel, BusChannel] {
  const make = (): BusChannel & { peer?: BusChannel } => ({
    name: "registry",
    ready: Promise.resolve(),
    onmessage: null,
    postMessage(message: unknown) {
      const deliver = () => this.peer?.onmessage?.(new MessageEvent("message", { data: message }));
      if ((message as { t: string }).t === "held") setTimeout(deliver, heldDelayMs);
      else queueMicrotask(deliver);
    },
    close() {},
  });
  const a = make();
  const b = make();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

Deno.test("owner() waits for a claim another instance is still settling", async () => {
  const [ca, cb] = pair(30);
  const a = new OptimisticRegistry(ca, { settleMs: 50, ttlMs: 60_000 });
  const b = new OptimisticRegistry(cb, { settleMs: 50, ttlMs: 60_000 });
  const reserved = a.reserve("42", "a");
  await new Promise((resolve) => setTimeout(resolve, 5)); // b has seen the claim only
  equal(await b.owner("42"), "a");
  equal(await reserved, true);
  equal(await b.owner("7"), undefined); // never claimed: answered at once
});

Deno.test("owner() gives up after twice settleMs when the holder's notice never comes", async () => {
  const [ca, cb] = pair(60_000);
  const a = new OptimisticRegistry(ca, { settleMs: 20, ttlMs: 60_000 });
  const b = new OptimisticRegistry(cb, { settleMs: 20, ttlMs: 60_000 });
  const reserved = a.reserve("42", "a");
  await new Promise((resolve) => setTimeout(resolve, 5));
  equal(await b.owner("42"), undefined);
  equal(await reserved, true);
});
