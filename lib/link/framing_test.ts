import { deepEqual, equal, throws } from "node:assert/strict";
import { FrameReassembler, FramingError, splitFrame } from "./framing.ts";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("splitFrame() prefixes the length and cuts at the chunk size", () => {
  const chunks = splitFrame(Uint8Array.of(1, 2, 3, 4, 5, 6, 7), 6);
  deepEqual(chunks.map(hex), ["000000070102", "030405060708".slice(0, 10)]);
  deepEqual(splitFrame(new Uint8Array(), 64).map(hex), ["00000000"]);
});

Deno.test("FrameReassembler rebuilds frames from any chunking", () => {
  const frames = [new Uint8Array(100).fill(1), new Uint8Array(), new Uint8Array(3000).fill(3)];
  const wire = frames.flatMap((f) => splitFrame(f, 64));
  const joined = new Uint8Array(wire.reduce((n, c) => n + c.length, 0));
  wire.reduce((at, c) => (joined.set(c, at), at + c.length), 0);
  for (const size of [1, 3, 7, 64, 1000, joined.length]) {
    const reassembler = new FrameReassembler(4096);
    const out: Uint8Array[] = [];
    for (let at = 0; at < joined.length; at += size) {
      out.push(...reassembler.push(joined.subarray(at, at + size)));
    }
    deepEqual(out, frames, `chunks of ${size}`);
    equal(reassembler.partial, false);
  }
});

Deno.test("FrameReassembler refuses a declared length over its limit", () => {
  const reassembler = new FrameReassembler(10);
  throws(() => reassembler.push(Uint8Array.of(0, 0, 0, 11)), FramingError);
  throws(
    () => new FrameReassembler(1 << 20).push(Uint8Array.of(0xff, 0xff, 0xff, 0xff)),
    /exceeds/,
  );
});

Deno.test("FrameReassembler returns a frame that lies whole in a chunk as a view of it", () => {
  const wire = Uint8Array.of(0, 0, 0, 2, 7, 8, 0, 0, 0, 0, 0, 0, 0, 3, 1);
  const reassembler = new FrameReassembler(16);
  const frames = reassembler.push(wire);
  deepEqual(frames.map(hex), ["0708", ""]);
  equal(frames[0]!.buffer, wire.buffer);
  equal(frames[0]!.byteOffset, 4);
  // The third frame began in this chunk, so it is assembled in a copy.
  equal(reassembler.partial, true);
  const [last] = reassembler.push(Uint8Array.of(2, 3));
  deepEqual(hex(last!), "010203");
  equal(reassembler.partial, false);
});
