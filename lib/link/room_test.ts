import { deepEqual, equal } from "node:assert/strict";
import { RECORD_TAG_BYTES, RecordOpener, RecordSealer } from "../crypto/records.ts";
import { SecureChannel } from "./channel.ts";
import { FRAME_HEADER_BYTES, framedPipe, FrameReassembler, splitFrame } from "./framing.ts";
import { memoryFramePipes } from "./frames.ts";
import { SEALED_HEADER_BYTES } from "../crypto/sealing.ts";
import { allocateMessage, prefixedFrame, recordAround, ROOM_AFTER, ROOM_BEFORE } from "./room.ts";

const KEY = new Uint8Array(32).fill(7);

Deno.test("the room fits the frame prefix, a record header and the tag", () => {
  equal(ROOM_BEFORE, FRAME_HEADER_BYTES + SEALED_HEADER_BYTES);
  equal(ROOM_AFTER, RECORD_TAG_BYTES);
});

Deno.test("recordAround() and prefixedFrame() accept only whole messages from allocateMessage()", () => {
  const message = allocateMessage(10);
  equal(message.length, 10);
  equal(recordAround(message)?.length, 35);
  equal(recordAround(message, 1)?.length, 27);
  equal(recordAround(message.subarray(1)), null);
  equal(recordAround(message.subarray(0, 9)), null);
  // The same geometry in a buffer someone else made is never written around.
  const foreign = new Uint8Array(new ArrayBuffer(39), 13, 10);
  equal(recordAround(foreign), null);
  equal(prefixedFrame(new Uint8Array(new ArrayBuffer(39), 4, 35)), null);
  equal(prefixedFrame(recordAround(message)!)?.length, 39);
  equal(prefixedFrame(recordAround(message, 1)!)?.length, 31);
});

Deno.test("sealInPlace() makes the same frame as seal()", () => {
  const message = allocateMessage(70_000);
  message.forEach((_, i) => message[i] = i & 0xff);
  const expected = new RecordSealer(KEY).seal(message);
  const record = recordAround(message, 1)!;
  const frame = new RecordSealer(KEY).sealInPlace(record);
  equal(frame, record);
  deepEqual(frame, expected);
  const opened = new RecordOpener(KEY).open(frame.slice())!;
  equal(opened.length, 70_000);
  equal(opened[69_999], 69_999 & 0xff);
});

Deno.test("a message from allocateMessage() goes out sealed in place, as one prefixed write", async () => {
  const written: Uint8Array[] = [];
  const sink = new WritableStream<Uint8Array>({ write: (chunk) => void written.push(chunk) });
  const pipe = framedPipe({ readable: new ReadableStream(), writable: sink }, 1 << 21);
  const channel = new SecureChannel(pipe, { send: KEY, receive: KEY });
  const message = allocateMessage(5);
  message.set([1, 2, 3, 4, 5]);
  await channel.send(message);
  await channel.send(Uint8Array.of(9)); // an ordinary message: header and frame apart
  await new Promise((resolve) => setTimeout(resolve, 0));
  equal(written.length, 3);
  equal(written[0]!.buffer, message.buffer); // no copy
  deepEqual(Array.from(written[0]!.subarray(0, 5)), [0, 0, 0, 22, 0]);
  const reassembler = new FrameReassembler(1 << 21);
  const frames = written.flatMap((chunk) => reassembler.push(chunk));
  const opener = new RecordOpener(KEY);
  deepEqual(opener.open(frames[0]!), Uint8Array.of(1, 2, 3, 4, 5));
  deepEqual(opener.open(frames[1]!), Uint8Array.of(9));
});

Deno.test("splitFrame() uses the room for the prefix of its first chunk", () => {
  const message = allocateMessage(100);
  message.fill(3);
  const frame = new RecordSealer(KEY).sealInPlace(recordAround(message, 1)!);
  const chunks = splitFrame(frame, 64);
  equal(chunks[0]!.buffer, frame.buffer);
  const reassembler = new FrameReassembler(4096);
  deepEqual(chunks.flatMap((chunk) => reassembler.push(chunk)), [frame]);
});

Deno.test("messages from allocateMessage() cross a SecureChannel like any other", async () => {
  const [pa, pb] = memoryFramePipes();
  const a = new SecureChannel(pa!, { send: KEY, receive: KEY });
  const b = new SecureChannel(pb!, { send: KEY, receive: KEY });
  for (const size of [0, 1, 65_536, 1_048_576]) {
    const message = allocateMessage(size);
    message.fill(size & 0xff);
    const copy = message.slice();
    const sending = a.send(message);
    deepEqual(await b.receive(), copy);
    await sending;
  }
});
