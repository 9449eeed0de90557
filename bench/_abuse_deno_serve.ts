// For `deno task abuse`: the rendezvous under Deno.serve, as Deno Deploy and
// edge/main.ts run it, on a free loopback port (printed), for comparison.

import { createRendezvous } from "../edge/handler.ts";

const rendezvous = createRendezvous();
Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(JSON.stringify({ type: "listening", port })),
}, rendezvous.handler);
