import { RespConnection, RespError, text } from "./_resp.ts";

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

const encoder = new TextEncoder();

/** A fake Redis that answers each command with the next canned reply, one byte per write. */
function fakeRedis(replies: string[]) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    const buffer = new Uint8Array(1024);
    for (const reply of replies) {
      await conn.read(buffer);
      for (const byte of encoder.encode(reply)) await conn.write(new Uint8Array([byte]));
    }
    await conn.read(buffer).catch(() => null);
    conn.close();
  })();
  return {
    url: `redis://127.0.0.1:${listener.addr.port}`,
    async [Symbol.asyncDispose]() {
      listener.close();
      await served.catch(() => {});
    },
  };
}

Deno.test("RespConnection parses replies that arrive a byte at a time, and routes pushes", async () => {
  const message = "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\n\x00\x01\x02\r\n";
  await using server = fakeRedis([
    "+OK\r\n",
    ":42\r\n",
    "$5\r\nhello\r\n",
    "$-1\r\n",
    message + "*2\r\n:1\r\n$1\r\nx\r\n",
    "-ERR wrong\r\n",
  ]);
  const pushes: [string, number[]][] = [];
  const connection = await RespConnection.connect(server.url, {
    onError() {},
    onPush: (channel, payload) => pushes.push([text(channel), [...payload]]),
  });
  try {
    assert(text(await connection.command("PING")) === "OK", "simple string");
    assert(await connection.command("INCR", "k") === 42, "integer");
    assert(text(await connection.command("GET", "k")) === "hello", "bulk string");
    assert(await connection.command("GET", "none") === null, "null");
    const array = await connection.command("X") as [number, Uint8Array];
    assert(array[0] === 1 && text(array[1]) === "x", "array");
    assert(JSON.stringify(pushes) === '[["ch",[0,1,2]]]', JSON.stringify(pushes));
    const failed = await connection.command("BAD").catch((e) => e);
    assert(failed instanceof RespError && failed.message === "ERR wrong", String(failed));
  } finally {
    connection.close();
  }
});
