import { deepEqual, equal } from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import {
  decodeAnswer,
  defaultGateway,
  encodeAddressRequest,
  encodeMapRequest,
  MAPPING_LIFETIME_S,
  mapPortNatPmp,
} from "./natpmp.ts";

// The vectors of docs/protocol/transit.md, "Port mapping (NAT-PMP)".
Deno.test("NAT-PMP requests encode as RFC 6886 lays them out", () => {
  equal(bytesToHex(encodeAddressRequest()), "0000");
  equal(bytesToHex(encodeMapRequest(41234, 41234, 60)), "00020000a112a1120000003c");
  equal(bytesToHex(encodeMapRequest(41234, 0, 0)), "00020000a112000000000000");
});

Deno.test("NAT-PMP answers decode, and anything else is null", () => {
  deepEqual(decodeAnswer(hexToBytes("008000000000a1b2cb007107")), {
    op: "address",
    result: 0,
    address: "203.0.113.7",
  });
  deepEqual(decodeAnswer(hexToBytes("008200000000a1b2a112c3500000003c")), {
    op: "map",
    result: 0,
    internal: 41234,
    external: 50000,
    lifetime: 60,
  });
  deepEqual(decodeAnswer(hexToBytes("008200020000a1b2a11200000000003c"))?.result, 2);
  equal(decodeAnswer(hexToBytes("018000000000a1b2cb007107")), null, "version 1");
  equal(decodeAnswer(hexToBytes("008100000000a1b2cb007107")), null, "UDP mapping");
  equal(decodeAnswer(hexToBytes("00820000")), null, "short");
});

Deno.test("defaultGateway() reads the default route's next hop from /proc/net/route", () => {
  const routes = [
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
    "eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
    "eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0",
  ].join("\n");
  equal(defaultGateway(routes), "192.168.1.1");
  equal(defaultGateway(routes.split("\n").slice(0, 2).join("\n")), null, "no default route");
  equal(defaultGateway(routes.replace("\t0003\t", "\t0001\t")), null, "not via a gateway");
});

/** A NAT-PMP responder on loopback that answers with `answer` (or not at all) and records requests. */
async function responder(
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

/** A gateway that grants every mapping on public port 50000 of 203.0.113.7. */
function granting(request: Uint8Array): Uint8Array {
  if (request[1] === 0) return hexToBytes("008000000000a1b2cb007107");
  const internal = bytesToHex(request.subarray(4, 6));
  const external = request[10] === 0 && request[11] === 0 ? "0000" : "c350";
  return hexToBytes(`008200000000a1b2${internal}${external}${bytesToHex(request.subarray(8, 12))}`);
}

Deno.test("mapPortNatPmp() asks the gateway, gives the public ip:port, and deletes the mapping on close", async () => {
  const gateway = await responder(granting);
  try {
    const { mapping } = await mapPortNatPmp(41234, { gateway: "127.0.0.1", port: gateway.port });
    equal(mapping?.protocol, "natpmp");
    equal(mapping?.address, "203.0.113.7:50000");
    deepEqual(gateway.requests.toSorted(), [
      "0000",
      `00020000a112a112${MAPPING_LIFETIME_S.toString(16).padStart(8, "0")}`,
    ]);
    await mapping!.close();
    await mapping!.close(); // once only
    equal(gateway.requests.at(-1), "00020000a112000000000000");
    equal(gateway.requests.length, 3);
  } finally {
    gateway.socket.close();
  }
});

Deno.test("mapPortNatPmp() refuses with the reason when the gateway refuses, or says nothing in time", async () => {
  const refusing = await responder((request) =>
    request[1] === 0
      ? hexToBytes("008000000000a1b2cb007107")
      : hexToBytes(`008200020000a1b2${bytesToHex(request.subarray(4, 6))}000000000000`)
  );
  const silent = await responder(() => null);
  try {
    deepEqual(await mapPortNatPmp(41234, { gateway: "127.0.0.1", port: refusing.port }), {
      protocol: "natpmp",
      mapping: null,
      answered: true,
      reason: "127.0.0.1 refused: result 2, not authorized or refused",
    });
    deepEqual(await mapPortNatPmp(41234, { gateway: "127.0.0.1", port: silent.port }), {
      protocol: "natpmp",
      mapping: null,
      answered: false,
      reason: "no answer from 127.0.0.1 within 100 ms",
    });
    // Both requests, each sent again while there was time.
    deepEqual(new Set(silent.requests), new Set(["0000", "00020000a112a1120000003c"]));
  } finally {
    refusing.socket.close();
    silent.socket.close();
  }
});

Deno.test("mapPortNatPmp() takes back a mapping the gateway was too slow to confirm", async () => {
  // Answers the address at once, the mapping never: a delete must follow.
  const gateway = await responder((request) =>
    request[1] === 0 ? hexToBytes("008000000000a1b2cb007107") : null
  );
  try {
    const result = await mapPortNatPmp(41234, { gateway: "127.0.0.1", port: gateway.port });
    equal(result.mapping, null);
    // The deletion was sent before the refusal resolved.
    equal(gateway.requests.includes("00020000a112000000000000"), true, String(gateway.requests));
  } finally {
    gateway.socket.close();
  }
});

Deno.test("mapPortNatPmp() takes answers from the gateway's port only", async () => {
  const gateway = await responder(() => null);
  const stranger = await responder(() => null);
  try {
    // The stranger answers the client's port as if it were the gateway.
    const mapping = mapPortNatPmp(41234, { gateway: "127.0.0.1", port: gateway.port });
    await new Promise((resolve) => setTimeout(resolve, 30));
    const client = await new Promise<number>((resolve) => {
      gateway.socket.once("message", (_m, from) => resolve(from.port));
    });
    for (const hex of ["008000000000a1b2cb007107", "008200000000a1b2a112c3500000003c"]) {
      stranger.socket.send(hexToBytes(hex), client, "127.0.0.1");
    }
    equal((await mapping).mapping, null);
  } finally {
    gateway.socket.close();
    stranger.socket.close();
  }
});
