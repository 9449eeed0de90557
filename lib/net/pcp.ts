/**
 * Asking the router to forward a TCP port with PCP (RFC 6887), NAT-PMP's
 * successor, which miniupnpd, many ISP boxes and carrier-grade NATs answer.
 * Only the MAP opcode is used, for IPv4.
 *
 * Protocol flow (docs/protocol/transit.md, "Port mapping"):
 * - The PCP server is the default gateway (as for NAT-PMP), on UDP 5351.
 * - From any UDP port: a MAP request for TCP P, P suggested as the public
 *   port, a random 12-byte nonce, 60 s, this host's address toward the
 *   gateway as the client address; sent again after 50 ms, 100 ms more, ….
 *   A server that has said nothing within {@linkcode PCP_PROBE_MS} is taken
 *   to be none; one that has gets until {@linkcode PCP_WAIT_MS}.
 * - Only an answer from gateway:5351 with version 2, opcode MAP with the
 *   response bit, our nonce, TCP and our internal port counts; result 0
 *   grants the assigned external address and port.
 * - The mapping's `close()` deletes it: the same request with lifetime 0.
 *
 * @module
 */

import type { Socket } from "node:dgram";
import { bindUdp } from "../discovery/_udp.ts";
import { whenAborted } from "../_abort.ts";
import { formatHostPort } from "./address.ts";
import { asked, deletion, grantedMapping, type MappingResult, refused } from "./_mapping.ts";
import { systemGateway } from "./natpmp.ts";

/** PCP's server port (the same as NAT-PMP's). */
export const PCP_PORT = 5351;

/** Seconds a mapping is asked for, as with NAT-PMP; a server may grant more (miniupnpd: 120 at least). */
export const PCP_LIFETIME_S = 60;

/**
 * How long the gateway has to answer at all before it is taken to have no
 * PCP: the same reasoning as NAT-PMP's probe (a server on the LAN answers
 * within milliseconds, and one without may say nothing at all).
 */
export const PCP_PROBE_MS = 100;

/** How long a gateway that has answered something gets for the mapping. */
export const PCP_WAIT_MS = 250;

/** First wait for an answer, doubled for each resend (RFC 6887 §8.1.1 starts at 3 s for a patient client). */
const FIRST_WAIT_MS = 50;

/** How long a deletion waits for its answer. */
const DELETE_WAIT_MS = 100;

const VERSION = 2;
const OPCODE_MAP = 1;
const RESPONSE_BIT = 0x80;
const TCP = 6;
/** Size of a MAP request or response without options: 24-byte header, 36-byte MAP body. */
const MAP_BYTES = 60;

/** What PCP's result codes mean (RFC 6887 §7.4). */
const RESULTS: Readonly<Record<number, string>> = {
  1: "unsupported version",
  2: "not authorized",
  3: "malformed request",
  4: "unsupported opcode",
  5: "unsupported option",
  6: "malformed option",
  7: "network failure",
  8: "no resources",
  9: "unsupported protocol",
  10: "user exceeded quota",
  11: "cannot provide external",
  12: "address mismatch",
  13: "excessive remote peers",
};

/** A MAP request's fields. */
export interface PcpMapRequest {
  /** 12 bytes, random per mapping; the deletion repeats it. */
  nonce: Uint8Array;
  /** This host's IPv4 address as the server sees it. */
  clientAddress: string;
  internalPort: number;
  /** 0: no preference. */
  suggestedPort: number;
  /** Seconds; 0 deletes. */
  lifetime: number;
}

/** A MAP response's fields. */
export interface PcpMapResponse {
  result: number;
  lifetime: number;
  epoch: number;
  nonce: Uint8Array;
  protocol: number;
  internalPort: number;
  externalPort: number;
  /** The assigned external address, IPv4 (from its IPv4-mapped form), or null for another. */
  externalAddress: string | null;
}

/** `a.b.c.d` as an IPv4-mapped IPv6 address (::ffff:a.b.c.d), 16 bytes at `offset`. */
function putMapped(view: Uint8Array, offset: number, ipv4: string): void {
  const parts = ipv4.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new TypeError(`Cannot encode PCP request: ${ipv4} is not an IPv4 address`);
  }
  view[offset + 10] = 0xff;
  view[offset + 11] = 0xff;
  view.set(parts, offset + 12);
}

/** The bytes of a MAP request for TCP (RFC 6887 §7.1, §11.1), without options. */
export function encodeMapRequest(request: PcpMapRequest): Uint8Array {
  if (request.nonce.length !== 12) {
    throw new TypeError("Cannot encode PCP request: nonce must be 12 bytes");
  }
  const bytes = new Uint8Array(MAP_BYTES);
  const view = new DataView(bytes.buffer);
  bytes[0] = VERSION;
  bytes[1] = OPCODE_MAP;
  view.setUint32(4, request.lifetime);
  putMapped(bytes, 8, request.clientAddress);
  bytes.set(request.nonce, 24);
  bytes[36] = TCP;
  view.setUint16(40, request.internalPort);
  view.setUint16(42, request.suggestedPort);
  putMapped(bytes, 44, "0.0.0.0"); // no preference for the external address
  return bytes;
}

/** Decodes a MAP response, or returns null for anything else (wrong version, opcode, size). */
export function decodeMapResponse(bytes: Uint8Array): PcpMapResponse | null {
  if (bytes.length < MAP_BYTES || bytes.length > 1100 || bytes.length % 4 !== 0) return null;
  if (bytes[0] !== VERSION || bytes[1] !== (RESPONSE_BIT | OPCODE_MAP)) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const mapped = bytes.subarray(44, 60);
  const isV4 = mapped.subarray(0, 10).every((b) => b === 0) && mapped[10] === 0xff &&
    mapped[11] === 0xff;
  return {
    result: bytes[3]!,
    lifetime: view.getUint32(4),
    epoch: view.getUint32(8),
    nonce: bytes.slice(24, 36),
    protocol: bytes[36]!,
    internalPort: view.getUint16(40),
    externalPort: view.getUint16(42),
    externalAddress: isV4 ? Array.from(mapped.subarray(12)).join(".") : null,
  };
}

