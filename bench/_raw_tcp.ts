/**
 * The baseline of `deno task bench`: a plain, unencrypted TCP pipe between
 * two Deno processes, file to file, with the same I/O choices as punch's
 * data path: 1 MiB reads, and synchronous file writes on the receiver
 * (Deno's asynchronous file write costs a thread handoff per call; see
 * lib/transfer/receive.ts), so the comparison shows what punch's protocol
 * and encryption cost, not which of the two does I/O better.
 *
 *   deno run -A bench/_raw_tcp.ts receive OUT      prints the port, then receives
 *   deno run -A bench/_raw_tcp.ts send PORT FILE
 *
 * @module
 */

const CHUNK = 1024 * 1024;
const [mode, a, b] = Deno.args;
if (mode === "receive") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(listener.addr.port);
  const conn = await listener.accept();
  using out = await Deno.open(a!, { write: true, create: true, truncate: true });
  const buffer = new Uint8Array(CHUNK);
  for (let n; (n = await conn.read(buffer)) !== null;) {
    for (let at = 0; at < n;) at += out.writeSync(buffer.subarray(at, n));
  }
  conn.close();
  listener.close();
} else if (mode === "send") {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(a) });
  using file = await Deno.open(b!, { read: true });
  const buffer = new Uint8Array(CHUNK);
  for (let n; (n = await file.read(buffer)) !== null;) {
    for (let at = 0; at < n;) at += await conn.write(buffer.subarray(at, n));
  }
} else {
  console.error("usage: _raw_tcp.ts receive OUT | send PORT FILE");
  Deno.exit(2);
}
