/**
 * Who a client is, as the rendezvous' per-address limits count it: its IPv4
 * address, or the /64 of its IPv6 address (one subscriber's usual share,
 * which it can fill with addresses at will). Behind a reverse proxy the
 * client's address comes from a header, but only from the one the operator
 * names (`--client-address-header`): any client can write any header, so
 * trusting one by default would let every client claim to be any address.
 *
 * @module
 */

import { isIPv4, isIPv6 } from "node:net";

/** A client as the rendezvous sees it. */
export interface ClientAddress {
  /** `ip:port` as reported to the client (`welcome`, `/v1/reflect`); port 0 if unknown. */
  address: string;
  /** What per-address limits count: the IPv4 address, or `prefix::/64` of an IPv6 one. */
  key: string;
}

/** The eight 16-bit groups of an IPv6 address, or undefined if it is not one. */
function ipv6Groups(ip: string): number[] | undefined {
  if (!isIPv6(ip)) return undefined;
  let text = ip.replace(/%.*$/, "");
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, v4.index) +
      `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const parse = (part: string) => part === "" ? [] : part.split(":").map((g) => parseInt(g, 16));
  const front = parse(head);
  const back = tail === undefined ? [] : parse(tail);
  const zeros = tail === undefined ? 0 : 8 - front.length - back.length;
  return [...front, ...new Array(zeros).fill(0), ...back];
}

/** What per-address limits count `ip` as: IPv4 as is (also when IPv4-mapped), IPv6 by /64. */
export function addressKey(ip: string): string {
  if (isIPv4(ip)) return ip;
  const groups = ipv6Groups(ip);
  if (groups === undefined) return ip;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

/** Formats an address as `ip:port`, bracketing IPv6. */
export function formatAddress(addr: Deno.Addr): string {
  if (addr.transport !== "tcp" && addr.transport !== "udp") return "unknown";
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return `${host}:${addr.port}`;
}

/** The client at the other end of a connection, not behind a proxy. */
export function peerAddress(addr: Deno.Addr): ClientAddress {
  const hostname = addr.transport === "tcp" || addr.transport === "udp" ? addr.hostname : "unknown";
  return { address: formatAddress(addr), key: addressKey(hostname) };
}

/**
 * The client named by a trusted proxy's header: the last element of a
 * comma-separated list (in `X-Forwarded-For`, the address the proxy itself
 * saw; earlier ones are whatever the client wrote), `ip`, `ip:port`,
 * `[ipv6]` or `[ipv6]:port`. Undefined if the header is missing or holds
 * something else: the proxy is not the one the operator described.
 */
export function headerAddress(headers: Headers, header: string): ClientAddress | undefined {
  const value = headers.get(header)?.split(",").pop()?.trim();
  if (!value) return undefined;
  const match = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(value) ??
    /^([^:]+):(\d{1,5})$/.exec(value) ?? [value, value, undefined];
  const [, ip = "", portText] = match;
  const port = portText === undefined ? 0 : Number(portText);
  if (!(isIPv4(ip) || isIPv6(ip)) || port > 65535) return undefined;
  return {
    address: ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`,
    key: addressKey(ip),
  };
}

/** Open connections per client key, each key up to a limit. */
export class AddressCounts {
  readonly #max: number;
  readonly #counts = new Map<string, number>();

  constructor(maxPerKey: number) {
    this.#max = maxPerKey;
  }

  /** Counts one more connection for `key`; false (and nothing counted) if it has its limit. */
  admit(key: string): boolean {
    const count = this.#counts.get(key) ?? 0;
    if (count >= this.#max) return false;
    this.#counts.set(key, count + 1);
    return true;
  }

  /** Counts one connection of `key` less. */
  release(key: string): void {
    const count = this.#counts.get(key) ?? 0;
    if (count <= 1) this.#counts.delete(key);
    else this.#counts.set(key, count - 1);
  }

  /** Keys with at least one connection. */
  get size(): number {
    return this.#counts.size;
  }
}
