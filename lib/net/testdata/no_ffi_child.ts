// Run by dial_test.ts without --allow-ffi: dialFrom()'s node:net fallback.
// Prints what it saw as JSON.

import { DialError, dialFrom, dialFromAvailable } from "../dial.ts";
import { listenReusable } from "../listen.ts";

const target = await listenReusable({ hostname: "127.0.0.1" });
const mine = await listenReusable({ hostname: "127.0.0.1" });
const port = mine.port;

// Beside a listener on the same port: refused by the system.
const beside = await dialFrom({ localPort: port, host: "127.0.0.1", port: target.port })
  .then((socket) => {
    socket.destroy();
    return "connected";
  }, (error: DialError) => error.code);

// Without one: works.
await mine.close();
const iterator = target.connections[Symbol.asyncIterator]();
const [socket, accepted] = await Promise.all([
  dialFrom({ localPort: port, host: "127.0.0.1", port: target.port }),
  iterator.next(),
]);
const without = socket.localPort === port ? "connected" : `from port ${socket.localPort}`;
socket.destroy();
accepted.value?.destroy();
await target.close();

console.log(JSON.stringify({
  available: dialFromAvailable(),
  reusePort: target.reusePort,
  dialWithoutListener: without,
  dialBesideListener: beside,
}));
