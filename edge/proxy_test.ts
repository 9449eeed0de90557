// Behind a reverse proxy: the client's address from a header, only when the
// operator names it.

import { deepEqual, equal } from "node:assert/strict";
import { RawWebSocket } from "./_raw_ws.ts";
import { serve, TRANSPORTS } from "./_testing.ts";

async function get(base: string, path: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}${path}`, { headers });
  return [response.status, await response.json()];
}

for (const transport of TRANSPORTS) {
  Deno.test(`createRendezvous() trusts no address header unless told (${transport})`, async () => {
    await using server = serve({ transport });
    const [status, body] = await get(server.base, "/v1/reflect", {
      "x-forwarded-for": "203.0.113.7",
    });
    equal(status, 200);
    equal(body.address.startsWith("127.0.0.1:"), true, body.address);
  });

  Deno.test(`createRendezvous() takes the client from the named header's last element (${transport})`, async () => {
    await using server = serve({
      transport,
      clientAddressHeader: "X-Forwarded-For",
      limits: { maxConnectionsPerAddress: 2 },
    });
    deepEqual(
      await get(server.base, "/v1/reflect", { "x-forwarded-for": "10.9.9.9, 203.0.113.7:4444" }),
      [200, { address: "203.0.113.7:4444" }],
    );
    // The port is unknown when the header names the address alone.
    equal((await get(server.base, "/v1/reflect", { "x-forwarded-for": "203.0.113.7" }))[0], 501);
    // Not from the proxy the operator described.
    equal((await get(server.base, "/healthz"))[0], 400);

    // Connections count per named client, not per proxy.
    const as = (client: string) =>
      RawWebSocket.open(server.port, { headers: { "x-forwarded-for": client } });
    const first = await as("203.0.113.7");
    const second = await as("203.0.113.7");
    const third = await as("203.0.113.7");
    const other = await as("2001:db8::1");
    deepEqual([first.status, second.status, third.status, other.status], [101, 101, 429, 101]);
    const welcome = await other.nextJson();
    equal(welcome?.address, "[2001:db8::1]:0");
    for (const socket of [first, second, third, other]) socket.destroy();
  });
}
