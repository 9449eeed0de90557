/** The examples run as they are documented. */

import { equal, match } from "node:assert/strict";

const EXAMPLE = new URL("../examples/send_a_file.ts", import.meta.url).pathname;

Deno.test("examples/send_a_file.ts sends a file, going direct on loopback", async () => {
  const file = await Deno.makeTempFile({ prefix: "punch-example-" });
  // Large enough that the transfer still runs when the direct path is found.
  const body = "sent by the example\n".repeat(3 * 1024 * 1024);
  await Deno.writeTextFile(file, body);
  try {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", EXAMPLE, file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stdout);
    equal(code, 0, new TextDecoder().decode(stderr));
    match(text, /^path: relay$/m);
    match(text, /^path: direct /m);
    const out = /into (\S+)$/m.exec(text)![1]!;
    const name = file.split("/").pop()!;
    equal(await Deno.readTextFile(`${out}/${name}`), body);
    await Deno.remove(out, { recursive: true });
  } finally {
    await Deno.remove(file);
  }
});
