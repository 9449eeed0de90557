import { deepEqual, throws } from "node:assert/strict";
import { decodeMessage, encodeAnswer, encodeQuery } from "./_message.ts";

const QUERY_ID = Uint8Array.from({ length: 16 }, (_, i) => i);
const SERVER_ID = Uint8Array.from({ length: 8 }, (_, i) => 0xf0 + i);

// The vectors of docs/protocol/discovery.md.
const QUERY_HEX = "504e4348" + "01" + "51" + "000102030405060708090a0b0c0d0e0f" + "04" + "34383132";
const ANSWER_HEX = "504e4348" + "01" + "41" + "000102030405060708090a0b0c0d0e0f" + "04" +
  "34383132" + "a112" + "f0f1f2f3f4f5f6f7" + "0b" + "3139322e3136382e312e35";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function unhex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

Deno.test("encodeQuery() matches the documented vector", () => {
  deepEqual(hex(encodeQuery({ queryId: QUERY_ID, nameplate: "4812" })), QUERY_HEX);
});

Deno.test("encodeAnswer() matches the documented vector", () => {
  const answer = { queryId: QUERY_ID, nameplate: "4812", port: 41234, serverId: SERVER_ID };
  deepEqual(hex(encodeAnswer({ ...answer, host: "192.168.1.5" })), ANSWER_HEX);
});

Deno.test("decodeMessage() reads both documented vectors", () => {
  deepEqual(decodeMessage(unhex(QUERY_HEX)), {
    kind: "query",
    queryId: QUERY_ID,
    nameplate: "4812",
  });
  deepEqual(decodeMessage(unhex(ANSWER_HEX)), {
    kind: "answer",
    queryId: QUERY_ID,
    nameplate: "4812",
    port: 41234,
    serverId: SERVER_ID,
    host: "192.168.1.5",
  });
});

Deno.test("decodeMessage() reads an answer with an empty host", () => {
  const bytes = encodeAnswer({
    queryId: QUERY_ID,
    nameplate: "7",
    port: 1,
    serverId: SERVER_ID,
    host: "",
  });
  deepEqual(decodeMessage(bytes), {
    kind: "answer",
    queryId: QUERY_ID,
    nameplate: "7",
    port: 1,
    serverId: SERVER_ID,
    host: "",
  });
});

Deno.test("decodeMessage() ignores malformed datagrams", () => {
  const query = unhex(QUERY_HEX);
  const answer = unhex(ANSWER_HEX);
  const patched = (bytes: Uint8Array, at: number, value: number) => {
    const copy = bytes.slice();
    copy[at] = value;
    return copy;
  };
  const cases: Record<string, Uint8Array> = {
    "empty": new Uint8Array(0),
    "oversize": new Uint8Array(129).fill(0x50),
    "wrong magic": patched(query, 0, 0x51),
    "wrong version": patched(query, 4, 2),
    "unknown kind": patched(query, 5, 0x58),
    "truncated query": query.subarray(0, query.length - 1),
    "query with trailing byte": Uint8Array.from([...query, 0]),
    "nameplate length past the end": patched(query, 22, 9),
    "empty nameplate": Uint8Array.from([...query.subarray(0, 22), 0]),
    "nameplate of letters": patched(query, 23, 0x41),
    "nameplate of 9 digits": Uint8Array.from([
      ...query.subarray(0, 22),
      9,
      ...unhex("31".repeat(9)),
    ]),
    "truncated answer": answer.subarray(0, answer.length - 1),
    "answer with trailing byte": Uint8Array.from([...answer, 0x30]),
    "answer with port 0": patched(patched(answer, 27, 0), 28, 0),
    "answer host not an address": patched(answer, answer.length - 1, 0x78),
    "answer host too long": Uint8Array.from([
      ...answer.subarray(0, 37),
      16,
      ...unhex("31".repeat(16)),
    ]),
  };
  for (const [name, bytes] of Object.entries(cases)) {
    deepEqual(decodeMessage(bytes), undefined, name);
  }
});

Deno.test("encodeQuery() rejects a bad nameplate or query id", () => {
  throws(() => encodeQuery({ queryId: QUERY_ID, nameplate: "48a" }), TypeError);
  throws(() => encodeQuery({ queryId: new Uint8Array(4), nameplate: "48" }), RangeError);
});

Deno.test("encodeAnswer() rejects a bad port, server id or host", () => {
  const answer = { queryId: QUERY_ID, nameplate: "4812", port: 1, serverId: SERVER_ID, host: "" };
  throws(() => encodeAnswer({ ...answer, port: 0 }), RangeError);
  throws(() => encodeAnswer({ ...answer, port: 65536 }), RangeError);
  throws(() => encodeAnswer({ ...answer, serverId: new Uint8Array(7) }), RangeError);
  throws(() => encodeAnswer({ ...answer, host: "example.com" }), TypeError);
});
