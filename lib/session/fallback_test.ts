import { equal, ok, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import { deriveSessionKeys, type SessionKeys } from "../crypto/keys.ts";
import { bytesToHex as hex, hexToBytes } from "@noble/hashes/utils.js";
import { RecordError, RecordSealer } from "../crypto/records.ts";
import { type Channel, SecureChannel } from "../link/channel.ts";
import { type FramePipe, memoryFramePipes } from "../link/frames.ts";
import { MigratingChannel } from "../link/migrating.ts";
import { scanPaths } from "../transfer/manifest.ts";
import { TransferError } from "../transfer/messages.ts";
import { receiveFiles } from "../transfer/receive.ts";
import { sendFiles } from "../transfer/send.ts";
import { Fallback, FALLBACK_PURPOSES, followMissedMove } from "./fallback.ts";

const MiB = 1024 * 1024;

async function sessionKeys(): Promise<[SessionKeys, SessionKeys]> {
  const isk = crypto.getRandomValues(new Uint8Array(64));
  return [await deriveSessionKeys(isk, "sender"), await deriveSessionKeys(isk, "receiver")];
}

/** A sender and a receiver on a memory relay, each channel ready to move. */
async function relayPair() {
  const [sk, rk] = await sessionKeys();
  const [ra, rb] = memoryFramePipes();
  const senderRelay = new SecureChannel(ra!, sk);
  const receiverRelay = new SecureChannel(rb!, rk);
  return {
    sk,
    rk,
    senderRelay,
    receiverRelay,
    sender: new MigratingChannel(senderRelay),
    receiver: new MigratingChannel(receiverRelay),
  };
}

/** Memory frame pipes that can be cut: from then on every frame silently vanishes, both ways. */
function cuttablePipes(): { pipes: [FramePipe, FramePipe]; cut(): void } {
  let cut = false;
  const drop = () =>
    new TransformStream<Uint8Array, Uint8Array>({
      transform(frame, controller) {
        if (!cut) controller.enqueue(frame);
      },
    });
  const [a, b] = memoryFramePipes();
  return {
    pipes: [
      { readable: a!.readable.pipeThrough(drop()), writable: a!.writable },
      { readable: b!.readable.pipeThrough(drop()), writable: b!.writable },
    ],
    cut: () => cut = true,
  };
}

/** Runs a transfer as runTransfer does: again on the relay if the direct connection broke. */
async function withFallback<T>(
  channel: MigratingChannel,
  fallback: Fallback,
  run: (channel: Channel, again: boolean) => Promise<T>,
): Promise<T> {
  try {
    return await run(channel, false);
  } catch (error) {
    if (!fallback.canTake(error)) throw error;
    return await run(await fallback.take(error, { waitMs: 10_000 }), true);
  }
}

/**
 * A sender and a receiver on a memory relay, moved to a memory direct
 * connection after 4 MiB; `breakDirect` is called after 12 MiB. Without it,
 * only the sender moves, onto a connection dead from the start.
 */
async function breakMidway(
  breakDirect?: (parts: {
    cut(): void;
    sender: MigratingChannel;
    receiver: MigratingChannel;
    senderFallback: Fallback;
  }) => void,
) {
  const src = await Deno.makeTempDir();
  const out = await Deno.makeTempDir();
  try {
    const file = crypto.getRandomValues(new Uint8Array(64 * 1024));
    const data = new Uint8Array(32 * MiB);
    for (let at = 0; at < data.length; at += file.length) data.set(file, at);
    data[20 * MiB + 7] = 42;
    await Deno.writeFile(join(src, "f.bin"), data);
    const scan = await scanPaths([join(src, "f.bin")]);

    const { sk, rk, senderRelay, receiverRelay, sender, receiver } = await relayPair();
    const senderFallback = await Fallback.create(senderRelay, sk, "sender");
    const receiverFallback = await Fallback.create(receiverRelay, rk, "receiver");
    senderFallback.watch(sender);
    receiverFallback.watch(receiver);

    const direct = cuttablePipes();
    if (!breakDirect) {
      // The nominated connection dies at once: the receiver never reads the
      // nomination, and follows the sender's move to nowhere (as goDirect does).
      direct.cut();
      followMissedMove(receiver);
    }
    // The transit handshake's keys stand in: any pair that matches.
    const k1 = crypto.getRandomValues(new Uint8Array(32));
    const k2 = crypto.getRandomValues(new Uint8Array(32));
    const senderDirect = new SecureChannel(direct.pipes[0], { send: k1, receive: k2 });
    const receiverDirect = new SecureChannel(direct.pipes[1], { send: k2, receive: k1 });

    let moved = false;
    let broken = false;
    const events: string[] = [];
    const sending = withFallback(sender, senderFallback, (channel, again) => {
      events.push(`send again=${again}`);
      return sendFiles(channel, scan, {
        onProgress: ({ bytes }) => {
          if (!moved && bytes >= 4 * MiB) {
            moved = true;
            sender.moveTo(senderDirect);
            if (breakDirect) receiver.moveTo(receiverDirect);
          }
          if (breakDirect && !again && !broken && bytes >= 12 * MiB) {
            broken = true;
            breakDirect({ cut: direct.cut, sender, receiver, senderFallback });
          }
        },
        onResume: ({ bytes }) => events.push(`resume ${bytes}`),
      });
    });
    const receiving = withFallback(
      receiver,
      receiverFallback,
      (channel, again) => {
        events.push(`receive again=${again}`);
        return receiveFiles(channel, {
          out,
          confirm: () => true,
          onKept: ({ bytes }) => events.push(`kept ${bytes > 0}`),
        });
      },
    );
    const [sent] = await Promise.all([sending, receiving]);
    equal(sent.bytes + (sent.resumed ?? 0), data.length);
    const got = await Deno.readFile(join(out, "f.bin"));
    ok(got.length === data.length && got.every((byte, i) => byte === data[i]), "same bytes");
    return events;
  } finally {
    await Deno.remove(src, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
}

Deno.test("Fallback: a direct connection reset mid-transfer, the transfer resumes on the relay", async () => {
  const events = await breakMidway(({ sender }) => {
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    sender.abortMoved(reset);
  });
  equal(events[0], "send again=false");
  ok(events.includes("send again=true"), events.join(", "));
  ok(events.includes("receive again=true"), events.join(", "));
  ok(events.includes("kept true"), events.join(", "));
  const resume = events.find((e) => e.startsWith("resume "));
  ok(resume && Number(resume.slice(7)) > 0, events.join(", "));
});

Deno.test("Fallback: a silently dead direct connection; one side's record on the relay brings the other back", async () => {
  const events = await breakMidway(({ cut, sender, senderFallback }) => {
    cut();
    // The sender notices (as after a stall); the receiver, waiting for data
    // that never comes, hears of it only through the relay.
    const stalled = new TransferError("stalled", "Nothing from the other side for 60 s");
    ok(senderFallback.canTake(stalled));
    sender.abortMoved(stalled);
  });
  ok(events.includes("send again=true"), events.join(", "));
  ok(events.includes("kept true"), events.join(", "));
});

Deno.test("Fallback: the nominated connection dies before the receiver reads the nomination", async () => {
  const events = await breakMidway();
  ok(events.includes("send again=true"), events.join(", "));
  ok(events.includes("receive again=true"), events.join(", "));
});

Deno.test("Fallback: not before the transfer moved, not for a peer's failure, once only", async () => {
  const { sk, senderRelay, sender, receiver } = await relayPair();
  const fallback = await Fallback.create(senderRelay, sk, "sender");
  fallback.watch(sender);
  const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
  equal(fallback.canTake(reset), false, "still on the relay");
  throws(() => senderRelay.reopen(sk), /before both directions moved/);

  const [da, db] = memoryFramePipes();
  const k = crypto.getRandomValues(new Uint8Array(32));
  // Each side's receive() reads the other's moved record off the relay, then
  // waits on the direct carrier until the end.
  const reads = [sender.receive(), receiver.receive()].map((p) => p.catch(() => null));
  await sender.moveTo(new SecureChannel(da!, { send: k, receive: k }));
  await receiver.moveTo(new SecureChannel(db!, { send: k, receive: k }));
  await sender.moved;
  await new Promise((resolve) => setTimeout(resolve, 0));

  ok(fallback.canTake(reset));
  ok(fallback.canTake(new RecordError("truncated", "cut")));
  ok(fallback.canTake(new TransferError("stalled", "quiet")));
  ok(fallback.canTake(new TransferError("peer_error", "x", { peerCode: "stalled" })));
  equal(fallback.canTake(new TransferError("integrity", "bad digest")), false);
  equal(fallback.canTake(new TransferError("peer_error", "x", { peerCode: "io" })), false);
  equal(fallback.canTake(new RecordError("tampered", "bad tag")), false);
  equal(fallback.canTake(new Error("other")), false);

  // Nobody answers on the relay: the original error comes back.
  await rejects(fallback.take(reset, { waitMs: 50 }), (error) => error === reset);
  equal(fallback.canTake(reset), false, "once only");
  sender.abort();
  receiver.abort();
  await Promise.all(reads);
});

Deno.test("Fallback: keys and the 'back on the relay' records of the documented session (transit.md)", async () => {
  // The ISK of crypto.md's example session; keys and frames checked against
  // @noble/hashes' HKDF and @noble/ciphers' ChaCha20-Poly1305.
  const isk = hexToBytes(
    "87c4ac20f4a6621602b5fcb844d3dd49da23429a890158b88e0025b1724441262f7a2c36278beb55ee79ae20a2aeafb1ad0dfb6c40f0e0c13ddaf0712849c73a",
  );
  const keys = await deriveSessionKeys(isk, "sender");
  const toReceiver = await keys.deriveBytes(FALLBACK_PURPOSES.sender);
  const toSender = await keys.deriveBytes(FALLBACK_PURPOSES.receiver);
  equal(hex(toReceiver), "be46cfd25e6da5d1886b38f26398b17e16e2cb7fcf741e0f68b6650ead439a00");
  equal(hex(toSender), "9c893cb903997fb91b36336392010656923fc4fafeeef895624734acae329a5b");
  equal(
    hex(new RecordSealer(toReceiver).seal(new Uint8Array())),
    "00dd945e2ab5c28598281700fbacc9e7f0",
  );
  equal(
    hex(new RecordSealer(toSender).seal(new Uint8Array())),
    "0014ea393ffcd546cb09413f90eb19a3d0",
  );
});
