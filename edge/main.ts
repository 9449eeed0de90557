/**
 * The Deno Deploy entry of the rendezvous: `deno deploy edge/main.ts`, or
 * `deno run -A edge/main.ts` anywhere (PORT picks the port).
 *
 * @module
 */

import { createRendezvous } from "./handler.ts";

const rendezvous = createRendezvous({ log: (line) => console.log(line) });
Deno.serve(rendezvous.handler);
