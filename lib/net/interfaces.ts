/**
 * This host's own addresses, as direct-connection candidates for a peer on
 * the same network (or the same machine).
 *
 * @module
 */

import { formatHostPort } from "./address.ts";

/** Options of {@linkcode localCandidates}. */
export interface LocalCandidatesOptions {
  /**
   * Include IPv6 addresses (global and unique-local, not link-local). Only
   * useful when listening on `"::"`: a listener on `"0.0.0.0"` does not
   * answer on IPv6.
   *
   * @default {false}
   */
  ipv6?: boolean;
  /**
   * The interfaces to read, for tests.
   *
   * @default {Deno.networkInterfaces()}
   */
  interfaces?: Deno.NetworkInterfaceInfo[];
}

/**
 * `ip:port` (IPv6 as `[ip]:port`) for each address of this host, best
 * first, without duplicates:
 *
 * 1. IPv4 addresses other than loopback, in the system's interface order,
 *    with link-local ones (169.254.0.0/16) after the rest;
 * 2. with `ipv6`, global IPv6 addresses (2000::/3), then unique-local ones
 *    (fc00::/7); link-local ones need a zone and are left out;
 * 3. loopback last: `127.0.0.1`, which reaches a peer only on this machine
 *    (over IPv4 also when listening on `"::"`, so `[::1]` would add nothing).
 *
 * Without permission to read the interfaces (`--allow-sys`), only the
 * loopback candidates are returned.
 *
 * @example
 * ```ts ignore
 * import { localCandidates } from "./interfaces.ts";
 * localCandidates(4000); // ["192.168.1.20:4000", "127.0.0.1:4000"]
 * ```
 */
export function localCandidates(port: number, options: LocalCandidatesOptions = {}): string[] {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Cannot list candidates: port ${port} is not a port number`);
  }
  const ipv6 = options.ipv6 ?? false;
  let interfaces = options.interfaces;
  if (interfaces === undefined) {
    try {
      interfaces = Deno.networkInterfaces();
    } catch {
      interfaces = [];
    }
  }
  const ranked: { rank: number; index: number; address: string }[] = [];
  for (const [index, { family, address }] of interfaces.entries()) {
    const rank = family === "IPv4" ? rankIPv4(address) : ipv6 ? rankIPv6(address) : null;
    if (rank !== null) ranked.push({ rank, index, address });
  }
  ranked.sort((a, b) => a.rank - b.rank || a.index - b.index);
  const addresses = [...ranked.map((entry) => entry.address), "127.0.0.1"];
  return [...new Set(addresses)].map((address) => formatHostPort(address, port));
}

/** 0 for an ordinary IPv4 address, 1 for link-local, `null` for loopback. */
function rankIPv4(address: string): number | null {
  if (address.startsWith("127.")) return null;
  return address.startsWith("169.254.") ? 1 : 0;
}

/** 2 for global, 3 for unique-local, `null` for the rest (loopback, link-local, …). */
function rankIPv6(address: string): number | null {
  const first = parseInt(address.split(":")[0] || "0", 16);
  if ((first & 0xe000) === 0x2000) return 2;
  if ((first & 0xfe00) === 0xfc00) return 3;
  return null;
}
