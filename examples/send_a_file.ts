/**
 * Sends a file from one connection to another with the library, through a
 * rendezvous running in this process on loopback: the transfer starts on
 * the relay and moves onto a direct connection when one is found.
 *
 *   deno run -A examples/send_a_file.ts [FILE]
 *
 * Prints each path change and where the file arrived. Real programs give
 * `openSender()` and `openReceiver()` the same public rendezvous URL on two
 * machines; `portMapping: false` keeps this example off the router.
 *
 * @module
 */

import { createRendezvous } from "../edge/handler.ts";
import { openReceiver, openSender, receiveFiles, scanPaths, sendFiles } from "../lib/mod.ts";

const file = Deno.args[0] ?? new URL(import.meta.url).pathname;
const rendezvous = createRendezvous();
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, rendezvous.handler);
const url = `http://127.0.0.1:${server.addr.port}`;
const out = await Deno.makeTempDir({ prefix: "punch-example-" });

await using sender = await openSender(url, { portMapping: false });
await using receiver = await openReceiver(url, sender.code, { portMapping: false });
(async () => {
  for await (const event of sender.events()) {
    if (event.type === "path") {
      console.log(`path: ${event.path} ${event.address ?? event.reason ?? ""}`.trim());
    }
    if (event.type === "fallback") console.log(`back on the relay: ${event.reason}`);
  }
})();

const [sent] = await Promise.all([
  sendFiles(sender, await scanPaths([file])),
  receiveFiles(receiver, { out }),
]);
console.log(
  `sent ${sent.files} file(s), ${sent.bytes} bytes, with code ${sender.code}, into ${out}`,
);

await Promise.all([sender.close(), receiver.close()]);
await rendezvous.close();
await server.shutdown();
