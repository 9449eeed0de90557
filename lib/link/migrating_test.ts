import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { scanPaths } from "../transfer/manifest.ts";
import { receiveFiles } from "../transfer/receive.ts";
import { sendFiles } from "../transfer/send.ts";
import { SecureChannel } from "./channel.ts";
import { type FramePipe, memoryFramePipes } from "./frames.ts";
import { MigratingChannel } from "./migrating.ts";

/** A secure channel pair over memory, counting the frames each way. */
function securePair(): { a: SecureChannel; b: SecureChannel; frames: { ab: number; ba: number } } {
  const k1 = crypto.getRandomValues(new Uint8Array(32));
  const k2 = crypto.getRandomValues(new Uint8Array(32));
  const frames = { ab: 0, ba: 0 };
  const [pa, pb] = memoryFramePipes();
  const count = (key: "ab" | "ba") =>
    new TransformStream<Uint8Array, Uint8Array>({
      transform(frame, controller) {
        frames[key]++;
        controller.enqueue(frame);
      },
    });
  const b: FramePipe = { readable: pb!.readable.pipeThrough(count("ab")), writable: pb!.writable };
  const a: FramePipe = { readable: pa!.readable.pipeThrough(count("ba")), writable: pa!.writable };
  return {
    a: new SecureChannel(a, { send: k1, receive: k2 }),
    b: new SecureChannel(b, { send: k2, receive: k1 }),
    frames,
  };
}

Deno.test("MigratingChannel moves a running transfer to another carrier without loss or repeats", async () => {
  const src = await Deno.makeTempDir();
  const out = await Deno.makeTempDir();
  try {
    const data = crypto.getRandomValues(new Uint8Array(65536));
    const file = new Uint8Array(20 * 1024 * 1024);
    for (let i = 0; i < file.length; i += data.length) file.set(data, i);
    file[12345678] = 42;
    await Deno.writeFile(join(src, "f.bin"), file);
    const scan = await scanPaths([join(src, "f.bin")]);

    const relay = securePair();
    const direct = securePair();
    const sender = new MigratingChannel(relay.a);
    const receiver = new MigratingChannel(relay.b);
    let moved = false;
    const sending = sendFiles(sender, scan, {
      onProgress: (p) => {
        if (!moved && p.bytes >= 5 * 1024 * 1024) {
          moved = true;
          // The sender nominates; the receiver follows when it learns of it.
          sender.moveTo(direct.a);
          setTimeout(() => receiver.moveTo(direct.b), 5);
        }
      },
    });
    const [sent, received] = await Promise.all([sending, receiveFiles(receiver, { out })]);
    equal(sent.bytes, file.length);
    equal(received.bytes, file.length);
    deepEqual(await Deno.readFile(join(out, "f.bin")), file);
    await Promise.all([sender.moved, receiver.moved]);
    equal(sender.path, "direct");
    ok(
      relay.frames.ab >= 5 && direct.frames.ab >= 10,
      JSON.stringify([relay.frames, direct.frames]),
    );
  } finally {
    await Deno.remove(src, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("MigratingChannel without a move behaves like its first channel", async () => {
  const relay = securePair();
  const a = new MigratingChannel(relay.a);
  const b = new MigratingChannel(relay.b);
  await a.send(Uint8Array.of(1));
  await a.close();
  deepEqual(await b.receive(), Uint8Array.of(1));
  equal(await b.receive(), null);
  equal(a.path, "relay");
});

Deno.test("MigratingChannel sends racing with a move go to the new channel", async () => {
  const relay = securePair();
  const direct = securePair();
  const a = new MigratingChannel(relay.a);
  const b = new MigratingChannel(relay.b);
  const moving = a.moveTo(direct.a);
  await a.send(Uint8Array.of(7));
  await moving;
  await b.moveTo(direct.b);
  deepEqual(await b.receive(), Uint8Array.of(7));
});
