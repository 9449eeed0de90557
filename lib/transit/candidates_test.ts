import { deepEqual, rejects } from "node:assert/strict";
import {
  type Candidates,
  decodeCandidates,
  encodeCandidates,
  MAX_CANDIDATES,
} from "./candidates.ts";

/** Raw JSON as the other side would send it, decoded. */
function openRaw(json: unknown): Promise<Candidates> {
  return Promise.resolve().then(() =>
    decodeCandidates(new TextEncoder().encode(JSON.stringify(json)))
  );
}

Deno.test("candidates round-trip, the forwarded port with them", async () => {
  const sent: Candidates = {
    port: 41234,
    public: "203.0.113.7:41234",
    candidates: ["192.168.1.5:41234", "[2001:db8:a::10]:41234", "203.0.113.7:50000"],
    forwarded: "203.0.113.7:50000",
  };
  deepEqual(decodeCandidates(encodeCandidates(sent)), sent);
  await Promise.resolve();
});

Deno.test("candidates from a side that does not say what is forwarded read as none", async () => {
  deepEqual(await openRaw({ v: 1, port: 1, public: null, candidates: ["10.0.0.1:1"] }), {
    port: 1,
    public: null,
    candidates: ["10.0.0.1:1"],
    forwarded: null,
  });
});

Deno.test("malformed candidates are refused", async () => {
  const base = { v: 1, port: 1, public: null, candidates: ["10.0.0.1:1"] };
  for (
    const bad of [
      { ...base, forwarded: "not an address" },
      { ...base, forwarded: 5 },
      { ...base, candidates: Array(MAX_CANDIDATES + 1).fill("10.0.0.1:1") },
      { ...base, v: 2 },
    ]
  ) {
    await rejects(openRaw(bad), /malformed/, JSON.stringify(bad).slice(0, 80));
  }
});
