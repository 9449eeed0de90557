import { deepEqual, equal, notDeepEqual } from "node:assert/strict";
import { SecureChannel } from "./channel.ts";
import { memoryFramePipes } from "./frames.ts";

Deno.test("SecureChannel exposes the tag of each record, the same on both sides", async () => {
  const k1 = crypto.getRandomValues(new Uint8Array(32));
  const k2 = crypto.getRandomValues(new Uint8Array(32));
  const [pa, pb] = memoryFramePipes();
  const a = new SecureChannel(pa!, { send: k1, receive: k2 });
  const b = new SecureChannel(pb!, { send: k2, receive: k1 });
  const tags: Uint8Array[] = [];
  for (const message of [Uint8Array.of(1), Uint8Array.of(1), new Uint8Array(70_000)]) {
    const sending = a.send(message);
    const sent = a.sentTag;
    equal(sent.length, 16);
    deepEqual(await b.receive(), message);
    deepEqual(b.receivedTag, sent);
    tags.push(sent);
    await sending;
  }
  // The same plaintext under the next sequence number has another tag.
  notDeepEqual(tags[0], tags[1]);
});
