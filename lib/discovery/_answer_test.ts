import { deepEqual, equal } from "node:assert/strict";
import { type Candidate, candidateFromAnswer, rankCandidates } from "./_answer.ts";
import type { Answer } from "./_message.ts";
import type { LocalAddress } from "./_ipv4.ts";

const QUERY = { queryId: new Uint8Array(16).fill(7), nameplate: "4812" };
const LOCALS: LocalAddress[] = [
  { name: "lo", address: "127.0.0.1", netmask: "255.0.0.0", internal: true },
  { name: "eth0", address: "192.168.1.5", netmask: "255.255.255.0", internal: false },
];

function answer(fields: Partial<Answer> = {}): Answer {
  return {
    kind: "answer",
    queryId: QUERY.queryId,
    nameplate: "4812",
    port: 41234,
    serverId: new Uint8Array(8).fill(1),
    host: "",
    ...fields,
  };
}

Deno.test("candidateFromAnswer() uses the answer's host, else its source", () => {
  deepEqual(candidateFromAnswer(answer({ host: "192.168.1.9" }), "192.168.1.9", QUERY, LOCALS), {
    url: "http://192.168.1.9:41234",
    address: "192.168.1.9",
    rank: 2,
    serverId: "0101010101010101",
  });
  equal(candidateFromAnswer(answer(), "10.1.1.1", QUERY, LOCALS)?.url, "http://10.1.1.1:41234");
});

Deno.test("candidateFromAnswer() ranks loopback, then this host, then others", () => {
  equal(candidateFromAnswer(answer({ host: "127.0.0.1" }), "127.0.0.1", QUERY, LOCALS)?.rank, 0);
  equal(candidateFromAnswer(answer({ host: "127.0.0.1" }), "192.168.1.5", QUERY, LOCALS)?.rank, 0);
  equal(candidateFromAnswer(answer(), "192.168.1.5", QUERY, LOCALS)?.rank, 1);
  equal(candidateFromAnswer(answer(), "192.168.1.20", QUERY, LOCALS)?.rank, 2);
});

Deno.test("candidateFromAnswer() refuses answers to another query or nameplate", () => {
  const otherId = new Uint8Array(16).fill(8);
  equal(candidateFromAnswer(answer({ queryId: otherId }), "192.168.1.9", QUERY, LOCALS), undefined);
  equal(
    candidateFromAnswer(answer({ nameplate: "4813" }), "192.168.1.9", QUERY, LOCALS),
    undefined,
  );
});

Deno.test("candidateFromAnswer() refuses loopback from another host and unusable hosts", () => {
  equal(
    candidateFromAnswer(answer({ host: "127.0.0.1" }), "192.168.1.9", QUERY, LOCALS),
    undefined,
  );
  for (const host of ["0.0.0.0", "239.255.80.78", "255.255.255.255"]) {
    equal(candidateFromAnswer(answer({ host }), "192.168.1.9", QUERY, LOCALS), undefined, host);
  }
});

Deno.test("rankCandidates() keeps each server's best path and orders by rank, then arrival", () => {
  const candidate = (url: string, rank: number, serverId: string): Candidate => ({
    url,
    address: new URL(url).hostname,
    rank,
    serverId,
  });
  const remoteA = candidate("http://192.168.1.9:1000", 2, "a");
  const remoteB = candidate("http://192.168.1.8:2000", 2, "b");
  const ownByLan = candidate("http://192.168.1.5:3000", 1, "c");
  const ownByLoopback = candidate("http://127.0.0.1:3000", 0, "c");
  const sameUrl = candidate("http://192.168.1.9:1000", 2, "d");
  deepEqual(rankCandidates([remoteA, remoteB, ownByLan, ownByLoopback, sameUrl]), [
    ownByLoopback,
    remoteA,
    remoteB,
  ]);
});
