import { equal, rejects } from "node:assert/strict";
import { createServer } from "node:net";
import { deriveSessionKeys } from "../crypto/keys.ts";
import type { MigratingChannel } from "../link/migrating.ts";
import type { RendezvousClient } from "../rendezvous/client.ts";
import { goDirect } from "./direct.ts";
import type { Session } from "./session.ts";

/** Whether a plain listener (no SO_REUSEPORT) can take `port` on 0.0.0.0. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "0.0.0.0" }, () => server.close(() => resolve(true)));
  });
}

Deno.test("goDirect() releases its port when the candidates exchange fails", async () => {
  const probe = createServer();
  const port = await new Promise<number>((resolve) =>
    probe.listen({ port: 0, host: "127.0.0.1" }, () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    })
  );
  // The rendezvous goes away before the other side's candidates come.
  const client = {
    add() {},
    next: () => Promise.reject(new Error("the rendezvous closed the connection")),
  } as unknown as RendezvousClient;
  const session = {
    side: "sender",
    keys: await deriveSessionKeys(new Uint8Array(64), "sender"),
    client,
  } as unknown as Session;
  await rejects(
    goDirect(session, {} as MigratingChannel, {
      server: "http://127.0.0.1:1",
      port,
      portMapping: false,
    }),
    /rendezvous closed/,
  );
  equal(await portFree(port), true, `port ${port} is still held`);
});
