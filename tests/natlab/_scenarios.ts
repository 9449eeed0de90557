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
  | "natpmp-symmetric";

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
   * Router a also runs miniupnpd with NAT-PMP: it forwards a public port
   * to a host that asks (see `NATPMP` and {@linkcode natpmpConfig}).
   */
  readonly natpmp: boolean;
}

function scenario(
  name: ScenarioName,
  description: string,
  a: NatKind,
  b: NatKind,
  extra: { sameLan?: boolean; lossy?: boolean; ipv6?: boolean; natpmp?: boolean } = {},
): Scenario {
  return {
    name,
    description,
    a,
    b,
    sameLan: extra.sameLan ?? false,
    lossy: extra.lossy ?? false,
    ipv6: extra.ipv6 ?? false,
    natpmp: extra.natpmp ?? false,
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
    { natpmp: true },
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
 * NAT-PMP on router a (`natpmp` scenarios). miniupnpd refuses to work with
 * a private public address ("not public routable"), as every address of
 * the lab's internet is; so router a also answers on `externalIp`, an
 * ordinary public address that never leaves the lab's namespaces, which it
 * reports to NAT-PMP clients, and router b routes it on-link. It forwards
 * only to its own LAN's hosts, ports 1024 and up.
 */
export const NATPMP = { externalIp: "45.0.0.21" } as const;

/** miniupnpd's configuration for router a: NAT-PMP only, no UPnP, rules in table `inet miniupnpd`. */
export function natpmpConfig(lanNet: string): string {
  return [
    "ext_ifname=wan0",
    "listening_ip=lan0",
    "enable_natpmp=yes",
    "enable_upnp=no",
    "secure_mode=yes",
    "upnp_table_name=miniupnpd",
    "upnp_nat_table_name=miniupnpd",
    `allow 1024-65535 ${lanNet}.0/24 1024-65535`,
    "deny 0-65535 0.0.0.0/0 0-65535",
    "",
  ].join("\n");
}

/**
 * The nftables table miniupnpd fills: its chains, jumped to from base
 * chains of their own. Forwarded packets must also pass the iptables
 * firewall, which lets in what was translated (`--ctstate DNAT`, as home
 * routers do for their port forwards).
 */
export const NATPMP_NFT = `table inet miniupnpd {
  chain upnp_forward {
    type filter hook forward priority 0; policy accept;
    jump miniupnpd
  }
  chain miniupnpd {
  }
  chain upnp_prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain prerouting_miniupnpd {
  }
  chain upnp_postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
  }
  chain postrouting_miniupnpd {
  }
}
`;

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
 * - With `natpmp`, inbound connections the router translated to a LAN host
 *   (its NAT-PMP port forwards) pass first.
 * - Lossy: a random share of forwarded packets is dropped, and every packet
 *   entering the router goes through NFQUEUE to the delay program.
 */
export function routerRules(nat: NatKind, lossy: boolean, natpmp = false): string {
  const masquerade = nat === "symmetric" ? "MASQUERADE --random-fully" : "MASQUERADE";
  const lines = ["*raw"];
  if (lossy) lines.push(`-A PREROUTING -j NFQUEUE --queue-num ${DELAY_QUEUE}`);
  lines.push("COMMIT", "*nat", `-A POSTROUTING -o wan0 -j ${masquerade}`, "COMMIT", "*filter");
  if (lossy) {
    lines.push(
      `-A FORWARD -m statistic --mode random --probability ${LOSSY_DROP_PROBABILITY} -j DROP`,
    );
  }
  if (natpmp) lines.push("-A FORWARD -i wan0 -m conntrack --ctstate DNAT -j ACCEPT");
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
