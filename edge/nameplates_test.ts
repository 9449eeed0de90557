import { deepEqual, equal, ok } from "node:assert/strict";
import type { NameplateRegistry } from "./bus.ts";
import type { Conn } from "./conn.ts";
import { Nameplates } from "./nameplates.ts";

/** A registry in memory that answers after a random few milliseconds, like a remote one. */
function slowRegistry(): NameplateRegistry {
  const owners = new Map<string, string>();
  const later = <T>(value: () => T) =>
    new Promise<T>((resolve) => setTimeout(() => resolve(value()), Math.random() * 5));
  return {
    reserve: (np, owner) =>
      later(() => {
        if (owners.has(np) && owners.get(np) !== owner) return false;
        owners.set(np, owner);
        return true;
      }),
    release: (np, owner) => later(() => owners.get(np) === owner && owners.delete(np)),
    owner: (np) => later(() => owners.get(np)),
  };
}

Deno.test("Nameplates.reserve() never hands out one nameplate twice, even to its own owner", async () => {
  const nameplates = new Nameplates(slowRegistry(), "me", {
    ttlMs: 60_000,
    maxNameplates: 100_000,
    onLost() {},
    unclaimedTtlMs: 60_000,
    onExpired() {},
    log() {},
  });
  try {
    // 3000 picks among 9000 four-digit nameplates repeat often; the registry
    // says yes to its owner, so only local bookkeeping can keep them apart.
    const results = await Promise.all(Array.from({ length: 3000 }, () => nameplates.reserve()));
    const picked = results.map((r) => "nameplate" in r ? r.nameplate : r.error);
    equal(new Set(picked).size, 3000);
    ok(picked.every((np) => /^\d{4,5}$/.test(np)));
    equal(nameplates.size, 3000);
  } finally {
    await nameplates.close();
  }
});

Deno.test("Nameplates refreshes each held nameplate every third of the TTL until released or lost", async () => {
  const calls: [string, number][] = [];
  let stolen = "";
  const registry: NameplateRegistry = {
    reserve: (np) => (calls.push([np, Date.now()]), Promise.resolve(np !== stolen)),
    release: () => Promise.resolve(true),
    owner: () => Promise.resolve(undefined),
  };
  const lost: string[] = [];
  const nameplates = new Nameplates(registry, "me", {
    ttlMs: 600,
    maxNameplates: 10,
    onLost: (plate) => lost.push(plate.nameplate),
    unclaimedTtlMs: 60_000,
    onExpired() {},
    log() {},
  });
  const refreshes = (np: string) => calls.filter(([name]) => name === np).length - 1;
  try {
    const start = Date.now();
    for (const nameplate of ["1111", "2222"]) {
      await nameplates.reserve(nameplate);
      nameplates.hold({
        nameplate,
        mailbox: "",
        sender: {} as Conn,
        heldAt: Date.now(),
        claimed: false,
        remoteReceiver: false,
        senderLeft: false,
        receiverLeft: false,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 690));
    // Due at 200, 400 and 600 ms; the sweep runs every 100 ms.
    const at = calls.filter(([np]) => np === "1111").slice(1).map(([, when]) => when - start);
    equal(at.length, 3, `refreshes at ${at}`);
    ok(at.every((when, i) => when >= 200 * (i + 1) && when < 200 * (i + 1) + 150), `${at}`);
    await nameplates.release("1111");
    stolen = "2222";
    const before = refreshes("1111");
    await new Promise((resolve) => setTimeout(resolve, 300));
    equal(refreshes("1111"), before, "no refresh after release");
    deepEqual(lost, ["2222"]);
    equal(nameplates.get("2222"), undefined);
    equal(nameplates.size, 0);
  } finally {
    await nameplates.close();
  }
});
