import { deepEqual, doesNotMatch, equal, match } from "node:assert/strict";
import { explainNoDirect } from "./punch.ts";

/** Runs testdata/punch_pair.ts in a child process with `permissions`; returns what it printed. */
async function punchPair(permissions: string[], ...args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...permissions,
      new URL("./testdata/punch_pair.ts", import.meta.url).href,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  equal(code, 0, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

Deno.test({
  name: "Transit.punch() connects two sides on one host, dialing from the listening port",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const found = await punchPair(["-A"]);
    deepEqual({ ...found, addresses: undefined }, {
      shared: true,
      sender: "direct",
      receiver: "direct",
      addresses: undefined,
      echoed: true,
    });
    // An IPv4 connection accepted on the dual-stack listener reads as IPv4.
    for (const address of found.addresses) doesNotMatch(address, /::ffff:/i);
  },
});

Deno.test({
  name: "Transit.punch() connects over IPv6 too, the listener taking both families on one port",
  ignore: Deno.build.os !== "linux" ||
    !Deno.networkInterfaces().some((nic) => nic.address === "::1"),
  fn: async () => {
    const found = await punchPair(["-A"], "ipv6");
    equal(found.sender, "direct", found.sender);
    equal(found.receiver, "direct", found.receiver);
    equal(found.echoed, true);
    // Dialed from the listening port and accepted there: each side's
    // connection is [::1] and a port, never an IPv4-mapped address.
    for (const address of found.addresses) match(address, /^\[::1\]:\d+$/);
  },
});

Deno.test("Transit.punch() without FFI still connects two sides that can reach each other", async () => {
  const found = await punchPair(["--allow-net", "--allow-read", "--allow-env", "--allow-sys"]);
  deepEqual(
    { ...found, addresses: undefined },
    { shared: false, sender: "direct", receiver: "direct", addresses: undefined, echoed: true },
  );
});

Deno.test("explainNoDirect() says why, most specific cause first", () => {
  const side = (port: number, pub: string | null, candidates = [`192.168.1.5:${port}`]) => ({
    port,
    public: pub,
    candidates: pub === null ? candidates : [...candidates, pub],
  });
  const home = side(4000, "203.0.113.7:4000");
  match(explainNoDirect(home, side(5000, null, [])), /--relay-only/);
  match(explainNoDirect(side(4000, null, []), home), /could not listen/);
  match(
    explainNoDirect(home, side(5000, "198.51.100.2:6123")),
    /other side's NAT changed its port.*neither side's router granted a port forward \(UPnP IGD, NAT-PMP or PCP\)/,
  );
  match(
    explainNoDirect(
      { ...home, forwarded: "203.0.113.7:50000" },
      side(5000, "198.51.100.2:6123"),
    ),
    /the port this side's router forwards \(203\.0\.113\.7:50000\) could not be reached either/,
  );
  match(explainNoDirect(side(4000, "203.0.113.7:4999"), home), /this side's NAT changed its port/);
  match(explainNoDirect(home, home, true), /finished before/);
  match(explainNoDirect(home, side(5000, null)), /other side did not learn its public address/);
  match(explainNoDirect(side(4000, null), home), /this side did not learn its public address/);
  match(explainNoDirect(home, home), /firewall dropping incoming connections/);
  // What this side's dials met: resets, silence, or both.
  const seen = (refused: number, timedOut: number) => ({ refused, timedOut, other: 0 });
  match(
    explainNoDirect(home, home, false, seen(12, 0)),
    /all 12 dials were answered with a reset .*what would help: a port forward/,
  );
  match(
    explainNoDirect(home, home, false, seen(0, 5)),
    /none of 5 dials was answered \(a firewall dropping.*what would help/,
  );
  match(
    explainNoDirect(home, home, false, seen(3, 4)),
    /3 dials were answered with a reset and 4 not/,
  );
});
