// Opens a sender's and a receiver's Transit in this process, punches between
// them on this host and sends one frame each way over what was found.
// Prints what happened as JSON. Run by punch_test.ts, once without
// --allow-ffi (the node:net fallback), and once with the argument "ipv6":
// then each side offers only [::1] with its port, so that the connection
// must be made over IPv6.

import { deriveSessionKeys } from "../../crypto/keys.ts";
import { dialFromAvailable } from "../../net/dial.ts";
import { directPipe } from "../handshake.ts";
import { Transit } from "../punch.ts";

/** A rendezvous nobody answers: reflection fails at once, LAN candidates remain. */
const NO_SERVER = "http://127.0.0.1:1";

const isk = crypto.getRandomValues(new Uint8Array(64));
const [senderKeys, receiverKeys] = await Promise.all([
  deriveSessionKeys(isk, "sender"),
  deriveSessionKeys(isk, "receiver"),
]);
const [sender, receiver] = await Promise.all([
  Transit.open({ server: NO_SERVER, side: "sender", portMapping: false }),
  Transit.open({ server: NO_SERVER, side: "receiver", portMapping: false }),
]);
const offer = (transit: Transit) =>
  Deno.args[0] === "ipv6"
    ? { ...transit.candidates, candidates: [`[::1]:${transit.candidates.port}`] }
    : transit.candidates;
const [s, r] = await Promise.all([
  sender.punch(offer(receiver), { keys: senderKeys, windowMs: 5_000 }),
  receiver.punch(offer(sender), { keys: receiverKeys, windowMs: 5_000 }),
]);
let echoed = false;
if (s.connection !== null && r.connection !== null) {
  const [sp, rp] = [directPipe(s.connection), directPipe(r.connection)];
  const big = crypto.getRandomValues(new Uint8Array(65_536));
  const [sw, rw] = [sp.writable.getWriter(), rp.writable.getWriter()];
  await sw.write(big.slice());
  await rw.write(Uint8Array.of(7));
  const [got, back] = await Promise.all([
    rp.readable.getReader().read(),
    sp.readable.getReader().read(),
  ]);
  echoed = got.value?.length === big.length && got.value.every((b, i) => b === big[i]) &&
    back.value?.[0] === 7;
  await Promise.all([sw.close(), rw.close()]);
}
await Promise.all([sender.close(), receiver.close()]);
console.log(JSON.stringify({
  shared: dialFromAvailable(),
  sender: s.connection === null ? s.reason : "direct",
  receiver: r.connection === null ? r.reason : "direct",
  addresses: [s, r].map((result) => "address" in result ? result.address : null),
  echoed,
}));
