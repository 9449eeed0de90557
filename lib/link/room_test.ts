import { deepEqual, equal } from "node:assert/strict";
import { RECORD_TAG_BYTES, RecordOpener, RecordSealer } from "../crypto/records.ts";
import { FRAME_HEADER_BYTES, FrameReassembler, splitFrame } from "./framing.ts";
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

Deno.test("splitFrame() uses the room for the prefix of its first chunk", () => {
  const message = allocateMessage(100);
  message.fill(3);
  const frame = new RecordSealer(KEY).sealInPlace(recordAround(message, 1)!);
  const chunks = splitFrame(frame, 64);
  equal(chunks[0]!.buffer, frame.buffer);
  const reassembler = new FrameReassembler(4096);
  deepEqual(chunks.flatMap((chunk) => reassembler.push(chunk)), [frame]);
});
