import { deepEqual, rejects } from "node:assert/strict";
import { deriveSessionKeys } from "../crypto/keys.ts";
import { RecordSealer } from "../crypto/records.ts";
import { type Candidates, MAX_CANDIDATES, openCandidates, sealCandidates } from "./candidates.ts";

const ISK = new Uint8Array(64).fill(7);
const [senderKeys, receiverKeys] = await Promise.all([
  deriveSessionKeys(ISK, "sender"),
  deriveSessionKeys(ISK, "receiver"),
]);

/** What a sender would seal, as raw JSON, opened by the receiver. */
async function openRaw(json: unknown): Promise<Candidates> {
  const key = await senderKeys.deriveBytes("punch/v1 candidates sender-to-receiver");
  const sealed = await new RecordSealer(key).seal(new TextEncoder().encode(JSON.stringify(json)));
  return openCandidates(receiverKeys, "receiver", sealed);
}

Deno.test("candidates cross sealed, the forwarded port with them", async () => {
  const sent: Candidates = {
    port: 41234,
    public: "203.0.113.7:41234",
    candidates: ["192.168.1.5:41234", "[2001:db8:a::10]:41234", "203.0.113.7:50000"],
    forwarded: "203.0.113.7:50000",
  };
  const sealed = await sealCandidates(senderKeys, "sender", sent);
  deepEqual(await openCandidates(receiverKeys, "receiver", sealed), sent);
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
