import { RespConnection } from "./_resp.ts";
import { hasRedisServer, startRedisServer } from "./_redis_server.ts";
import { redisBus } from "./redis.ts";

const HAS_REDIS = hasRedisServer();

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

Deno.test({
  name: HAS_REDIS
    ? "redisBus() reconnects and subscribes again after Redis drops its connections"
    : "redisBus() reconnects (ignored: redis-server is not installed)",
  ignore: !HAS_REDIS,
  async fn() {
    await using server = await startRedisServer();
    const errors: unknown[] = [];
    await using a = await redisBus(server.url, { onError: (e) => errors.push(e) });
    await using b = await redisBus(server.url, { onError: (e) => errors.push(e) });
    const listener = a.open("again");
    await listener.ready;
    const got: unknown[] = [];
    listener.onmessage = (event) => got.push(event.data);
    const poster = b.open("again", { listen: false });
    const registry = b.registry({ namespace: "reconnect" });
    assert(await registry.reserve("42", "b"), "reserve before the drop");

    const admin = await RespConnection.connect(server.url, { onError() {} });
    await admin.command("CLIENT", "KILL", "TYPE", "pubsub");
    await admin.command("CLIENT", "KILL", "TYPE", "normal");
    admin.close();

    const deadline = Date.now() + 5_000;
    for (let i = 0; got.length === 0 && Date.now() < deadline; i++) {
      poster.postMessage({ i });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert(got.length > 0, "no message after the drop");
    assert(errors.length > 0, "the drop was not reported");
    assert(await registry.owner("42") === "b", "the registry answers again");
  },
});
