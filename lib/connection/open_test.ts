import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { createRendezvous } from "../../edge/handler.ts";
import { PunchError } from "../errors.ts";
import type { Connection, ConnectionEvent } from "./types.ts";
import { openReceiver, openSender } from "./open.ts";
import { PROTOCOL_VERSION } from "./_wire.ts";
import { v1Receiver, v1Sender } from "./testdata/v1_peer.ts";

/** A real rendezvous on a loopback port, for the length of a test. */
function rendezvous(): { url: string } & AsyncDisposable {
  const instance = createRendezvous();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, instance.handler);
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    async [Symbol.asyncDispose]() {
      await instance.close();
      await server.shutdown();
    },
  };
}

function watch(connection: Connection): ConnectionEvent[] {
  const seen: ConnectionEvent[] = [];
  (async () => {
    for await (const event of connection.events()) seen.push(event);
  })();
  return seen;
}

const LOCAL = { portMapping: false } as const;

Deno.test("openSender() and openReceiver() pair, move onto a direct path on loopback, and carry messages", async () => {
  await using server = rendezvous();
  const sender = await openSender(server.url, LOCAL);
  const senderEvents = watch(sender);
  const receiver = await openReceiver(server.url, sender.code, LOCAL);
  const receiverEvents = watch(receiver);
  await Promise.all([sender.ready, receiver.ready]);
  const chunk = new Uint8Array(256 * 1024).map((_, i) => (i * 7919) & 0xff);
  const sending = (async () => {
    for (let i = 0; i < 200; i++) await sender.send(chunk);
    await sender.close();
  })();
  let bytes = 0;
  for (let message = await receiver.receive(); message; message = await receiver.receive()) {
    bytes += message.length;
    if (message.length !== chunk.length || message[7] !== chunk[7]) throw new Error("corrupt");
  }
  await receiver.close();
  await sending;
  equal(bytes, 200 * chunk.length);
  for (const events of [senderEvents, receiverEvents]) {
    ok(events.some((e) => e.type === "path" && e.path === "direct"), JSON.stringify(events));
    equal(events.at(-1)?.type, "closed");
  }
});

Deno.test("openReceiver() with a misspelled code fails both sides with wrong_code", async () => {
  await using server = rendezvous();
  const sender = await openSender(server.url, { ...LOCAL, direct: "never" });
  const [nameplate] = sender.code.split("-");
  const receiver = await openReceiver(server.url, `${nameplate}-abandon-zoo`, {
    ...LOCAL,
    direct: "never",
  });
  await rejects(receiver.ready, { kind: "wrong_code" });
  await rejects(sender.ready, { kind: "wrong_code" });
});

Deno.test("openReceiver() refuses a code that is not one, and an unknown nameplate", async () => {
  await using server = rendezvous();
  await rejects(openReceiver(server.url, "velvet harbor"), { kind: "bad_code" });
  await rejects(openReceiver(server.url, "99999999-abandon-ability"), (error) => {
    ok(error instanceof PunchError);
    equal(error.kind, "unknown_nameplate");
    return true;
  });
});

Deno.test("a protocol 1 sender meets a clear version error, naming both versions", async () => {
  await using server = rendezvous();
  const old = await v1Sender(server.url);
  const receiver = await openReceiver(server.url, old.code, { ...LOCAL, direct: "never" });
  await rejects(receiver.ready, (error) => {
    ok(error instanceof PunchError);
    equal(error.kind, "version");
    ok(
      error.message.includes("protocol 1") &&
        error.message.includes(`protocol ${PROTOCOL_VERSION}`),
    );
    return true;
  });
  await old.done;
});

Deno.test("a protocol 1 receiver reads this side's hello as an error naming both versions", async () => {
  await using server = rendezvous();
  const sender = await openSender(server.url, { ...LOCAL, direct: "never" });
  const shown = await v1Receiver(server.url, sender.code);
  deepEqual(shown.error, "version");
  ok(shown.message.includes(`punch protocol ${PROTOCOL_VERSION}`), shown.message);
  await rejects(sender.ready, { kind: "peer_gone" });
});
