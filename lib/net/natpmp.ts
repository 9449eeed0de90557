/**
 * Asking the home router to forward a TCP port: NAT-PMP (RFC 6886), which
 * routers running miniupnpd (OpenWrt and many others) and Apple's answer.
 * A side behind such a router becomes reachable on the mapped public port,
 * so the other side can connect to it even where no hole can be punched (a
 * symmetric NAT on either side).
 *
 * Protocol flow (docs/protocol/transit.md, "Port mapping"):
 * - The gateway is the default route's next hop (`/proc/net/route`: Linux
 *   only; elsewhere no mapping is asked for).
 * - From any UDP port, to gateway:5351, both at once: the public address
 *   request (`00 00`) and a TCP mapping request for P, each sent again
 *   after 50 ms, 150 ms, …. A router that has not answered the first within
 *   {@linkcode NATPMP_PROBE_MS} has no NAT-PMP; one that has gets until
 *   {@linkcode NATPMP_WAIT_MS} for the second.
 * - Only answers from gateway:5351 with the right opcode, result 0 and our
 *   internal port count; the mapping's public `ip:port` becomes a candidate.
 * - The mapping's `close()` deletes it (lifetime 0), once the punch window
 *   is over: a connection made through it lives on in the router's
 *   connection tracking. lib/net/portmap.ts asks this beside PCP and UPnP.
 *
 * @module
 */

import type { Socket } from "node:dgram";
import { formatHostPort } from "./address.ts";
import { bindUdp } from "../discovery/_udp.ts";
import { whenAborted } from "../_abort.ts";
import { asked, deletion, grantedMapping, type MappingResult, refused } from "./_mapping.ts";

/** NAT-PMP's server port on the gateway. */
export const NATPMP_PORT = 5351;

/** Seconds a mapping is asked for: the punch window with room to spare; deleted sooner when done. */
export const MAPPING_LIFETIME_S = 60;

/**
 * First wait for an answer, doubled for each resend. RFC 6886 §3.1 starts
 * at 250 ms for a client that waits as long as it takes; punch waits
 * {@linkcode NATPMP_WAIT_MS} at most, so it resends sooner.
 */
const FIRST_WAIT_MS = 50;

/**
 * How long the gateway has to answer the public address request before it
 * is taken to have no NAT-PMP. A router that has it answers from its LAN
 * within milliseconds; one without may say nothing at all (Deno's UDP
 * sockets do not report ICMP port unreachable), and the candidates wait for
 * this as long as the rendezvous' answer takes at least: most routers cost
 * this much, so it is short.
 */
export const NATPMP_PROBE_MS = 100;

/** How long a gateway that has answered gets for the mapping (which it may have to set up). */
export const NATPMP_WAIT_MS = 250;

/** The public address request: version 0, opcode 0. */
export function encodeAddressRequest(): Uint8Array {
  return Uint8Array.of(0, 0);
}

/**
 * A TCP mapping request (opcode 2): internal port, suggested public port,
 * lifetime in seconds (0 with suggested port 0 deletes the mapping).
 */
export function encodeMapRequest(internal: number, external: number, lifetime: number): Uint8Array {
  const bytes = new Uint8Array(12);
  const view = new DataView(bytes.buffer);
  view.setUint8(1, 2);
  view.setUint16(4, internal);
  view.setUint16(6, external);
  view.setUint32(8, lifetime);
  return bytes;
}

/** An answer: the public address (opcode 128) or a TCP mapping (opcode 130). */
export type NatPmpAnswer = AddressAnswer | MapAnswer;
type AddressAnswer = { op: "address"; result: number; address: string };
type MapAnswer = {
  op: "map";
  result: number;
  internal: number;
  external: number;
  lifetime: number;
};

/** Whether `answer` is the answer to a mapping request for `internalPort`. */
const mapsPort = (internalPort: number) => (answer: NatPmpAnswer): answer is MapAnswer =>
  answer.op === "map" && answer.internal === internalPort;

/** Decodes an answer, or returns null for anything else (wrong version, opcode or size). */
export function decodeAnswer(bytes: Uint8Array): NatPmpAnswer | null {
  if (bytes.length < 12 || bytes[0] !== 0) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const result = view.getUint16(2);
  if (bytes[1] === 128) {
    return { op: "address", result, address: Array.from(bytes.subarray(8, 12)).join(".") };
  }
  if (bytes[1] === 130 && bytes.length >= 16) {
    return {
      op: "map",
      result,
      internal: view.getUint16(8),
      external: view.getUint16(10),
      lifetime: view.getUint32(12),
    };
  }
  return null;
}

/**
 * The IPv4 next hop of the default route in `/proc/net/route`'s text, or
 * null. Its fields are hexadecimal, the addresses in the host's (little-
 * endian) byte order.
 */
export function defaultGateway(routes: string): string | null {
  for (const line of routes.split("\n").slice(1)) {
    const [, destination, gateway, flags, , , , mask] = line.trim().split(/\s+/);
    // RTF_UP (1) and RTF_GATEWAY (2).
    if (destination !== "00000000" || mask !== "00000000" || (Number(`0x${flags}`) & 3) !== 3) {
      continue;
    }
    const value = Number(`0x${gateway}`);
    if (!Number.isInteger(value) || value === 0) continue;
    return [0, 8, 16, 24].map((shift) => (value >>> shift) & 255).join(".");
  }
  return null;
}

/** Options of {@linkcode mapPortNatPmp}. */
export interface MapPortOptions {
  /** The gateway to ask; by default the default route's next hop (Linux), else none. */
  gateway?: string;
  /** The port to ask on. @default {5351} */
  port?: number;
  /** Stops asking: resolves with a refusal (and takes back what may have been granted). */
  signal?: AbortSignal;
}

