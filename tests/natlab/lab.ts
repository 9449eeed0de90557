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
import {
  DELAY_QUEUE,
  INTERNET_PREFIX,
  IPV6,
  LAN_NET,
  LOSSY_DELAY_MS,
  type NatKind,
  NATPMP,
  NATPMP_NFT,
  natpmpConfig,
  PUBLIC_IP,
  router6Rules,
  routerRules,
  type Scenario,
  type ScenarioName,
  SCENARIOS,
  SERVER_UPLINK,
} from "./_scenarios.ts";

export { type NatKind, type Scenario, type ScenarioName, SCENARIOS };

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
}

/** Whether this machine can run labs, and if not, why. */
export type LabSupport = { ok: true; lossy: boolean; natpmp: boolean; reason?: string } | {
  ok: false;
  lossy: false;
  natpmp: false;
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
  readonly namespaces: string[] = [];
  readonly #children = new Set<Deno.ChildProcess>();
  #closing: Promise<void> | undefined;

  constructor(id: string, scenario: Scenario) {
    this.id = id;
    this.scenario = scenario;
    const lanIp = (side: "a" | "b") =>
      scenario.sameLan ? `${LAN_NET.a}.${side === "a" ? 10 : 11}` : `${LAN_NET[side]}.10`;
    const routerWan = (side: "a" | "b") =>
      scenario.sameLan || side === "a" ? PUBLIC_IP.routerA : PUBLIC_IP.routerB;
    const peer = (side: "a" | "b"): LabHost => {
      const nat = scenario[side];
      return this.#host(
        side,
        nat === "none" ? PUBLIC_IP[side] : lanIp(side),
        nat === "none" ? PUBLIC_IP[side] : routerWan(side),
        nat,
        scenario.ipv6 ? `${IPV6.lan[side]}10` : null,
      );
    };
    this.hosts = {
      server: this.#host("server", PUBLIC_IP.server, PUBLIC_IP.server, "none", null),
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

/** Plugs a namespace into the internet bridge with a public address. */
async function attachToInternet(lab: LabImpl, ns: string, role: string, dev: string, addr: string) {
  const inet = lab.ns("inet");
  await addVeth(inet, `to-${role}`, ns, dev);
  await ip(inet, "link", "set", "dev", `to-${role}`, "master", "br0", "up");
  await ip(ns, "addr", "add", `${addr}/${INTERNET_PREFIX}`, "dev", dev);
  await ip(ns, "link", "set", "dev", dev, "up");
}

async function build(lab: LabImpl, options: CreateLabOptions): Promise<void> {
  const { scenario, hosts } = lab;
  const inet = await addNamespace(lab, "inet", false);
  await ip(inet, "link", "add", "name", "br0", "type", "bridge");
  await ip(inet, "link", "set", "dev", "br0", "up");

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
    await attachToInternet(lab, router.ns, `r${side}`, "wan0", router.wanIp);
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
    const restore = options.iptablesRestore ?? defaultIptablesRestore();
    if (scenario.ipv6) await routeIpv6(router, lanHosts, restore);
    if (delayBinary !== undefined) {
      lab.track(await startDelay(router.ns, delayBinary, DELAY_QUEUE, LOSSY_DELAY_MS));
    }
    const natpmp = scenario.natpmp && side === "a";
    await exec(["ip", "netns", "exec", router.ns, restore], {
      stdin: routerRules(router.nat, scenario.lossy, natpmp),
    });
    if (natpmp) await startNatpmp(lab, router);
  }
  if (scenario.natpmp) {
    // Router b reaches router a's NAT-PMP address on the internet bridge.
    const rb = lab.routers.find((router) => router.side === "b")!;
    await ip(rb.ns, "route", "add", `${NATPMP.externalIp}/32`, "dev", "wan0");
  }
}

/**
 * miniupnpd on `router` (see `NATPMP`): its nftables table, the public
 * address it reports, then the daemon, tracked by the lab (killed at
 * close); resolves once it listens.
 */
async function startNatpmp(lab: LabImpl, router: LabRouter): Promise<void> {
  await ip(router.ns, "addr", "add", `${NATPMP.externalIp}/32`, "dev", "wan0");
  await exec(["ip", "netns", "exec", router.ns, "nft", "-f", "-"], { stdin: NATPMP_NFT });
  const config = await Deno.makeTempFile({ prefix: `natlab-${lab.id}-`, suffix: ".conf" });
  await Deno.writeTextFile(config, natpmpConfig(LAN_NET[router.side]));
  const daemon = lab.track(
    new Deno.Command("ip", {
      args: [
        ...["netns", "exec", router.ns, "miniupnpd", "-d", "-f", config],
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
  // It logs to stderr with -d, "Listening for NAT-PMP/PCP traffic" once
  // bound; the log is read to the end, so that it never blocks on a full pipe.
  const listening = Promise.withResolvers<void>();
  let log = "";
  (async () => {
    for await (const chunk of daemon.stderr.pipeThrough(new TextDecoderStream())) {
      log += chunk;
      if (log.includes("Listening for NAT-PMP")) listening.resolve();
      if (log.length > 65536) log = log.slice(-4096);
    }
    listening.reject(new Error(`miniupnpd did not start: ${log.trim()}`));
  })().catch(listening.reject);
  await listening.promise;
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
  const lab = new LabImpl(newId(), scenario);
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
  return support.ok && (!scenario.lossy || support.lossy) && (!scenario.natpmp || support.natpmp);
}

/**
 * Whether labs can run here: root, `ip`, `tc`, `iptables` and `sysctl` present,
 * and a namespace can be created. `lossy` also needs gcc and libnetfilter-queue,
 * `natpmp` miniupnpd and nft.
 */
export async function labSupport(): Promise<LabSupport> {
  if (Deno.build.os !== "linux") {
    return { ok: false, lossy: false, natpmp: false, reason: "not Linux" };
  }
  if (Deno.uid() !== 0) return { ok: false, lossy: false, natpmp: false, reason: "not root" };
  const commands = [
    ["ip", ["-V"]],
    ["tc", ["-V"]],
    ["iptables", ["-V"]],
    ["sysctl", ["-V"]],
  ] as const;
  for (const [command, args] of commands) {
    if (!await hasCommand(command, args)) {
      return { ok: false, lossy: false, natpmp: false, reason: `${command} is missing` };
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
      natpmp: false,
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
  const natpmp = await hasCommand("miniupnpd", ["--version"]) && await hasCommand("nft", ["-v"]);
  if (!natpmp) missing.push("miniupnpd or nft is missing");
  return { ok: true, lossy, natpmp, ...(missing.length ? { reason: missing.join("; ") } : {}) };
}
