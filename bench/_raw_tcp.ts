/**
 * The baseline of `deno task bench`: a plain, unencrypted TCP pipe between
 * two Deno processes, file to file.
 *
 *   deno run -A bench/_raw_tcp.ts receive OUT      prints the port, then receives
 *   deno run -A bench/_raw_tcp.ts send PORT FILE
 *
 * @module
 */

const [mode, a, b] = Deno.args;
if (mode === "receive") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(listener.addr.port);
  const conn = await listener.accept();
  const out = await Deno.open(a!, { write: true, create: true, truncate: true });
  await conn.readable.pipeTo(out.writable);
  listener.close();
} else if (mode === "send") {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(a) });
  const file = await Deno.open(b!, { read: true });
  await file.readable.pipeTo(conn.writable);
} else {
  console.error("usage: _raw_tcp.ts receive OUT | send PORT FILE");
  Deno.exit(2);
}
