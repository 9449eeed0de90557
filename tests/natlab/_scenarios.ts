/** The named topologies of the NAT lab, their addresses and router rules. */

/**
 * How a host reaches the internet.
 * - `none`: a public address on the internet bridge.
 * - `home`: a port-preserving NAT that drops unsolicited inbound packets.
 * - `symmetric`: a NAT that picks a random public port per connection.
 * - `rst`: like `home`, but answers unsolicited inbound SYNs with a RST.
 */
export type NatKind = "none" | "home" | "symmetric" | "rst";

/** The name of a topology. */
export type ScenarioName =
  | "no-nat"
  | "home-both"
  | "public-one"
  | "same-lan"
  | "symmetric-one"
  | "symmetric-both"
  | "home-lossy"
  | "rst-nat"
  | "rst-both"
  | "symmetric-ipv6"
  | "natpmp-symmetric"
  | "rst-both-0"
  | "rst-both-20"
  | "upnp-symmetric"
  | "pcp-symmetric";

/**
 * How router a forwards a port on request (miniupnpd): NAT-PMP (RFC 6886),
 * UPnP IGD, or PCP (RFC 6887).
 */
export type PortMappingKind = "natpmp" | "upnp" | "pcp";

/**
 * The internet between the hosts and routers on it.
 * - `flat`: one bridge; every public address is one hop from every other.
 * - `routed`: a core router with a link of its own to each side (a, b) and
 *   to the server, each link with a one-way delay (see {@linkcode LinkDelays}).
 */
export type InternetKind = "flat" | "routed";

/**
 * One-way delay in ms of each link of a routed internet, added to every
 * packet that crosses it, either way: a→b takes `a + b`, a→server `a + server`.
 */
export interface LinkDelays {
  readonly a: number;
  readonly b: number;
  readonly server: number;
}

/** No delay on any link. */
export const NO_DELAY: LinkDelays = Object.freeze({ a: 0, b: 0, server: 0 });

/** A topology: where peers a and b sit. The server is always public. */
export interface Scenario {
  readonly name: ScenarioName;
  readonly description: string;
  readonly a: NatKind;
  readonly b: NatKind;
  /** a and b share one LAN behind one router (router "a"). */
  readonly sameLan: boolean;
  /** Each router delays and drops packets (see `LOSSY_*`). */
  readonly lossy: boolean;
  /**
   * a and b also have global IPv6 addresses, routed without translation
   * through their routers, whose IPv6 firewalls drop unsolicited inbound
   * connections (see `IPV6` and {@linkcode router6Rules}). Otherwise IPv6
   * is off in every namespace.
   */
  readonly ipv6: boolean;
  /**
   * Router a also runs miniupnpd and forwards a public port to a host that
   * asks, through this protocol only (see `NATPMP` and {@linkcode miniupnpdConfig}).
   */
  readonly portMapping: PortMappingKind | null;
  /** The internet: one bridge, or a core router between the sides. */
  readonly internet: InternetKind;
  /** A routed internet's link delays (all 0 on a flat one). */
  readonly linkDelayMs: LinkDelays;
}

function scenario(
  name: ScenarioName,
  description: string,
  a: NatKind,
  b: NatKind,
  extra: {
    sameLan?: boolean;
    lossy?: boolean;
    ipv6?: boolean;
    portMapping?: PortMappingKind;
    internet?: InternetKind;
    linkDelayMs?: LinkDelays;
  } = {},
): Scenario {
  return {
    name,
    description,
    a,
    b,
    sameLan: extra.sameLan ?? false,
    lossy: extra.lossy ?? false,
    ipv6: extra.ipv6 ?? false,
    portMapping: extra.portMapping ?? null,
    internet: extra.internet ?? "flat",
    linkDelayMs: extra.linkDelayMs ?? NO_DELAY,
  };
}

