import { equal } from "node:assert/strict";
import { sendAtOnceTo, setNagle } from "./nodelay.ts";
import { dialFrom } from "./dial.ts";
import { openLibc } from "./_libc.ts";

/** TCP_NODELAY of every socket of this process whose peer is `port` on loopback. */
function noDelayTo(port: number): number[] {
  const libc = openLibc()!;
  const c = libc.constants;
  const found: number[] = [];
  for (let fd = 0; fd < 1024; fd++) {
    const peer = libc.peer(fd);
    if (peer?.port === port && peer.ip.join(".") === "127.0.0.1") {
      found.push(libc.getInt(fd, c.IPPROTO_TCP, c.TCP_NODELAY));
    }
  }
  return found;
}

Deno.test({
  name: "sendAtOnceTo() turns Nagle off on the sockets connected to a server, and no others",
  ignore: openLibc() === null,
}, async () => {
  // A WebSocket client, as the rendezvous client opens it: Deno turns Nagle on for it.
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { response } = Deno.upgradeWebSocket(request);
    return response;
  });
  const other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const otherClient = await Deno.connect({ hostname: "127.0.0.1", port: other.addr.port });
  otherClient.setNoDelay(false);
  try {
    const socket = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
    await new Promise((resolve) => socket.onopen = resolve);
    equal(noDelayTo(server.addr.port).join(), "0");
    equal(await sendAtOnceTo("127.0.0.1", server.addr.port), 1);
    equal(noDelayTo(server.addr.port).join(), "1");
    // A socket to another server keeps its setting.
    equal(noDelayTo(other.addr.port).join(), "0");
    socket.close();
    await new Promise((resolve) => socket.onclose = resolve);
  } finally {
    otherClient.close();
    other.close();
    await server.shutdown();
  }
});

Deno.test({
  name: "dialFrom() sockets start with Nagle off, and setNagle() turns it on and off",
  ignore: openLibc() === null,
}, async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const socket = await dialFrom({ localPort: 0, host: "127.0.0.1", port });
  try {
    equal(noDelayTo(port).join(), "1");
    setNagle(socket, true);
    equal(noDelayTo(port).join(), "0");
    setNagle(socket, false);
    equal(noDelayTo(port).join(), "1");
  } finally {
    socket.destroy();
    listener.close();
  }
});
