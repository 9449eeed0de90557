/**
 * Finding a `punch send` on this machine or the local network when no
 * rendezvous server is configured: the sender runs the rendezvous server in
 * its own process and answers UDP multicast queries for its nameplates.
 *
 * Protocol flow (see docs/protocol/discovery.md):
 * - The sender calls {@linkcode announce}: it listens on UDP port 20558
 *   (shared with other senders on the host) in group 239.255.80.78 on every
 *   IPv4 interface, loopback included.
 * - The receiver calls {@linkcode discover}: it sends `query {id, nameplate}`
 *   to the group on loopback and on every other interface, and repeats it
 *   twice while no answer comes.
 * - A sender holding the nameplate unicasts `answer {id, nameplate, port,
 *   server id, host}` back to the query's source; the receiver ranks the
 *   answers (same host first) and tries them in order.
 *
 * ```ts ignore
 * import { announce, discover } from "./mod.ts";
 *
 * await using announcer = announce({ port: 41234, nameplates: ["4812"] });
 * await announcer.ready;
 * const servers = await discover("4812"); // [{ url: "http://127.0.0.1:41234", ... }]
 * ```
 *
 * @module
 */

export * from "./announce.ts";
export * from "./constants.ts";
export * from "./discover.ts";
export type { DiscoveryScope } from "./_ipv4.ts";