/** Every topology, by name. */
export const SCENARIOS: Readonly<Record<ScenarioName, Scenario>> = {
  "no-nat": scenario("no-nat", "a and b on the internet with public addresses", "none", "none"),
  "home-both": scenario(
    "home-both",
    "a and b each behind its own home NAT (port-preserving, drops unsolicited SYNs)",
    "home",
    "home",
  ),
  "public-one": scenario("public-one", "a public, b behind a home NAT", "none", "home"),
  "same-lan": scenario(
    "same-lan",
    "a and b on one LAN behind one home NAT",
    "home",
    "home",
    { sameLan: true },
  ),
  "symmetric-one": scenario(
    "symmetric-one",
    "a behind a symmetric NAT (random port per connection), b behind a home NAT",
    "symmetric",
    "home",
  ),
  "symmetric-both": scenario(
    "symmetric-both",
    "a and b each behind a symmetric NAT",
    "symmetric",
    "symmetric",
  ),
  "home-lossy": scenario(
    "home-lossy",
    "home NATs on both sides, 80 ms RTT and about 1% loss between a and b",
    "home",
    "home",
    { lossy: true },
  ),
  "rst-nat": scenario(
    "rst-nat",
    "a behind a home NAT that answers unsolicited SYNs with a TCP RST, b behind a home NAT",
    "rst",
    "home",
  ),
  "rst-both": scenario(
    "rst-both",
    "a and b each behind a home NAT that answers unsolicited SYNs with a TCP RST",
    "rst",
    "rst",
  ),
  "symmetric-ipv6": scenario(
    "symmetric-ipv6",
    "a and b each behind a symmetric NAT for IPv4, with global IPv6 addresses behind " +
      "home routers' IPv6 firewalls (drop unsolicited inbound)",
    "symmetric",
    "symmetric",
    { ipv6: true },
  ),
  "natpmp-symmetric": scenario(
    "natpmp-symmetric",
    "a and b each behind a symmetric NAT; a's router forwards a port on request (NAT-PMP)",
    "symmetric",
    "symmetric",
    { portMapping: "natpmp" },
  ),
  "rst-both-0": scenario(
    "rst-both-0",
    "a and b each behind a NAT that answers unsolicited SYNs with a TCP RST, " +
      "a router between them, no delay",
    "rst",
    "rst",
    { internet: "routed" },
  ),
  "rst-both-20": scenario(
    "rst-both-20",
    "a and b each behind a NAT that answers unsolicited SYNs with a TCP RST, " +
      "a router between them, 20 ms one way between any two of a, b and the server",
    "rst",
    "rst",
    { internet: "routed", linkDelayMs: { a: 10, b: 10, server: 10 } },
  ),
  "upnp-symmetric": scenario(
    "upnp-symmetric",
    "a and b each behind a symmetric NAT, a router between them; a's router forwards " +
      "a port on request through UPnP IGD only",
    "symmetric",
    "symmetric",
    { internet: "routed", portMapping: "upnp" },
  ),
  "pcp-symmetric": scenario(
    "pcp-symmetric",
    "a and b each behind a symmetric NAT, a router between them; a's router forwards " +
      "a port on request through PCP only",
    "symmetric",
    "symmetric",
    { internet: "routed", portMapping: "pcp" },
  ),
};

/** Delay each lossy router adds to every packet it forwards, each way: 4 × 20 = 80 ms a↔b. */
export const LOSSY_DELAY_MS = 20;
/** Share of forwarded packets each lossy router drops: two routers ≈ 1% per direction. */
export const LOSSY_DROP_PROBABILITY = 0.005;
/** The NFQUEUE number the delay program serves inside each router namespace. */
export const DELAY_QUEUE = 0;

/**
 * The server's uplink, a token bucket (`tc qdisc tbf`) on its one interface:
 * 200 Mbit/s, 25 MB/s, so that the relay moves the tests' 128 MiB in about
 * five seconds, as a shared relay far away would, while a direct connection
 * (which never crosses the server) runs at this machine's speed. Without it
 * which path ended a transfer was a race: the relay moved 128 MiB in half a
 * second, before a RST-answering NAT's punching was through (seen in CI).
 */
export const SERVER_UPLINK = { rate: "200mbit", burst: "256kb", latency: "50ms" } as const;

/** The internet: one bridge, one /16, only inside the lab's namespaces. */
export const INTERNET_PREFIX = 16;
/** Public addresses by role. */
export const PUBLIC_IP = {
  server: "10.200.0.10",
  a: "10.200.0.11",
  b: "10.200.0.12",
  routerA: "10.200.0.21",
  routerB: "10.200.0.22",
} as const;
/** The LAN of each side (a /24); the router is .1, the host .10 (same-lan: b is .11). */
export const LAN_NET = { a: "192.168.1", b: "192.168.2" } as const;

/**
 * The routed internet's links, a /24 each: the core router is .1 on each,
 * and a host keeps the last byte of its flat address (server .10, a .11,
 * b .12, router a .21, router b .22), so that router a is 10.201.0.21.
 */
export const ROUTED_LINK = { server: "10.200.0", a: "10.201.0", b: "10.202.0" } as const;
/** The prefix of each routed link. */
export const ROUTED_PREFIX = 24;
/** NFQUEUE numbers of the core router's delay programs, one per link. */
export const LINK_QUEUE = { a: 1, b: 2, server: 3 } as const;

/** A role with a public address: a host on the internet, or a router's WAN side. */
export type PublicRole = keyof typeof PUBLIC_IP;

/** The link of the routed internet that `role` sits on. */
export function linkOf(role: PublicRole): keyof typeof ROUTED_LINK {
  return role === "server" ? "server" : role === "a" || role === "routerA" ? "a" : "b";
}

/** The public address of `role` on a flat or routed internet. */
export function publicIp(internet: InternetKind, role: PublicRole): string {
  if (internet === "flat") return PUBLIC_IP[role];
  return `${ROUTED_LINK[linkOf(role)]}.${PUBLIC_IP[role].split(".")[3]}`;
}

/**
 * Port mapping on router a (scenarios with `portMapping`), by miniupnpd.
 * miniupnpd refuses to work with a private public address ("not public
 * routable"), as every address of the lab's internet is; so router a also
 * answers on `externalIp`, an ordinary public address that never leaves the
 * lab's namespaces, which it reports to its clients, and the internet
 * routes it to router a (router b on-link on a flat internet, the core
 * router through router a on a routed one). It forwards only to its own
 * LAN's hosts, ports 1024 and up. UPnP's description and control are
 * served on `httpPort` of the router's LAN address.
 */
