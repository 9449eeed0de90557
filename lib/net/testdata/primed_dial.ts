// Run in a network namespace by dial_test.ts: one dialFrom() with a short
// SYN TTL, printing how it ended as JSON.
import { DialError, dialFrom } from "../dial.ts";

const [host, port, synTtl, timeoutMs, outlast] = Deno.args;
const started = performance.now();
try {
  const socket = await dialFrom({
    localPort: 0,
    host: host!,
    port: Number(port),
    synTtl: Number(synTtl),
    timeoutMs: Number(timeoutMs),
    outlastExpiry: outlast === "outlast",
  });
  console.log(JSON.stringify({ code: "connected", ms: performance.now() - started }));
  socket.destroy();
} catch (error) {
  const code = error instanceof DialError ? error.code : String(error);
  console.log(JSON.stringify({ code, ms: performance.now() - started }));
}
