import { deepEqual, equal, rejects } from "node:assert/strict";
import { join } from "node:path";
import { QueuedWriter } from "./writer.ts";

Deno.test("QueuedWriter writes in order, reports each chunk once written, and flushes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "f");
    using file = await Deno.open(path, { createNew: true, write: true });
    const written: number[] = [];
    const writer = new QueuedWriter(file, 10, (bytes) => written.push(bytes));
    const chunks = [Uint8Array.of(1, 2, 3), Uint8Array.of(4), new Uint8Array(20).fill(5)];
    for (const chunk of chunks) await writer.write(chunk);
    await writer.flush();
    deepEqual(written, [3, 1, 20]);
    deepEqual(await Deno.readFile(path), Uint8Array.of(1, 2, 3, 4, ...new Uint8Array(20).fill(5)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("QueuedWriter surfaces a failed write on the next call", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = await Deno.open(join(dir, "f"), { createNew: true, write: true });
    const writer = new QueuedWriter(file, 1 << 20);
    file.close();
    await writer.write(Uint8Array.of(1)); // queued; the write fails in the background
    await rejects(writer.flush());
    await rejects(writer.write(Uint8Array.of(2)));
    equal((await Deno.stat(join(dir, "f"))).size, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
