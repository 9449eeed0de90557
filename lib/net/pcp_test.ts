import { deepEqual, equal, ok } from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { decodeMapResponse, encodeMapRequest, mapPortPcp, PCP_LIFETIME_S } from "./pcp.ts";

const NONCE = hexToBytes("0102030405060708090a0b0c");

// The vectors of docs/protocol/transit.md, "Port mapping".
const REQUEST_HEX = "02010000" + "0000003c" + "00000000000000000000ffffc0a8010a" +
  "0102030405060708090a0b0c" + "06000000" + "a112" + "a112" + "00000000000000000000ffff00000000";
const RESPONSE_HEX = "02810000" + "00000078" + "00000010" + "000000000000000000000000" +
  "0102030405060708090a0b0c" + "06000000" + "a112" + "c350" + "00000000000000000000ffff2d000015";

Deno.test("encodeMapRequest() lays out a PCP MAP request as RFC 6887 does", () => {
  const request = {
    nonce: NONCE,
    clientAddress: "192.168.1.10",
    internalPort: 41234,
    suggestedPort: 41234,
    lifetime: 60,
  };
  equal(bytesToHex(encodeMapRequest(request)), REQUEST_HEX);
  // The deletion: lifetime 0, no port suggested, the same nonce.
  equal(
    bytesToHex(encodeMapRequest({ ...request, suggestedPort: 0, lifetime: 0 })),
    REQUEST_HEX.replace("0000003c", "00000000").replace("a112a112", "a1120000"),
  );
});

Deno.test("decodeMapResponse() reads a MAP response, and anything else is null", () => {
  deepEqual(decodeMapResponse(hexToBytes(RESPONSE_HEX)), {
    result: 0,
    lifetime: 120,
    epoch: 16,
    nonce: NONCE,
    protocol: 6,
    internalPort: 41234,
    externalPort: 50000,
    externalAddress: "45.0.0.21",
  });
  equal(decodeMapResponse(hexToBytes(RESPONSE_HEX).subarray(0, 56)), null, "short");
  equal(decodeMapResponse(hexToBytes(RESPONSE_HEX.replace(/^0281/, "0201"))), null, "a request");
  equal(decodeMapResponse(hexToBytes(RESPONSE_HEX.replace(/^02/, "00"))), null, "NAT-PMP");
  equal(decodeMapResponse(hexToBytes(`${RESPONSE_HEX}00`)), null, "not a multiple of 4");
  const v6 = decodeMapResponse(hexToBytes(RESPONSE_HEX.replace(/ffff2d000015$/, "00002d000015")));
  equal(v6?.externalAddress, null, "not IPv4-mapped");
});

/** A PCP server on loopback that answers with `answer` (or not at all) and records requests. */
async function server(
  answer: (request: Uint8Array) => Uint8Array | null,
): Promise<{ port: number; requests: string[]; socket: Socket }> {
  const socket = createSocket("udp4");
  const requests: string[] = [];
  socket.on("message", (message, from) => {
    requests.push(bytesToHex(message));
    const reply = answer(message);
    if (reply !== null) socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return { port: socket.address().port, requests, socket };
}

/** The answer a server granting public port 50000 of 45.0.0.21 gives `request` (result `result`). */
function grant(request: Uint8Array, result = 0): Uint8Array {
  const reply = hexToBytes(RESPONSE_HEX);
  reply[3] = result;
  reply.set(request.subarray(24, 36), 24); // the nonce
  reply.set(request.subarray(40, 42), 40); // the internal port
  return reply;
}

const OPTIONS = { gateway: "127.0.0.1", clientAddress: "127.0.0.1" } as const;

Deno.test("mapPortPcp() maps, and close() deletes with the same nonce and lifetime 0", async () => {
  const pcp = await server((request) => grant(request));
  try {
    const { mapping } = await mapPortPcp(41234, { ...OPTIONS, port: pcp.port });
    equal(mapping?.protocol, "pcp");
    equal(mapping?.address, "45.0.0.21:50000");
    equal(pcp.requests.length, 1);
    const asked = pcp.requests[0]!;
    equal(asked.slice(8, 16), PCP_LIFETIME_S.toString(16).padStart(8, "0"));
    equal(asked.slice(16, 48), "00000000000000000000ffff7f000001", "the client address");
    await mapping!.close();
    await mapping!.close(); // once only
    equal(pcp.requests.length, 2);
    const deleted = pcp.requests[1]!;
    equal(deleted.slice(8, 16), "00000000", "lifetime 0");
    equal(deleted.slice(48, 72), asked.slice(48, 72), "the same nonce");
  } finally {
    pcp.socket.close();
  }
});

Deno.test("mapPortPcp() refuses with the server's result, or when nothing answers", async () => {
  const refusing = await server((request) => grant(request, 2));
  const silent = await server(() => null);
  try {
    deepEqual(await mapPortPcp(41234, { ...OPTIONS, port: refusing.port }), {
      protocol: "pcp",
      mapping: null,
      answered: true,
      reason: "127.0.0.1 refused: result 2, not authorized",
    });
    const started = Date.now();
    deepEqual(await mapPortPcp(41234, { ...OPTIONS, port: silent.port }), {
      protocol: "pcp",
      mapping: null,
      answered: false,
      reason: "no answer from 127.0.0.1 within 100 ms",
    });
    ok(Date.now() - started < 1000);
    ok(silent.requests.length >= 2, "sent again while there was time");
  } finally {
    refusing.socket.close();
    silent.socket.close();
  }
});

Deno.test("mapPortPcp() ignores answers with another nonce, and takes back what it asked", async () => {
  // Answers every request with a wrong nonce: never a grant, and since the
  // server did answer, the request is taken back (lifetime 0).
  const pcp = await server((request) => {
    const reply = grant(request);
    reply[24]! ^= 0xff;
    return reply;
  });
  try {
    const result = await mapPortPcp(41234, { ...OPTIONS, port: pcp.port });
    equal(result.mapping, null);
    equal(result.mapping === null && result.answered, true);
    equal(pcp.requests.at(-1)!.slice(8, 16), "00000000", String(pcp.requests));
  } finally {
    pcp.socket.close();
  }
});

Deno.test("mapPortPcp() stopped by its signal takes back the request", async () => {
  const pcp = await server(() => null);
  try {
    const stop = new AbortController();
    const asking = mapPortPcp(41234, { ...OPTIONS, port: pcp.port, signal: stop.signal });
    await new Promise((resolve) => setTimeout(resolve, 20));
    stop.abort();
    const result = await asking;
    deepEqual(result, { protocol: "pcp", mapping: null, answered: false, reason: "stopped" });
    equal(pcp.requests.at(-1)!.slice(8, 16), "00000000", String(pcp.requests));
  } finally {
    pcp.socket.close();
  }
});
