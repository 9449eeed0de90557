/**
 * `host:port` strings, the form candidates and reflected addresses travel in:
 * `192.0.2.7:4000`, `[2001:db8::7]:4000` (IPv6 in brackets), or a DNS name.
 *
 * @module
 */

/** A host (IP literal without brackets, or DNS name) and a TCP port. */
export interface HostPort {
  /** IP literal (IPv6 without brackets) or DNS name. */
  hostname: string;
  /** TCP port, 0–65535. */
  port: number;
}

/**
 * Splits `host:port`; IPv6 literals must be in brackets, which are removed.
 *
 * @throws {SyntaxError} if the text is not `host:port` with a port 0–65535.
 *
 * @example
 * ```ts
 * import { parseHostPort } from "./address.ts";
 * parseHostPort("[::1]:4000"); // { hostname: "::1", port: 4000 }
 * ```
 */
export function parseHostPort(text: string): HostPort {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]\s]+)):([0-9]{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (match === null || port > 65535) {
    throw new SyntaxError(`Cannot parse address: expected host:port, got "${text}"`);
  }
  return { hostname: match[1] ?? match[2]!, port };
}

/** Joins a host and a port, putting IPv6 literals in brackets. */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/**
 * Joins a peer's address, as a dual-stack socket reports it, and a port:
 * an IPv4-mapped IPv6 address (`::ffff:192.0.2.7`) becomes the IPv4 address
 * it stands for.
 *
 * @example
 * ```ts
 * import { formatPeerAddress } from "./address.ts";
 * formatPeerAddress("::ffff:192.0.2.7", 4000); // "192.0.2.7:4000"
 * formatPeerAddress("2001:db8::7", 4000); // "[2001:db8::7]:4000"
 * ```
 */
export function formatPeerAddress(hostname: string, port: number): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(hostname);
  return formatHostPort(mapped?.[1] ?? hostname, port);
}
