/**
 * A NAT lab for tests: real hosts behind real kernel NATs, made of Linux
 * network namespaces, veth pairs and bridges. Needs root, `ip` and `tc`
 * (iproute2) and `iptables`; the lossy scenario also needs gcc and
 * libnetfilter-queue-dev. See README.md for the topologies.
 *
 * Everything a lab makes lives inside namespaces it creates: the "internet"
 * bridge sits in a namespace of its own, so nothing is added to the host's
 * own network namespace, and deleting the lab's namespaces removes every
 * veth, bridge, address, route, iptables rule and conntrack entry with them.
 *
 * ```ts
 * await using lab = await createLab("home-both");
 * const server = lab.hosts.server.run(["deno", "run", "-A", "edge/main.ts"]);
 * const peer = lab.hosts.a.run(["deno", "run", "-A", "cli/main.ts", "send", "x"]);
 * ```
 *
 * @module
 */

import { buildDelay, startDelay } from "./_delay.ts";
import { exec, hasCommand } from "./_exec.ts";
import { startMiniupnpd } from "./_miniupnpd.ts";
import {
  coreRules,
  DELAY_QUEUE,
  INTERNET_PREFIX,
  type InternetKind,
  IPV6,
  LAN_NET,
  LINK_QUEUE,
  type LinkDelays,
  linkOf,
  LOSSY_DELAY_MS,
  type NatKind,
  NATPMP,
  type PortMappingKind,
  publicIp,
  type PublicRole,
  ROUTED_LINK,
  ROUTED_PREFIX,
  router6Rules,
  routerRules,
  type Scenario,
  type ScenarioName,
  SCENARIOS,
  SERVER_UPLINK,
} from "./_scenarios.ts";

export {
  type InternetKind,
  type LinkDelays,
  type NatKind,
  type PortMappingKind,
  type Scenario,
  type ScenarioName,
  SCENARIOS,
};

/** The prefix of every namespace a lab creates: `natlab-<pid>-<random>-<role>`. */
export const NAMESPACE_PREFIX = "natlab-";

/** Options for {@linkcode LabHost.run}: those of `Deno.Command`, less `args`. */
export type RunOptions = Omit<Deno.CommandOptions, "args">;

/** A host of the lab: the server, or peer a or b. */
export interface LabHost {
  readonly name: "server" | "a" | "b";
  /** The network namespace the host lives in. */
  readonly ns: string;
  /** The host's own address (a LAN address behind a NAT). */
  readonly ip: string;
  /** The address hosts on the internet see its traffic come from. */
  readonly publicIp: string;
  /** Its global IPv6 address, in scenarios with `ipv6` (peers a and b only), else null. */
  readonly ipv6: string | null;
  /** How it reaches the internet. */
  readonly nat: NatKind;
  /** Starts `cmd` inside the host's namespace (`ip netns exec`). */
  run(cmd: readonly string[], options?: RunOptions): Deno.ChildProcess;
  /** Runs `cmd` inside the host's namespace to its end. */
  output(cmd: readonly string[], options?: RunOptions): Promise<Deno.CommandOutput>;
}

/** A NAT router of the lab. */
export interface LabRouter {
  /** The side it serves ("a" also for same-lan, where it serves both). */
  readonly side: "a" | "b";
  readonly ns: string;
  readonly nat: NatKind;
  /** Its address on the internet, the one its hosts are seen from. */
  readonly wanIp: string;
  /** Its address on its LAN, the hosts' default gateway. */
  readonly lanIp: string;
}