export const NATPMP = { externalIp: "45.0.0.21", httpPort: 5000 } as const;

/**
 * The core router's rules on a routed internet: every packet that enters
 * from, or leaves over, a link with a delay goes through that link's
 * NFQUEUE (`LINK_QUEUE`) to a delay program, so a packet from a to b is
 * held `a` ms coming in and `b` ms going out. No filtering, no NAT.
 */
export function coreRules(delays: LinkDelays): string {
  const links = (Object.keys(LINK_QUEUE) as (keyof typeof LINK_QUEUE)[]).filter((link) =>
    delays[link] > 0
  );
  const queue = (link: keyof typeof LINK_QUEUE) => `-j NFQUEUE --queue-num ${LINK_QUEUE[link]}`;
  return [
    "*raw",
    ...links.map((link) => `-A PREROUTING -i link-${link} ${queue(link)}`),
    "COMMIT",
    "*mangle",
    ...links.map((link) => `-A POSTROUTING -o link-${link} ${queue(link)}`),
    "COMMIT",
    "",
  ].join("\n");
}

/**
 * The IPv6 plan of scenarios with `ipv6` (documentation prefix 2001:db8::/32,
 * all /64): the routers' WAN addresses on the internet bridge, and each
 * side's LAN prefix, where the router is ::1 and the host ::10. Each router
 * routes the other side's LAN through the other router; the server has no
 * IPv6, so the rendezvous is reached over IPv4 only.
 */
export const IPV6 = {
  wan: { a: "2001:db8::21", b: "2001:db8::22" },
  lan: { a: "2001:db8:a::", b: "2001:db8:b::" },
  prefix: 64,
} as const;

/**
 * The iptables-restore input for one NAT router.
 *
 * - MASQUERADE on wan0 is the NAT. Linux keeps the source port when it is
 *   free, so it is port-preserving with endpoint-independent mapping;
 *   `--random-fully` picks a random port per connection: a symmetric NAT.
 * - Inbound packets on wan0 that start a connection (conntrack NEW) or that
 *   conntrack cannot place (INVALID) are dropped, both to the router itself
 *   (INPUT: an unsolicited SYN to the public address) and through it
 *   (FORWARD): a home router's firewall. Without the INPUT rule the router's
 *   own kernel would answer such SYNs with a RST.
 * - The `rst` kind answers NEW inbound TCP with a RST instead.
 * - With `portForwards` (miniupnpd on the router), inbound connections the
 *   router translated to a LAN host (its port forwards) pass first.
 * - Lossy: a random share of forwarded packets is dropped, and every packet
 *   entering the router goes through NFQUEUE to the delay program.
 */
export function routerRules(nat: NatKind, lossy: boolean, portForwards = false): string {
  const masquerade = nat === "symmetric" ? "MASQUERADE --random-fully" : "MASQUERADE";
  const lines = ["*raw"];
  if (lossy) lines.push(`-A PREROUTING -j NFQUEUE --queue-num ${DELAY_QUEUE}`);
  lines.push("COMMIT", "*nat", `-A POSTROUTING -o wan0 -j ${masquerade}`, "COMMIT", "*filter");
  if (lossy) {
    lines.push(
      `-A FORWARD -m statistic --mode random --probability ${LOSSY_DROP_PROBABILITY} -j DROP`,
    );
  }
  if (portForwards) lines.push("-A FORWARD -i wan0 -m conntrack --ctstate DNAT -j ACCEPT");
  for (const chain of ["INPUT", "FORWARD"]) {
    lines.push(`-A ${chain} -i wan0 -m conntrack --ctstate INVALID -j DROP`);
    if (nat === "rst") {
      lines.push(
        `-A ${chain} -i wan0 -p tcp -m conntrack --ctstate NEW -j REJECT --reject-with tcp-reset`,
      );
    }
    lines.push(`-A ${chain} -i wan0 -m conntrack --ctstate NEW -j DROP`);
  }
  lines.push("COMMIT", "");
  return lines.join("\n");
}

/**
 * The ip6tables-restore input for a router of an `ipv6` scenario: no
 * translation, a home router's IPv6 firewall. ICMPv6 passes (neighbour
 * discovery, and the errors path MTU discovery needs, as RFC 4890 asks of
 * firewalls); inbound packets that start a connection or that conntrack
 * cannot place are dropped, to the router and through it; whatever a LAN
 * host started is let back in.
 */
export function router6Rules(): string {
  const lines = ["*filter"];
  for (const chain of ["INPUT", "FORWARD"]) {
    lines.push(
      `-A ${chain} -p ipv6-icmp -j ACCEPT`,
      `-A ${chain} -i wan0 -m conntrack --ctstate INVALID -j DROP`,
      `-A ${chain} -i wan0 -m conntrack --ctstate NEW -j DROP`,
    );
  }
  lines.push("COMMIT", "");
  return lines.join("\n");
}
