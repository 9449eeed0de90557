// The rendezvous client against a hostile rendezvous (or a stranger relayed
// by an honest one): what the other side sends before the key exchange is
// bounded, and the key exchange has a deadline.

import { equal, ok, rejects } from "node:assert/strict";
import { generateCode } from "../lib/code/phrase.ts";
import { RendezvousError } from "../lib/rendezvous/client.ts";
import { PunchError } from "../lib/errors.ts";
import { RELAY_QUEUE_MAX_BYTES } from "../lib/rendezvous/defaults.ts";
import { openReceiver, openSender } from "../lib/connection/open.ts";
import { WINDOW_BYTES } from "../lib/connection/defaults.ts";
import { RECORD_MAX_PLAINTEXT, RECORD_OVERHEAD } from "../lib/crypto/records.ts";
import { closeAll, Peer, serve } from "../edge/_testing.ts";

const MAILBOX = "000102030405060708090a0b0c0d0e0f";
const CODE = generateCode("4812");
/** Nothing but the relay: these tests are about the rendezvous. */
const RELAY = { direct: "never", portMapping: false } as const;

/** The rendezvous client's error under a connection's failure. */
function rendezvousError(error: unknown): RendezvousError {
  ok(error instanceof PunchError, String(error));
  ok(error.cause instanceof RendezvousError, String(error.cause));
  return error.cause;
}

/**
 * A rendezvous that pairs every client at once and then runs `script` on
 * its socket: what a stranger who claimed the nameplate can make the relay
 * pass on.
 */
function fakeRendezvous(script: (socket: WebSocket) => void) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    const send = (msg: unknown) => socket.send(JSON.stringify(msg));
    socket.onopen = () => send({ type: "welcome", version: 1, address: "127.0.0.1:1" });
    socket.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === "allocate") {
        send({ type: "allocated", nameplate: "4812" });
        // A receiver claims a moment later.
        setTimeout(() => {
          send({ type: "paired", side: "sender", mailbox: MAILBOX });
          script(socket);
        }, 50);
      } else if (msg.type === "release") {
        socket.close();
      } else if (msg.type === "claim") {
        send({ type: "paired", side: "receiver", mailbox: MAILBOX });
        script(socket);
      }
    };
    socket.onerror = () => {};
    return response;
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** One relay message holding one whole frame of `bytes` (u32 length prefix). */
function relayMessage(bytes: number): Uint8Array {
  const message = new Uint8Array(4 + bytes);
  new DataView(message.buffer).setUint32(0, bytes);
  return message;
}

Deno.test("RELAY_QUEUE_MAX_BYTES leaves an honest peer its window and a record", () => {
  ok(RELAY_QUEUE_MAX_BYTES >= WINDOW_BYTES + RECORD_MAX_PLAINTEXT + RECORD_OVERHEAD);
});

Deno.test("openSender() fails clearly when a claimant streams relay frames before the key exchange", async () => {
  const flood = RELAY_QUEUE_MAX_BYTES + 4 * 1024 * 1024;
  await using server = fakeRendezvous((socket) => {
    const message = relayMessage(256 * 1024 - 4);
    for (let sent = 0; sent < flood; sent += message.length) socket.send(message);
    // Then a pake, which before the bound made it a wrong code after holding it all.
    socket.send(JSON.stringify({ type: "message", phase: "pake", body: btoa("x".repeat(34)) }));
  });
  const sender = await openSender(server.url, RELAY);
  await rejects(sender.ready, (error) => {
    const cause = rendezvousError(error);
    equal(cause.code, "flow_control");
    ok(cause.message.includes("before the key exchange"), cause.message);
    return true;
  });
});

Deno.test("openReceiver() fails clearly when the other side floods the mailbox", async () => {
  await using server = fakeRendezvous((socket) => {
    for (let i = 0; i < 300; i++) {
      socket.send(JSON.stringify({ type: "message", phase: "junk", body: "AAAA" }));
    }
    socket.send(JSON.stringify({ type: "message", phase: "pake", body: btoa("x".repeat(34)) }));
  });
  const receiver = await openReceiver(server.url, CODE, RELAY);
  await rejects(receiver.ready, (error) => {
    equal(rendezvousError(error).code, "too_large");
    return true;
  });
});

Deno.test("openSender() gives up when the claimant never finishes the key exchange", async () => {
  await using server = fakeRendezvous(() => {/* silent after pairing */});
  const sender = await openSender(server.url, { ...RELAY, handshakeTimeoutMs: 200 });
  await rejects(sender.ready, (error) => {
    const cause = rendezvousError(error);
    equal(cause.code, "timeout");
    ok(cause.message.includes("run punch send again"), cause.message);
    return true;
  });
});

Deno.test("openReceiver() gives up when the sender never answers the key exchange", async () => {
  await using server = fakeRendezvous(() => {});
  const receiver = await openReceiver(server.url, CODE, { ...RELAY, handshakeTimeoutMs: 200 });
  await rejects(receiver.ready, (error) => {
    equal(rendezvousError(error).code, "timeout");
    return true;
  });
});

Deno.test("openSender() waits again when its claimant leaves before the key exchange", async () => {
  await using server = serve({ transport: "hardened" });
  const sender = await openSender(server.base, RELAY);
  let unpaired = 0;
  (async () => {
    for await (const event of sender.events()) if (event.type === "unpaired") unpaired++;
  })();
  // A stranger claims the nameplate, reads the sender's pake, and leaves without a word.
  const stranger = await Peer.open(server.ws);
  stranger.send({ type: "claim", nameplate: sender.code.split("-")[0] });
  equal((await stranger.next()).type, "paired");
  equal((await stranger.next()).phase, "pake");
  await closeAll(stranger);
  const receiver = await openReceiver(server.base, sender.code, RELAY);
  await Promise.all([sender.ready, receiver.ready]);
  equal(unpaired, 1);
  await Promise.all([sender.close(), receiver.close()]);
});