/** A built topology. Close it (or `await using` it) to tear it down. */
export interface Lab extends AsyncDisposable {
  readonly id: string;
  readonly scenario: Scenario;
  readonly hosts: { readonly server: LabHost; readonly a: LabHost; readonly b: LabHost };
  readonly routers: readonly LabRouter[];
  /**
   * The one-way delay of each link of a routed internet, as built (the
   * scenario's, or `CreateLabOptions.linkDelayMs`); all 0 on a flat one.
   */
  readonly linkDelayMs: LinkDelays;
  /** Every namespace this lab created, the internet's included. */
  readonly namespaces: readonly string[];
  /** `http://<server ip>:<port>`: a URL on the lab's server host. */
  serverUrl(port: number): string;
  /** Kills every process in the lab's namespaces and deletes them. Idempotent. */
  close(): Promise<void>;
}

/** Options for {@linkcode createLab}. */
export interface CreateLabOptions {
  /**
   * The iptables-restore program that loads the router rules; the
   * environment variable NATLAB_IPTABLES (e.g. `iptables-legacy`) picks the
   * backend when this is not given.
   * @default {"iptables-restore"}
   */
  iptablesRestore?: string;
  /**
   * The one-way delay of each link of a routed internet, in ms, instead of
   * the scenario's (ignored on a flat internet). A link with a delay needs
   * the delay program (`labSupport().lossy`).
   */
  linkDelayMs?: Partial<LinkDelays>;
}

/**
 * Whether this machine can run labs, and if not, why. `lossy`: the delay
 * program builds (gcc, libnetfilter-queue); `miniupnpd`: miniupnpd and nft
 * are installed, for the port mapping scenarios.
 */
export type LabSupport = { ok: true; lossy: boolean; miniupnpd: boolean; reason?: string } | {
  ok: false;
  lossy: false;
  miniupnpd: false;
  reason: string;
};

const open = new Set<LabImpl>();
let signalsHooked = false;

function onSignal(): void {
  Promise.allSettled([...open].map((lab) => lab.close())).finally(() => Deno.exit(130));
}

function hookSignals(on: boolean): void {
  if (on === signalsHooked) return;
  signalsHooked = on;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    if (on) Deno.addSignalListener(signal, onSignal);
    else Deno.removeSignalListener(signal, onSignal);
  }
}

class LabImpl implements Lab {
  readonly id: string;
  readonly scenario: Scenario;
  readonly hosts: { server: LabHost; a: LabHost; b: LabHost };
  readonly routers: LabRouter[] = [];
  readonly linkDelayMs: LinkDelays;
  readonly namespaces: string[] = [];
  readonly #children = new Set<Deno.ChildProcess>();
  #closing: Promise<void> | undefined;

  constructor(id: string, scenario: Scenario, delays: Partial<LinkDelays> = {}) {
    this.id = id;
    this.scenario = scenario;
    this.linkDelayMs = scenario.internet === "flat"
      ? { a: 0, b: 0, server: 0 }
      : { ...scenario.linkDelayMs, ...delays };
    const address = (role: PublicRole) => publicIp(scenario.internet, role);
    const lanIp = (side: "a" | "b") =>
      scenario.sameLan ? `${LAN_NET.a}.${side === "a" ? 10 : 11}` : `${LAN_NET[side]}.10`;
    const routerWan = (side: "a" | "b") =>
      address(scenario.sameLan || side === "a" ? "routerA" : "routerB");
    const peer = (side: "a" | "b"): LabHost => {
      const nat = scenario[side];
      return this.#host(
        side,
        nat === "none" ? address(side) : lanIp(side),
        nat === "none" ? address(side) : routerWan(side),
        nat,
        scenario.ipv6 ? `${IPV6.lan[side]}10` : null,
      );
    };
    this.hosts = {
      server: this.#host("server", address("server"), address("server"), "none", null),
      a: peer("a"),
      b: peer("b"),
    };
  }

  #host(
    name: LabHost["name"],
    ip: string,
    publicIp: string,
    nat: NatKind,
    ipv6: string | null,
  ): LabHost {
    const ns = this.ns(name);
    const options = (cmd: readonly string[], options: RunOptions = {}): Deno.CommandOptions => ({
      ...options,
      args: ["netns", "exec", ns, ...cmd],
      env: { DENO_NO_UPDATE_CHECK: "1", ...options.env },
    });
    return {
      name,
      ns,
      ip,
      publicIp,
      ipv6,
      nat,
      run: (cmd, runOptions) =>
        this.track(new Deno.Command("ip", options(cmd, runOptions)).spawn()),
      output: (cmd, runOptions) =>
        new Deno.Command("ip", { stdout: "piped", stderr: "piped", ...options(cmd, runOptions) })
          .output(),
    };
  }

  ns(role: string): string {
    return `${NAMESPACE_PREFIX}${this.id}-${role}`;
  }

  track(child: Deno.ChildProcess): Deno.ChildProcess {
    this.#children.add(child);
    child.status.finally(() => this.#children.delete(child));
    return child;
  }

  serverUrl(port: number): string {
    return `http://${this.hosts.server.ip}:${port}`;
  }

  close(): Promise<void> {
    this.#closing ??= this.#teardown().finally(() => {
      open.delete(this);
      if (open.size === 0) hookSignals(false);
    });
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #teardown(): Promise<void> {
    for (const child of this.#children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }
    await Promise.allSettled([...this.#children].map((child) => child.status));
    const failures = await Promise.allSettled(this.namespaces.map((ns) => deleteNamespace(ns)));
    const failed = failures.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed.length > 0) {
      throw new AggregateError(failed.map((r) => r.reason), `Cannot tear down lab ${this.id}`);
    }
  }
}

