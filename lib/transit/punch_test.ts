import { deepEqual, equal } from "node:assert/strict";

/** Runs testdata/punch_pair.ts in a child process with `permissions`; returns what it printed. */
async function punchPair(permissions: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, new URL("./testdata/punch_pair.ts", import.meta.url).pathname],
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
