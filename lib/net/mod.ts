/**
 * Socket primitives for direct connections and TCP hole punching.
 *
 * Each peer listens on a local port P and, at the same time, dials the other
 * peer's candidates *from P*, so that a NAT maps the outgoing SYNs to the
 * same public port the rendezvous server saw; a connection then arrives on
 * the listener, or completes on a dial (a TCP simultaneous open).
 *
 * Protocol flow (one peer; the other does the same):
 * - {@linkcode listenReusable} on P (0 lets the system pick); accepted
 *   sockets come from `listener.connections`.
 * - {@linkcode reflectFrom} the rendezvous server from P: `"ip:port"` as
 *   the server sees P (the public candidate); {@linkcode localCandidates}
 *   lists P on this host's own addresses (LAN candidates); a
 *   {@linkcode PortMapper} asks the router to forward a public port to P
 *   (NAT-PMP, PCP and UPnP IGD at once), where it can, and deletes the
 *   mappings on close ({@linkcode releasePortMappings} deletes what is left
 *   in the process, for its way out).
 * - Exchange candidates through the rendezvous, then {@linkcode dialFrom}
 *   P to each of the peer's, again and again (randomized intervals, a short
 *   timeout per attempt), until a connection from either side passes the
 *   session handshake. A {@linkcode ConnectionExistsError} means the
 *   listener has just accepted that very connection: take it from there.
 * - {@linkcode socketPipe} turns the chosen socket into Web streams.
 *
 * Platforms:
 *
 * | | listener shares P with dials | dials from P | how |
 * | --- | --- | --- | --- |
 * | Linux | yes | yes | FFI to libc (`--allow-ffi`, in `-A`); tested |
 * | macOS | in principle | in principle | FFI to libSystem; not yet run |
 * | Windows, or no FFI permission | no | only while nothing listens on P | `node:net` |
 *
 * {@linkcode dialFromAvailable} tells which case holds. Without it, choose
 * one role per port: listen on P and let the peer dial (works when this side
 * is reachable), or dial from P without listening (a simultaneous open still
 * works between port-preserving NATs that drop unsolicited SYNs). None of
 * these needs an unstable flag.
 *
 * Sockets are `node:net` sockets made with `allowHalfOpen: true`. Those this
 * module makes read 1 MiB at a time (twice `node:net`'s throughput), or, with
 * the `frames` option, one length-prefixed frame at a time after a handshake
 * (see {@linkcode FrameReads}); pass `largeReads: false` to wrap one with
 * `node:tls`.
 *
 * What a punching loop meets, by {@linkcode DialError} `code`:
 * - `ECONNREFUSED` (a RST: nothing listens there yet, or a NAT refuses),
 *   `ETIMEDOUT` (SYNs dropped), `EHOSTUNREACH`/`ENETUNREACH`: retry later;
 * - `EALREADY`: a dial of that same connection is still under way;
 * - {@linkcode ConnectionExistsError} (`EADDRNOTAVAIL`): the listener has the
 *   connection already, or this port closed one to that peer in the last
 *   minute (TIME_WAIT): not a failure, do not count it as one;
 * - `EADDRINUSE`: something without SO_REUSEPORT holds P (or, without FFI,
 *   anything listens there): give up on P.
 *
 * Pending dials and FFI listeners share one poll() on Deno's blocking thread
 * pool in 20 ms slices ({@linkcode POLL_SLICE_MS}); a pipe in that poll()
 * ends it whenever a dial or listener joins or leaves, so none waits for the
 * slice's end. A timed-out or aborted dial settles once its socket is
 * closed and its 4-tuple free.
 *
 * @example Punch from one side
 * ```ts ignore
 * import { dialFrom, listenReusable, localCandidates, reflectFrom } from "./mod.ts";
 *
 * await using listener = await listenReusable();
 * const mine = [
 *   await reflectFrom("https://punch.example", listener.port),
 *   ...localCandidates(listener.port),
 * ];
 * // ... send `mine`, receive the peer's candidates, then for each one:
 * const socket = await dialFrom({
 *   localPort: listener.port,
 *   host: "203.0.113.9",
 *   port: 4000,
 *   timeoutMs: 1_000,
 * });
 * ```
 *
 * @module
 */

export type { FrameReads } from "./_adopt.ts";
export * from "./address.ts";
export * from "./constants.ts";
export * from "./dial.ts";
export * from "./errors.ts";
export * from "./interfaces.ts";
export {
  type MappingResult,
  PORT_MAPPING_PROTOCOLS,
  PortMapper,
  type PortMapperOptions,
  type PortMapping,
  type PortMappingProtocol,
  releasePortMappings,
} from "./portmap.ts";
export { listenReusable, type ListenReusableOptions, type ReusableListener } from "./listen.ts";
export * from "./pipe.ts";
export * from "./reflect.ts";
