// Announces one nameplate until standard input closes, for the tests that
// need a second process: deno run -A announce_child.ts NAMEPLATE HTTP_PORT

import { announce } from "../announce.ts";

const [nameplate = "", port = ""] = Deno.args;
const announcer = announce({ scope: "loopback", port: Number(port), nameplates: [nameplate] });
await announcer.ready;
console.log("ready");
for await (const _ of Deno.stdin.readable) {
  // Wait for the parent to close standard input.
}
await announcer.close();
