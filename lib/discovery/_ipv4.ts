// Helpers for IPv4 addresses: parsing, subnets and this host's interfaces.

import { networkInterfaces } from "node:os";

/** The loopback address every host has; discovery over loopback uses it. */
export const LOOPBACK = "127.0.0.1";

/** An IPv4 address of this host and the netmask of its subnet. */
export interface LocalAddress {
  /** Name of the network interface, e.g. `eth0`. */
  name: string;
  /** Dotted-quad address, e.g. `192.168.1.5`. */
  address: string;
  /** Dotted-quad netmask, e.g. `255.255.255.0`. */
  netmask: string;
  /** Whether this is a loopback interface. */
  internal: boolean;
}

const OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const IPV4_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** The address as an unsigned 32-bit number, or `undefined` if it is not a dotted quad. */
export function parseIpv4(text: string): number | undefined {
  if (!IPV4_RE.test(text)) return undefined;
  return text.split(".").reduce((sum, octet) => sum * 256 + Number(octet), 0);
}

/** Whether the text is an address in 127.0.0.0/8. */
export function isLoopback(text: string): boolean {
  const value = parseIpv4(text);
  return value !== undefined && value >>> 24 === 127;
}

/**
 * Where discovery looks: every IPv4 interface (this machine and the local
 * network), or loopback only (this machine; what the tests use, so that they
 * send nothing beyond it).
 */
export type DiscoveryScope = "network" | "loopback";

/**
 * This host's IPv4 addresses, loopback included; only 127.0.0.1 when the
 * interfaces cannot be listed (e.g. without `--allow-sys`) or `scope` is
 * `"loopback"`.
 */
export function localAddresses(scope: DiscoveryScope = "network"): LocalAddress[] {
  const found: LocalAddress[] = [];
  if (scope === "loopback") {
    return [{ name: "lo", address: LOOPBACK, netmask: "255.0.0.0", internal: true }];
  }
  let interfaces: ReturnType<typeof networkInterfaces>;
  try {
    interfaces = networkInterfaces();
  } catch {
    interfaces = {};
  }
  for (const [name, infos] of Object.entries(interfaces)) {
    for (const info of infos ?? []) {
      if (info.family !== "IPv4" || parseIpv4(info.address) === undefined) continue;
      found.push({ name, address: info.address, netmask: info.netmask, internal: info.internal });
    }
  }
  if (!found.some((local) => local.address === LOOPBACK)) {
    found.unshift({ name: "lo", address: LOOPBACK, netmask: "255.0.0.0", internal: true });
  }
  return found;
}

/**
 * One address per interface to send multicast from: 127.0.0.1 first, then
 * the first IPv4 address of every other non-loopback interface.
 */
export function multicastInterfaces(locals: readonly LocalAddress[]): string[] {
  const chosen = [LOOPBACK];
  const names = new Set<string>();
  for (const local of locals) {
    if (local.internal || names.has(local.name)) continue;
    names.add(local.name);
    chosen.push(local.address);
  }
  return chosen;
}

/**
 * The host an asker at `asker` should use to reach a server on this host:
 * 127.0.0.1 when the asker is this host, else this host's address on the
 * asker's subnet, else `""` (the asker then uses the answer's source address).
 */
export function hostForAsker(asker: string, locals: readonly LocalAddress[]): string {
  const value = parseIpv4(asker);
  if (value === undefined) return "";
  if (isLoopback(asker) || locals.some((local) => local.address === asker)) return LOOPBACK;
  for (const local of locals) {
    if (local.internal) continue;
    const address = parseIpv4(local.address);
    const mask = parseIpv4(local.netmask);
    if (address === undefined || mask === undefined || mask === 0) continue;
    if (((address ^ value) & mask) >>> 0 === 0) return local.address;
  }
  return "";
}