/** What NAT-PMP's result codes mean (RFC 6886 §3.5). */
const RESULTS: Readonly<Record<number, string>> = {
  1: "unsupported version",
  2: "not authorized or refused",
  3: "network failure",
  4: "out of resources",
  5: "unsupported opcode",
};

/**
 * Asks the gateway to forward TCP `internalPort` (on this host) from the
 * internet. Resolves with the mapping, or with why there is none: no
 * gateway, no answer in time ({@linkcode NATPMP_PROBE_MS},
 * {@linkcode NATPMP_WAIT_MS}), a refusal. Never throws for the network's
 * sake. The mapping is in the process' registry until closed
 * (`releasePortMappings`).
 */
export function mapPortNatPmp(
  internalPort: number,
  options: MapPortOptions = {},
): Promise<MappingResult> {
  return asked(options.signal, (signal) => ask(internalPort, { ...options, signal }));
}

async function ask(
  internalPort: number,
  options: MapPortOptions & { signal: AbortSignal },
): Promise<MappingResult> {
  const gateway = options.gateway ?? systemGateway();
  if (gateway === null) return refused("natpmp", false, "no default gateway known");
  const port = options.port ?? NATPMP_PORT;
  const socket = await openSocket();
  if (socket === null) return refused("natpmp", false, "no UDP socket");
  try {
    const started = Date.now();
    const noRouter = new AbortController();
    const mapping = exchange(
      socket,
      { address: gateway, port },
      encodeMapRequest(internalPort, internalPort, MAPPING_LIFETIME_S),
      mapsPort(internalPort),
      started + NATPMP_WAIT_MS,
      AbortSignal.any([noRouter.signal, options.signal]),
    );
    const public_ = await exchange(
      socket,
      { address: gateway, port },
      encodeAddressRequest(),
      (a): a is AddressAnswer => a.op === "address",
      started + NATPMP_PROBE_MS,
      options.signal,
    );
    if (public_ === null) noRouter.abort();
    const mapped = await mapping;
    const remove = () => unmap(gateway, port, internalPort);
    if (mapped === null) {
      // A router that answered (or one asked until stopped) may yet set the
      // mapping up: take it back.
      if (public_ !== null || options.signal.aborted) await deletion(remove);
      if (options.signal.aborted) return refused("natpmp", public_ !== null, "stopped");
      return public_ === null
        ? refused("natpmp", false, `no answer from ${gateway} within ${NATPMP_PROBE_MS} ms`)
        : refused("natpmp", true, `${gateway} granted no mapping within ${NATPMP_WAIT_MS} ms`);
    }
    if (mapped.result !== 0) {
      const meaning = RESULTS[mapped.result] ?? "unknown result";
      return refused("natpmp", true, `${gateway} refused: result ${mapped.result}, ${meaning}`);
    }
    if (mapped.external === 0) return refused("natpmp", true, `${gateway} granted public port 0`);
    // 0.0.0.0: the router has no public address (yet).
    if (public_ === null || public_.result !== 0 || public_.address === "0.0.0.0") {
      await deletion(remove);
      return refused("natpmp", true, `${gateway} has no public address`);
    }
    const address = formatHostPort(public_.address, mapped.external);
    return { protocol: "natpmp", mapping: grantedMapping("natpmp", address, remove) };
  } finally {
    socket.close();
  }
}

/** The default route's next hop on Linux (`/proc/net/route`), else null. */
export function systemGateway(): string | null {
  if (Deno.build.os !== "linux") return null;
  try {
    return defaultGateway(Deno.readTextFileSync("/proc/net/route"));
  } catch {
    return null;
  }
}

/** A UDP socket on any port, or null where the system refuses one. */
function openSocket(): Promise<Socket | null> {
  return bindUdp(0, false).catch(() => null);
}

/**
 * Sends `request` to gateway:port, again after 50 ms, 100 ms more, …
 * (doubling from `FIRST_WAIT_MS`), until an answer from there that `accept`
 * takes, the deadline, or the signal.
 */
function exchange<T extends NatPmpAnswer>(
  socket: Socket,
  { address: gateway, port }: { address: string; port: number },
  request: Uint8Array,
  accept: (answer: NatPmpAnswer) => answer is T,
  deadline: number,
  signal: AbortSignal | undefined,
): Promise<T | null> {
  return new Promise((resolve) => {
    let wait = FIRST_WAIT_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let unlisten = () => {};
    const finish = (answer: T | null) => {
      clearTimeout(timer);
      socket.off("message", onMessage);
      unlisten();
      resolve(answer);
    };
    const onMessage = (message: Uint8Array, from: { address: string; port: number }) => {
      // RFC 6886 §3.1: only the gateway's answers count.
      if (from.address !== gateway || from.port !== port) return;
      const answer = decodeAnswer(message);
      if (answer !== null && accept(answer)) finish(answer);
    };
    const send = () => {
      const left = deadline - Date.now();
      if (left <= 0) return finish(null);
      socket.send(request, port, gateway, () => {});
      timer = setTimeout(send, Math.min(wait, left));
      wait *= 2;
    };
    socket.on("message", onMessage);
    unlisten = whenAborted(signal, () => finish(null));
    if (!signal?.aborted) send();
  });
}

/** Deletes the mapping of `internalPort`: one request, an answer awaited briefly. */
async function unmap(gateway: string, port: number, internalPort: number): Promise<void> {
  const socket = await openSocket();
  if (socket === null) return;
  try {
    await exchange(
      socket,
      { address: gateway, port },
      encodeMapRequest(internalPort, 0, 0),
      mapsPort(internalPort),
      Date.now() + FIRST_WAIT_MS * 2,
      undefined,
    );
  } finally {
    socket.close();
  }
}
