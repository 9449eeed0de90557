import { deepEqual, equal, match, ok } from "node:assert/strict";
import { RawWebSocket } from "./_raw_ws.ts";
import { claimAs, closeAll, pair, Peer, serve, TRANSPORTS } from "./_testing.ts";

for (const transport of TRANSPORTS) {
  Deno.test(`createRendezvous() answers /healthz, /v1/reflect and 404 (${transport})`, async () => {
    await using server = serve({ transport });
    const health = await (await fetch(`${server.base}/healthz`)).json();
    equal(health.ok, true);
    equal(health.version, 1);
    const reflect = await (await fetch(`${server.base}/v1/reflect`)).json();
    match(reflect.address, /^127\.0\.0\.1:\d+$/);
    const missing = await fetch(`${server.base}/nope`);
    equal(missing.status, 404);
    await missing.body?.cancel();
    const plain = await fetch(`${server.base}/v1/ws`);
    equal(plain.status, 426);
    await plain.body?.cancel();
  });

  Deno.test(`createRendezvous() pairs two sides and passes mailbox messages both ways (${transport})`, async () => {
    await using server = serve({ transport });
    const [sender, receiver] = await pair(server.ws);
    sender.send({ type: "add", phase: "pake", body: "AAEC" });
    deepEqual(await receiver.next(), { type: "message", phase: "pake", body: "AAEC" });
    receiver.send({ type: "add", phase: "confirm", body: "" });
    deepEqual(await sender.next(), { type: "message", phase: "confirm", body: "" });
    sender.send({ type: "ping", id: 7 });
    deepEqual(await sender.next(), { type: "pong", id: 7 });
    await closeAll(sender, receiver);
  });

  Deno.test(`createRendezvous() relays binary frames in order (${transport})`, async () => {
    await using server = serve({ transport });
    const [sender, receiver] = await pair(server.ws);
    for (let i = 0; i < 50; i++) sender.socket.send(new Uint8Array(1000).fill(i));
    const frames = await receiver.binary(50);
    deepEqual(frames.map((f) => f[0]), Array.from({ length: 50 }, (_, i) => i));
    await closeAll(sender, receiver);
  });

  Deno.test(`createRendezvous() refuses a third claimant and an unknown nameplate (${transport})`, async () => {
    await using server = serve({ transport });
    const [sender, receiver, nameplate] = await pair(server.ws);
    const [third, refused] = await claimAs(server.ws, nameplate);
    deepEqual([refused.type, refused.error], ["error", "nameplate_claimed"]);
    equal((await third.closed).code, 1008);
    const [stranger, unknown] = await claimAs(server.ws, "99999999");
    equal(unknown.error, "unknown_nameplate");
    await stranger.closed;
    await closeAll(sender, receiver);
  });

  Deno.test(`createRendezvous() burns a nameplate once claimed, even after the receiver left (${transport})`, async () => {
    await using server = serve({ transport });
    const [sender, receiver, nameplate] = await pair(server.ws);
    receiver.send({ type: "release", mood: "scary" });
    deepEqual(await sender.next(), { type: "peer_gone", mood: "scary" });
    const [again, refused] = await claimAs(server.ws, nameplate);
    equal(refused.error, "nameplate_claimed");
    await closeAll(again, sender, receiver);
  });

  Deno.test(`createRendezvous() frees a nameplate when both sides leave (${transport})`, async () => {
    await using server = serve({ transport });
    const [sender, receiver] = await pair(server.ws);
    equal(server.rendezvous.stats().nameplates, 1);
    await closeAll(sender, receiver);
    for (let i = 0; i < 50 && server.rendezvous.stats().nameplates > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    equal(server.rendezvous.stats().nameplates, 0);
  });

  Deno.test(`createRendezvous() allocates a chosen nameplate once (${transport})`, async () => {
    await using server = serve({ transport });
    const first = await Peer.open(server.ws);
    first.send({ type: "allocate", nameplate: "4812" });
    deepEqual(await first.next(), { type: "allocated", nameplate: "4812" });
    const second = await Peer.open(server.ws);
    second.send({ type: "allocate", nameplate: "4812" });
    equal((await second.next()).error, "nameplate_taken");
    await closeAll(first, second);
  });

  Deno.test(`createRendezvous() drops only the offender for malformed and oversize messages (${transport})`, async () => {
    await using server = serve({ transport });
    const [sender, receiver] = await pair(server.ws);
    const cases: [unknown, string][] = [
      ["not json", "bad_message"],
      ["[1,2]", "bad_message"],
      [{ type: "launch" }, "bad_message"],
      [{ type: "claim", nameplate: "../etc" }, "bad_message"],
      [{ type: "allocate", extra: 1 }, "bad_message"],
      [{ type: "add", phase: "pake", body: "not base64!" }, "bad_message"],
      [{ type: "add", phase: "pake", body: "AA==" }, "not_paired"],
      ["x".repeat(70_000), "too_large"],
    ];
    for (const [message, code] of cases) {
      const offender = await Peer.open(server.ws);
      offender.send(message);
      equal((await offender.next()).error, code, `for ${String(message).slice(0, 40)}`);
      equal((await offender.closed).code, 1008);
    }
    const binary = await Peer.open(server.ws);
    binary.socket.send(new Uint8Array(10));
    equal((await binary.next()).error, "not_paired");
    // An oversize binary frame from a paired side drops that side only.
    const [bigSender, bigReceiver] = await pair(server.ws);
    bigSender.socket.send(new Uint8Array(2 * 1024 * 1024));
    equal((await bigSender.next()).error, "too_large");
    equal((await bigReceiver.next()).type, "peer_gone");
    // The first pair is untouched.
    sender.send({ type: "add", phase: "pake", body: "AAEC" });
    deepEqual(await receiver.next(), { type: "message", phase: "pake", body: "AAEC" });
    ok(server.rendezvous.stats().dropped >= cases.length + 2);
    await closeAll(binary, bigReceiver, sender, receiver);
  });

  Deno.test(`createRendezvous() closes sockets that never allocate or claim (${transport})`, async () => {
    await using server = serve({ transport, limits: { helloTimeoutMs: 50 } });
    const idle = await Peer.open(server.ws);
    equal((await idle.next()).error, "idle_timeout");
    await idle.closed;
  });

  Deno.test(`createRendezvous() expires unclaimed nameplates (${transport})`, async () => {
    await using server = serve({ transport, limits: { nameplateTtlMs: 50 } });
    const sender = await Peer.open(server.ws);
    sender.send({ type: "allocate" });
    equal((await sender.next()).type, "allocated");
    equal((await sender.next()).error, "expired");
    await sender.closed;
  });

  Deno.test(`createRendezvous() drops a sender that ignores flow control (${transport})`, async () => {
    await using server = serve({ transport, limits: { relayMaxBufferedBytes: 64 * 1024 } });
    const sender = await Peer.open(server.ws);
    sender.send({ type: "allocate" });
    const { nameplate } = await sender.next();
    // The receiver stops reading: the kernel's buffers fill, then the server's queue grows.
    const receiver = await RawWebSocket.open(server.port);
    await receiver.sendText({ type: "claim", nameplate });
    equal((await receiver.nextJson())?.type, "welcome");
    equal((await receiver.nextJson())?.type, "paired");
    equal((await sender.next()).type, "paired");
    // Both speak first, as the key exchange would: the relay opens only then.
    sender.send({ type: "add", phase: "pake", body: "" });
    await receiver.sendText({ type: "add", phase: "pake", body: "" });
    equal((await receiver.nextJson())?.type, "message");
    equal((await sender.next()).type, "message");
    receiver.socket.pause();
    const frame = new Uint8Array(256 * 1024);
    let dropped = false;
    sender.closed.then(() => dropped = true);
    for (let i = 0; i < 400 && !dropped; i++) {
      sender.socket.send(frame);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    equal((await sender.next()).error, "flow_control");
    await sender.closed;
    equal(server.rendezvous.stats().dropped, 1);
    receiver.destroy();
  });

  Deno.test(`createRendezvous() announces nameplates on the bus so instances avoid each other (${transport})`, async () => {
    await using a = serve({ transport });
    await using b = serve({ transport });
    const sender = await Peer.open(a.ws);
    sender.send({ type: "allocate", nameplate: "1234" });
    equal((await sender.next()).type, "allocated");
    await new Promise((resolve) => setTimeout(resolve, 10));
    const other = await Peer.open(b.ws);
    other.send({ type: "allocate", nameplate: "1234" });
    equal((await other.next()).error, "nameplate_taken");
    await closeAll(sender, other);
  });
}
