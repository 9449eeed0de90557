import { deepEqual, equal, match } from "node:assert/strict";
import { explainNoDirect } from "./punch.ts";

/** Runs testdata/punch_pair.ts in a child process with `permissions`; returns what it printed. */
async function punchPair(permissions: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, new URL("./testdata/punch_pair.ts", import.meta.url).href],
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
    deepEqual(await punchPair(["-A"]), {
      shared: true,
      sender: "direct",
      receiver: "direct",
      echoed: true,
    });
  },
});

Deno.test("Transit.punch() without FFI still connects two sides that can reach each other", async () => {
  deepEqual(
    await punchPair(["--allow-net", "--allow-read", "--allow-env", "--allow-sys"]),
    { shared: false, sender: "direct", receiver: "direct", echoed: true },
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
    /other side's NAT changed its port/,
  );
  match(explainNoDirect(side(4000, "203.0.113.7:4999"), home), /this side's NAT changed its port/);
  match(explainNoDirect(home, home, true), /finished before/);
  match(explainNoDirect(home, side(5000, null)), /other side did not learn its public address/);
  match(explainNoDirect(side(4000, null), home), /this side did not learn its public address/);
  match(explainNoDirect(home, home), /firewall dropping incoming connections/);
});