/** Options of {@linkcode mapPortPcp}. */
export interface MapPortPcpOptions {
  /** The PCP server; by default the default route's next hop (Linux), else none. */
  gateway?: string;
  /** @default {5351} */
  port?: number;
  /** This host's address toward the gateway; by default the interface address whose network holds it. */
  clientAddress?: string;
  /** Stops asking: resolves with a refusal (and takes back what may have been granted). */
  signal?: AbortSignal;
}

/** The IPv4 address of the interface whose network holds `gateway`, or null. */
export function addressToward(gateway: string): string | null {
  const toInt = (ip: string) => ip.split(".").reduce((n, b) => (n << 8 | Number(b)) >>> 0, 0);
  try {
    for (const info of Deno.networkInterfaces()) {
      if (info.family !== "IPv4") continue;
      const mask = toInt(info.netmask);
      if ((toInt(info.address) & mask) === (toInt(gateway) & mask) && mask !== 0) {
        return info.address;
      }
    }
  } catch {
    // No permission to list interfaces.
  }
  return null;
}

/**
 * Asks the PCP server to forward TCP `internalPort` (on this host).
 * Resolves with the mapping or with why there is none; never throws for the
 * network's sake. The mapping is in the process' registry until closed.
 */
export function mapPortPcp(
  internalPort: number,
  options: MapPortPcpOptions = {},
): Promise<MappingResult> {
  return asked(options.signal, (signal) => ask(internalPort, { ...options, signal }));
}

async function ask(
  internalPort: number,
  options: MapPortPcpOptions & { signal: AbortSignal },
): Promise<MappingResult> {
  const gateway = options.gateway ?? systemGateway();
  if (gateway === null) return refused("pcp", false, "no default gateway known");
  const clientAddress = options.clientAddress ?? addressToward(gateway);
  if (clientAddress === null) return refused("pcp", false, `no address on ${gateway}'s network`);
  const port = options.port ?? PCP_PORT;
  const server = { address: gateway, port };
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const request = (lifetime: number, suggestedPort: number) =>
    encodeMapRequest({ nonce, clientAddress, internalPort, suggestedPort, lifetime });
  const remove = () =>
    exchange(server, request(0, 0), nonce, internalPort, DELETE_WAIT_MS, DELETE_WAIT_MS).then(
      () => {},
    );
  const { answer, heard } = await exchange(
    server,
    request(PCP_LIFETIME_S, internalPort),
    nonce,
    internalPort,
    PCP_PROBE_MS,
    PCP_WAIT_MS,
    options.signal,
  );
  if (answer === null) {
    if (heard || options.signal.aborted) await deletion(remove);
    if (options.signal.aborted) return refused("pcp", heard, "stopped");
    return heard
      ? refused("pcp", true, `${gateway} answered, but not a PCP MAP answer for this request`)
      : refused("pcp", false, `no answer from ${gateway} within ${PCP_PROBE_MS} ms`);
  }
  if (answer.result !== 0) {
    const meaning = RESULTS[answer.result] ?? "unknown result";
    return refused("pcp", true, `${gateway} refused: result ${answer.result}, ${meaning}`);
  }
  const external = answer.externalAddress;
  if (external === null || external === "0.0.0.0" || answer.externalPort === 0) {
    await deletion(remove);
    return refused("pcp", true, `${gateway} granted no usable IPv4 address and port`);
  }
  const address = formatHostPort(external, answer.externalPort);
  return { protocol: "pcp", mapping: grantedMapping("pcp", address, remove) };
}

/**
 * Sends `request` to the server, again after 50 ms, 100 ms more, … until
 * an answer to it, `waitMs`, the signal, or `probeMs` without any datagram
 * from the server at all. `heard`: the server sent something.
 */
async function exchange(
  server: { address: string; port: number },
  request: Uint8Array,
  nonce: Uint8Array,
  internalPort: number,
  probeMs: number,
  waitMs: number,
  signal?: AbortSignal,
): Promise<{ answer: PcpMapResponse | null; heard: boolean }> {
  let socket: Socket;
  try {
    socket = await bindUdp(0, false);
  } catch {
    return { answer: null, heard: false };
  }
  const started = Date.now();
  let heard = false;
  try {
    return await new Promise((resolve) => {
      let wait = FIRST_WAIT_MS;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let unlisten = () => {};
      const finish = (answer: PcpMapResponse | null) => {
        clearTimeout(timer);
        unlisten();
        resolve({ answer, heard });
      };
      socket.on("message", (message: Uint8Array, from: { address: string; port: number }) => {
        if (from.address !== server.address || from.port !== server.port) return;
        heard = true;
        const answer = decodeMapResponse(message);
        if (
          answer !== null && answer.protocol === TCP && answer.internalPort === internalPort &&
          answer.nonce.every((b, i) => b === nonce[i])
        ) finish(answer);
      });
      const send = () => {
        const elapsed = Date.now() - started;
        const until = heard ? waitMs : probeMs;
        if (elapsed >= until) return finish(null);
        socket.send(request, server.port, server.address, () => {});
        timer = setTimeout(send, Math.min(wait, until - elapsed));
        wait *= 2;
      };
      unlisten = whenAborted(signal, () => finish(null));
      if (!signal?.aborted) send();
    });
  } finally {
    socket.close();
  }
}
