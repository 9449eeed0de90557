/**
 * The Deno Deploy entry of the rendezvous: `deno deploy` with this file as the
 * entrypoint, or `deno run -A edge/main.ts` anywhere (port 8000).
 *
 * `PUNCH_LIMITS` overrides limits (`NAME=VALUE,…`, edge/defaults.ts);
 * behind a reverse proxy, `PUNCH_CLIENT_ADDRESS_HEADER` names the header it
 * puts the client's address in (never trusted unless named). The bus comes
 * from the platform (docs/deploy.md): `PUNCH_BUS` if set
 * (`redis://…` for a self-hosted cluster), Deno KV on Deno Deploy, else this
 * process alone. On Deno Deploy without a KV database, it runs alone and says
 * so: pairs that land on two instances then fail with `unknown_nameplate`.
 *
 * @module
 */

import { busFromEnv, busFromPlatform, platformBusSpec } from "./bus.ts";
import { parseLimits } from "./defaults.ts";
import { createRendezvous } from "./handler.ts";
import { tuneAllocator } from "../lib/memory.ts";

tuneAllocator();

const log = (line: string) => console.log(line);
const options = { onError: (error: unknown) => log(`bus: ${error}`) };

async function openBus() {
  try {
    return await busFromPlatform(options);
  } catch (error) {
    // Only the platform's own choice falls back; a PUNCH_BUS that fails is fatal.
    if (Deno.env.get("PUNCH_BUS")?.trim() || platformBusSpec() === "") throw error;
    log(`warning: ${(error as Error).message}; running without a bus: assign a Deno KV database`);
    return await busFromEnv("local", options);
  }
}

const bus = await openBus();
// Overrides of edge/defaults.ts, as for punch serve: NAME=VALUE,…
const limits = parseLimits([Deno.env.get("PUNCH_LIMITS") ?? ""]);
const clientAddressHeader = Deno.env.get("PUNCH_CLIENT_ADDRESS_HEADER")?.trim();
const rendezvous = createRendezvous({
  bus,
  log,
  limits,
  ...(clientAddressHeader ? { clientAddressHeader } : {}),
});
log(`rendezvous instance ${rendezvous.stats().instance} on the ${bus.kind} bus`);
Deno.serve(rendezvous.handler);
