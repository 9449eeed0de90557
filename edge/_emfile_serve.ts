/**
 * For transport_test.ts: the hardened transport told of a descriptor limit
 * far above the real one, so that clients make its accepts fail with EMFILE.
 * Prints the port, then serves until killed.
 *
 * @module
 */

import { createRendezvous } from "./handler.ts";
import { serveRendezvous } from "./transport.ts";

// As punch does at start (cli/main.ts): Deno sets up its signal handling on
// the first listener, and panics if that happens while descriptors are out.
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));

const rendezvous = createRendezvous({ limits: { maxConnectionsPerAddress: 1_000_000 } });
serveRendezvous(rendezvous, {
  hostname: "127.0.0.1",
  port: 0,
  descriptorLimit: 1_000_000,
  log: (line) => console.error(line),
  onListen: ({ port }) => console.log(port),
});
