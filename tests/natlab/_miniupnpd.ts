// The lab's port-forwarding router: miniupnpd (Debian's miniupnpd-nftables,
// 2.3) on router a, its configuration, its nftables table, its start.

import { exec } from "./_exec.ts";
import { NATPMP, type PortMappingKind } from "./_scenarios.ts";

/**
 * miniupnpd's configuration for router a, granting through `kind` only:
 * UPnP IGD (`enable_upnp`, SSDP and HTTP on lan0), or NAT-PMP and PCP,
 * which miniupnpd 2.3 serves on one socket under one switch
 * (`enable_natpmp`; there is no `enable_pcp_pmp` to split them), so the
 * other of the two is dropped before it by {@linkcode miniupnpdNft}. Rules
 * go in table `inet miniupnpd`.
 */
export function miniupnpdConfig(kind: PortMappingKind, lanNet: string): string {
  return [
    "ext_ifname=wan0",
    "listening_ip=lan0",
    `enable_natpmp=${kind === "upnp" ? "no" : "yes"}`,
    `enable_upnp=${kind === "upnp" ? "yes" : "no"}`,
    `http_port=${NATPMP.httpPort}`,
    "uuid=6e61746c-6162-4000-8000-000000000021",
    "secure_mode=yes",
    "upnp_table_name=miniupnpd",
    "upnp_nat_table_name=miniupnpd",
    `allow 1024-65535 ${lanNet}.0/24 1024-65535`,
    "deny 0-65535 0.0.0.0/0 0-65535",
    "",
  ].join("\n");
}

/**
 * The first byte of a NAT-PMP or PCP request is its version: 0 NAT-PMP, 2 PCP.
 * A router that speaks one only drops requests of the other version.
 */
const MAPPING_VERSION = { natpmp: 0, pcp: 2 } as const;

/**
 * The nftables table miniupnpd fills: its chains, jumped to from base
 * chains of their own. Forwarded packets must also pass the iptables
 * firewall, which lets in what was translated (`--ctstate DNAT`, as home
 * routers do for their port forwards). For NAT-PMP or PCP alone, requests
 * to port 5351 of the other version are dropped before miniupnpd sees them
 * (`@th,64,8`: the byte after the 8-byte UDP header).
 */
export function miniupnpdNft(kind: PortMappingKind): string {
  const only = kind === "upnp" ? "" : `
  chain only_${kind} {
    type filter hook input priority -10; policy accept;
    iifname "lan0" udp dport 5351 @th,64,8 != ${MAPPING_VERSION[kind]} drop
  }`;
  return `table inet miniupnpd {
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
  }${only}
}
`;
}

/** What miniupnpd logs to stderr (with -d) once it serves `kind`. */
const MINIUPNPD_READY: Record<PortMappingKind, string> = {
  natpmp: "Listening for NAT-PMP",
  pcp: "Listening for NAT-PMP",
  upnp: "HTTP listening on port",
};

/**
 * miniupnpd in router namespace `ns` (whose LAN is `lanNet`.0/24),
 * granting through `kind` (see `NATPMP`; the router holds its external
 * address already): its nftables table, then the daemon, tracked by the
 * lab (killed at close); resolves once it listens.
 */
export async function startMiniupnpd(
  lab: { id: string; track(child: Deno.ChildProcess): Deno.ChildProcess },
  ns: string,
  lanNet: string,
  kind: PortMappingKind,
): Promise<void> {
  await exec(["ip", "netns", "exec", ns, "nft", "-f", "-"], { stdin: miniupnpdNft(kind) });
  const config = await Deno.makeTempFile({ prefix: `natlab-${lab.id}-`, suffix: ".conf" });
  await Deno.writeTextFile(config, miniupnpdConfig(kind, lanNet));
  const daemon = lab.track(
    new Deno.Command("ip", {
      args: [
        ...["netns", "exec", ns, "miniupnpd", "-d", "-f", config],
        ...["-o", NATPMP.externalIp, "-P", `${config}.pid`],
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn(),
  );
  daemon.status.finally(() =>
    Promise.allSettled([config, `${config}.pid`].map((file) => Deno.remove(file)))
  );
  // It logs to stderr with -d, and says so once bound (MINIUPNPD_READY);
  // the log is read to the end, so that it never blocks on a full pipe.
  const listening = Promise.withResolvers<void>();
  let log = "";
  (async () => {
    for await (const chunk of daemon.stderr.pipeThrough(new TextDecoderStream())) {
      log += chunk;
      if (log.includes(MINIUPNPD_READY[kind])) listening.resolve();
      if (log.length > 65536) log = log.slice(-4096);
    }
    listening.reject(new Error(`miniupnpd did not start: ${log.trim()}`));
  })().catch(listening.reject);
  await listening.promise;
}