/** Kills whatever still runs in a namespace, then deletes it. */
async function deleteNamespace(ns: string): Promise<void> {
  const pids = await exec(["ip", "netns", "pids", ns]).catch(() => "");
  for (const pid of pids.split(/\s+/).filter(Boolean)) {
    try {
      Deno.kill(Number(pid), "SIGKILL");
    } catch {
      // It exited meanwhile.
    }
  }
  await exec(["ip", "netns", "delete", ns]);
}

/** Runs `ip -n ns …`. */
function ip(ns: string, ...args: string[]): Promise<string> {
  return exec(["ip", "-n", ns, ...args]);
}

/** Adds a veth from `nsA` (named `nameA`) to `nsB` (named `nameB`). */
async function addVeth(nsA: string, nameA: string, nsB: string, nameB: string): Promise<void> {
  await ip(nsA, "link", "add", "name", nameA, "type", "veth", "peer", "name", nameB, "netns", nsB);
}

async function addNamespace(
  lab: LabImpl,
  role: string,
  forward: boolean,
  ipv6 = false,
): Promise<string> {
  const ns = lab.ns(role);
  await exec(["ip", "netns", "add", ns]);
  lab.namespaces.push(ns);
  await ip(ns, "link", "set", "dev", "lo", "up");
  // IPv6 off: no router solicitations or DAD chatter, unless the scenario
  // routes IPv6; then its addresses are static, so no router advertisements
  // are taken and no duplicate detection holds addresses back.
  const sysctls = ipv6
    ? ["all", "default"].flatMap((dev) => [
      `net.ipv6.conf.${dev}.disable_ipv6=0`,
      `net.ipv6.conf.${dev}.accept_ra=0`,
      `net.ipv6.conf.${dev}.accept_dad=0`,
    ])
    : ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"];
  if (forward) sysctls.push("net.ipv4.ip_forward=1");
  if (forward && ipv6) sysctls.push("net.ipv6.conf.all.forwarding=1");
  await exec(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", ...sysctls]);
  return ns;
}

/**
 * Plugs a namespace into the internet with a public address: into the
 * bridge of a flat internet, or on a routed one into the core router's link
 * of its side (`link-a`, `link-b`, `link-server`), routed through the core.
 */
async function attachToInternet(
  lab: LabImpl,
  ns: string,
  role: PublicRole,
  dev: string,
  addr: string,
) {
  const inet = lab.ns("inet");
  if (lab.scenario.internet === "flat") {
    const port = `to-${role}`;
    await addVeth(inet, port, ns, dev);
    await ip(inet, "link", "set", "dev", port, "master", "br0", "up");
    await ip(ns, "addr", "add", `${addr}/${INTERNET_PREFIX}`, "dev", dev);
    await ip(ns, "link", "set", "dev", dev, "up");
    return;
  }
  const link = linkOf(role);
  await addVeth(inet, `link-${link}`, ns, dev);
  await ip(inet, "addr", "add", `${ROUTED_LINK[link]}.1/${ROUTED_PREFIX}`, "dev", `link-${link}`);
  await ip(inet, "link", "set", "dev", `link-${link}`, "up");
  await ip(ns, "addr", "add", `${addr}/${ROUTED_PREFIX}`, "dev", dev);
  await ip(ns, "link", "set", "dev", dev, "up");
  await ip(ns, "route", "add", "default", "via", `${ROUTED_LINK[link]}.1`);
}

/**
 * The internet's namespace: a bridge (flat), or a core router (routed),
 * whose links are added as the hosts and routers plug in; their delays are
 * set up once all are there ({@linkcode delayLinks}).
 */
async function buildInternet(lab: LabImpl): Promise<string> {
  const routed = lab.scenario.internet === "routed";
  const inet = await addNamespace(lab, "inet", routed);
  if (!routed) {
    await ip(inet, "link", "add", "name", "br0", "type", "bridge");
    await ip(inet, "link", "set", "dev", "br0", "up");
  }
  return inet;
}

/**
 * The routed internet's delays: a delay program per link that has one,
 * then the core's rules that queue to them (`coreRules`).
 */
async function delayLinks(lab: LabImpl, restore: string): Promise<void> {
  const delays = lab.linkDelayMs;
  const links = (Object.keys(LINK_QUEUE) as (keyof typeof LINK_QUEUE)[]).filter((link) =>
    delays[link] > 0
  );
  if (links.length === 0) return;
  const binary = await buildDelay();
  const inet = lab.ns("inet");
  for (const link of links) {
    lab.track(await startDelay(inet, binary, LINK_QUEUE[link], delays[link]));
  }
  await exec(["ip", "netns", "exec", inet, restore], { stdin: coreRules(delays) });
}

async function build(lab: LabImpl, options: CreateLabOptions): Promise<void> {
  const { scenario, hosts } = lab;
  const restore = options.iptablesRestore ?? defaultIptablesRestore();
  await buildInternet(lab);

  await addNamespace(lab, "server", false);
  await attachToInternet(lab, hosts.server.ns, "server", "eth0", hosts.server.ip);
  // The server's uplink cap (SERVER_UPLINK: the relay is slower than a direct path).
  const { rate, burst, latency } = SERVER_UPLINK;
  const tbf = ["tbf", "rate", rate, "burst", burst, "latency", latency];
  await exec(["tc", "-n", hosts.server.ns, "qdisc", "add", "dev", "eth0", "root", ...tbf]);

  const sides = scenario.sameLan ? (["a"] as const) : (["a", "b"] as const);
  const delayBinary = scenario.lossy ? await buildDelay() : undefined;
  for (const side of sides) {
    const host = hosts[side];
    if (host.nat === "none") {
      await addNamespace(lab, side, false);
      await attachToInternet(lab, host.ns, side, "eth0", host.ip);
      continue;
    }
    const router: LabRouter = {
      side,
      ns: await addNamespace(lab, `r${side}`, true, scenario.ipv6),
      nat: host.nat,
      wanIp: host.publicIp,
      lanIp: `${LAN_NET[side]}.1`,
    };
    lab.routers.push(router);
    await attachToInternet(
      lab,
      router.ns,
      side === "a" ? "routerA" : "routerB",
      "wan0",
      router.wanIp,
    );
    await ip(router.ns, "link", "add", "name", "lan0", "type", "bridge");
    await ip(router.ns, "addr", "add", `${router.lanIp}/24`, "dev", "lan0");
    await ip(router.ns, "link", "set", "dev", "lan0", "up");
    const lanHosts = scenario.sameLan ? [hosts.a, hosts.b] : [host];
    for (const lanHost of lanHosts) {
      const port = `to-${lanHost.name}`;
      await addNamespace(lab, lanHost.name, false, scenario.ipv6);
      await addVeth(router.ns, port, lanHost.ns, "eth0");
      await ip(router.ns, "link", "set", "dev", port, "master", "lan0", "up");
      await ip(lanHost.ns, "addr", "add", `${lanHost.ip}/24`, "dev", "eth0");
      await ip(lanHost.ns, "link", "set", "dev", "eth0", "up");
      await ip(lanHost.ns, "route", "add", "default", "via", router.lanIp);
    }
    if (scenario.ipv6) await routeIpv6(router, lanHosts, restore);
    if (delayBinary !== undefined) {
      lab.track(await startDelay(router.ns, delayBinary, DELAY_QUEUE, LOSSY_DELAY_MS));
    }
    const mapping = side === "a" ? scenario.portMapping : null;
    await exec(["ip", "netns", "exec", router.ns, restore], {
      stdin: routerRules(router.nat, scenario.lossy, mapping !== null),
    });
    if (mapping !== null) {
      await ip(router.ns, "addr", "add", `${NATPMP.externalIp}/32`, "dev", "wan0");
      await startMiniupnpd(lab, router.ns, LAN_NET[router.side], mapping);
    }
  }
  if (scenario.portMapping !== null) {
    // The internet reaches router a's mapping address: router b on the
    // bridge, or the core router through router a.
    const ra = lab.routers.find((router) => router.side === "a")!;
    const rb = lab.routers.find((router) => router.side === "b")!;
    if (scenario.internet === "flat") {
      await ip(rb.ns, "route", "add", `${NATPMP.externalIp}/32`, "dev", "wan0");
    } else {
      await ip(lab.ns("inet"), "route", "add", `${NATPMP.externalIp}/32`, "via", ra.wanIp);
    }
  }
  if (scenario.internet === "routed") await delayLinks(lab, restore);
}

function defaultIptablesRestore(): string {
  return `${Deno.env.get("NATLAB_IPTABLES") ?? "iptables"}-restore`;
}

/**
 * IPv6 for an `ipv6` scenario's side (see `IPV6`): the router's WAN and LAN
 * addresses, its route to the other side's LAN, its firewall; the hosts'
 * addresses and default route. Static addresses, no duplicate detection.
 * The firewall is loaded by `restore` with "iptables" read as "ip6tables"
 * (`iptables-legacy-restore` → `ip6tables-legacy-restore`).
 */
async function routeIpv6(router: LabRouter, hosts: LabHost[], restore: string): Promise<void> {
  const other = router.side === "a" ? "b" : "a";
  const lan = IPV6.lan[router.side];
  const address = (ns: string, addr: string, dev: string) =>
    ip(ns, "-6", "addr", "add", `${addr}/${IPV6.prefix}`, "dev", dev, "nodad");
  await address(router.ns, IPV6.wan[router.side], "wan0");
  await address(router.ns, `${lan}1`, "lan0");
  await ip(
    router.ns,
    ...["-6", "route", "add", `${IPV6.lan[other]}/${IPV6.prefix}`, "via", IPV6.wan[other]],
  );
  for (const host of hosts) {
    await address(host.ns, host.ipv6!, "eth0");
    await ip(host.ns, "-6", "route", "add", "default", "via", `${lan}1`);
  }
  const restore6 = restore.replace(/(^|\/)iptables/, "$1ip6tables");
  await exec(["ip", "netns", "exec", router.ns, restore6], { stdin: router6Rules() });
}

function newId(): string {
  const random = crypto.getRandomValues(new Uint8Array(3));
  return `${Deno.pid}-${Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * Builds the topology `name` and returns it; on any failure, removes what was
 * already made and throws. Also removes labs left by dead processes first.
 */
export async function createLab(name: ScenarioName, options: CreateLabOptions = {}): Promise<Lab> {
  const scenario = SCENARIOS[name];
  if (scenario === undefined) throw new RangeError(`Cannot create lab: unknown scenario ${name}`);
  await pruneStaleLabs();
  const lab = new LabImpl(newId(), scenario, options.linkDelayMs);
  open.add(lab);
  hookSignals(true);
  try {
    await build(lab, options);
  } catch (error) {
    await lab.close().catch(() => {});
    throw new Error(`Cannot create lab ${name}`, { cause: error });
  }
  return lab;
}

/**
 * Deletes the namespaces of labs whose process no longer runs (one killed
 * before it could tear down). Returns the deleted names.
 */
export async function pruneStaleLabs(): Promise<string[]> {
  const list = await exec(["ip", "netns", "list"]);
  const stale: string[] = [];
  for (const line of list.split("\n")) {
    const ns = line.split(" ")[0] ?? "";
    const match = ns.match(/^natlab-(\d+)-[0-9a-f]+-/);
    if (match === null || match[1] === String(Deno.pid)) continue;
    try {
      await Deno.stat(`/proc/${match[1]}`);
    } catch {
      stale.push(ns);
    }
  }
  await Promise.allSettled(stale.map((ns) => deleteNamespace(ns)));
  return stale;
}

/** Whether `scenario` can be built with what `labSupport()` found. */
export function canBuild(support: LabSupport, scenario: Scenario): boolean {
  const delayed = Object.values(scenario.linkDelayMs).some((ms) => ms > 0);
  return support.ok && (!(scenario.lossy || delayed) || support.lossy) &&
    (scenario.portMapping === null || support.miniupnpd);
}

/**
 * Whether labs can run here: root, `ip`, `tc`, `iptables` and `sysctl` present,
 * and a namespace can be created. `lossy` (and delayed links) also needs gcc
 * and libnetfilter-queue, `miniupnpd` miniupnpd and nft.
 */
export async function labSupport(): Promise<LabSupport> {
  if (Deno.build.os !== "linux") {
    return { ok: false, lossy: false, miniupnpd: false, reason: "not Linux" };
  }
  if (Deno.uid() !== 0) return { ok: false, lossy: false, miniupnpd: false, reason: "not root" };
  const commands = [
    ["ip", ["-V"]],
    ["tc", ["-V"]],
    ["iptables", ["-V"]],
    ["sysctl", ["-V"]],
  ] as const;
  for (const [command, args] of commands) {
    if (!await hasCommand(command, args)) {
      return { ok: false, lossy: false, miniupnpd: false, reason: `${command} is missing` };
    }
  }
  const probe = `${NAMESPACE_PREFIX}${newId()}-probe`;
  try {
    await exec(["ip", "netns", "add", probe]);
    await exec(["ip", "netns", "delete", probe]);
  } catch (error) {
    return {
      ok: false,
      lossy: false,
      miniupnpd: false,
      reason: `cannot create a namespace: ${error}`,
    };
  }
  const missing: string[] = [];
  let lossy = true;
  try {
    await buildDelay();
  } catch (error) {
    lossy = false;
    missing.push(`cannot build delay.c: ${error}`);
  }
  const miniupnpd = await hasCommand("miniupnpd", ["--version"]) &&
    await hasCommand("nft", ["-v"]);
  if (!miniupnpd) missing.push("miniupnpd or nft is missing");
  return { ok: true, lossy, miniupnpd, ...(missing.length ? { reason: missing.join("; ") } : {}) };
}
