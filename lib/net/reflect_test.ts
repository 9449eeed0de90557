import { equal, ok, rejects } from "node:assert/strict";
import { parseHostPort } from "./address.ts";
import { listenReusable } from "./listen.ts";
import { reflectFrom } from "./reflect.ts";
import { timeWaitPorts } from "./_test_utils.ts";

const CERT = Deno.readTextFileSync(new URL("./testdata/localhost.crt", import.meta.url));
const KEY = Deno.readTextFileSync(new URL("./testdata/localhost.key", import.meta.url));

/** What the rendezvous server answers on /v1/reflect. */
function reflectHandler(request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>): Response {
  if (new URL(request.url).pathname !== "/v1/reflect") return new Response("", { status: 404 });
  const { hostname, port } = info.remoteAddr;
  return Response.json({ address: `${hostname}:${port}` });
}

function serve(handler: Deno.ServeHandler<Deno.NetAddr>, tls = false) {
  return Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    onListen() {},
    ...(tls ? { cert: CERT, key: KEY } : {}),
  }, handler);
}

Deno.test("reflectFrom() reports the address the server sees, from the listener's port", async () => {
  await using server = serve(reflectHandler);
  await using listener = await listenReusable();
  const address = await reflectFrom(`http://127.0.0.1:${server.addr.port}`, listener.port);
  equal(address, `127.0.0.1:${listener.port}`);
  // Asking again at once works, and leaves no TIME_WAIT on this side.
  equal(await reflectFrom(`http://localhost:${server.addr.port}/`, listener.port), address);
  await new Promise((resolve) => setTimeout(resolve, 50));
  ok(!timeWaitPorts().has(listener.port), "the client closed first");
});

Deno.test("reflectFrom() speaks HTTPS", async () => {
  await using server = serve(reflectHandler, true);
  await using listener = await listenReusable();
  const url = `https://localhost:${server.addr.port}`;
  const address = await reflectFrom(url, listener.port, { caCerts: [CERT] });
  equal(parseHostPort(address).port, listener.port);
  await rejects(reflectFrom(url, listener.port), /self-signed certificate/);
});

Deno.test("reflectFrom() keeps a path prefix of the server URL", async () => {
  await using server = serve((request, info) => {
    const url = new URL(request.url);
    if (url.pathname !== "/punch/v1/reflect") return new Response("", { status: 404 });
    return Response.json({ address: `${info.remoteAddr.hostname}:${info.remoteAddr.port}` });
  });
  const address = await reflectFrom(`http://127.0.0.1:${server.addr.port}/punch`, 0);
  equal(parseHostPort(address).hostname, "127.0.0.1");
});

Deno.test("reflectFrom() rejects answers that are not an address", async () => {
  const answers = [
    new Response("", { status: 503 }),
    Response.json({ address: "nonsense" }),
    new Response("{", { headers: { "content-type": "application/json" } }),
  ];
  await using server = serve(() => answers.shift()!);
  const url = `http://127.0.0.1:${server.addr.port}`;
  await rejects(reflectFrom(url, 0), /HTTP 503/);
  await rejects(reflectFrom(url, 0), /unexpected answer/);
  await rejects(reflectFrom(url, 0), /unexpected answer/);
  await rejects(reflectFrom("ftp://127.0.0.1", 0), TypeError);
});

Deno.test("reflectFrom() gives up after timeoutMs, or when aborted", async () => {
  const { promise: release, resolve } = Promise.withResolvers<void>();
  await using server = serve(async () => {
    await release;
    return new Response("late");
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  try {
    await rejects(reflectFrom(url, 0, { timeoutMs: 100 }), /no answer within 100 ms/);
    const reason = new Error("stop");
    await rejects(reflectFrom(url, 0, { signal: AbortSignal.abort(reason) }), reason);
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 50);
    await rejects(reflectFrom(url, 0, { signal: controller.signal }), reason);
  } finally {
    resolve();
  }
});
