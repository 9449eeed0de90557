/**
 * One side of a transfer's punching, alone: `Transit.open()` on PORT, then
 * at START_AT (epoch ms) `punch()` toward the other side's public address,
 * given in advance (the lab's NATs keep ports). Both sides share the
 * session key ISK (hex). Prints `{"path":"direct","ms":…}` or
 * `{"path":"relay","reason":…}` and exits 0.
 *
 * `transit_side.ts SIDE PORT PEER_HOST PEER_PORT ISK START_AT WINDOW_MS`
 *
 * @module
 */

import { hexToBytes } from "@noble/hashes/utils.js";
import { deriveSessionKeys, type Side } from "../../../lib/crypto/keys.ts";
import { Transit } from "../../../lib/transit/punch.ts";

/** No rendezvous: the peer's public address is known in advance. */
const NO_SERVER = "http://127.0.0.1:1";

const [side, port, peerHost, peerPort, isk, startAt, windowMs] = Deno.args;
const keys = await deriveSessionKeys(hexToBytes(isk!), side as Side);
const transit = await Transit.open({ server: NO_SERVER, side: side as Side, port: Number(port) });
const peerAddress = `${peerHost}:${peerPort}`;
const peer = { port: Number(peerPort), public: peerAddress, candidates: [peerAddress] };
await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())));
const started = Date.now();
const found = await transit.punch(peer, { keys, windowMs: Number(windowMs) });
const ms = Date.now() - started;
if (found.connection !== null) await found.connection.writable.close().catch(() => {});
await transit.close();
console.log(
  JSON.stringify(
    found.connection ? { path: "direct", ms } : { path: "relay", reason: found.reason },
  ),
);
