import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { announce } from "./announce.ts";
import { discover } from "./discover.ts";

/** Tests look on loopback only: nothing they send may leave this machine. */
const LOOPBACK = { scope: "loopback" } as const;

const CHILD = fileURLToPath(new URL("./testdata/announce_child.ts", import.meta.url));
const SANITIZE = { sanitizeOps: true, sanitizeResources: true };

/** A nameplate no real sender on this host is likely to hold. */
function randomNameplate(): string {
  return String(10_000_000 + (crypto.getRandomValues(new Uint32Array(1))[0]! % 90_000_000));
}

/** Reads lines from the stream until one equals `line`; false if the stream ends first. */
async function waitForLine(reader: ReadableStreamDefaultReader<string>, line: string) {
  let text = "";
  while (!text.split("\n").includes(line)) {
    const { value, done } = await reader.read();
    if (done) return false;
    text += value;
  }
  return true;
}

Deno.test({
  name: "discover() finds the announcer that holds the nameplate among two",
  ...SANITIZE,
  async fn() {
    const [first, second] = [randomNameplate(), randomNameplate()];
    await using a = announce({ scope: "loopback", port: 41001, nameplates: [first] });
    await using b = announce({ scope: "loopback", port: 41002, nameplates: () => [second] });
    await Promise.all([a.ready, b.ready]);
    deepEqual(await discover(second, LOOPBACK), [{
      url: "http://127.0.0.1:41002",
      address: "127.0.0.1",
    }]);
    deepEqual(await discover(first, LOOPBACK), [{
      url: "http://127.0.0.1:41001",
      address: "127.0.0.1",
    }]);
  },
});

Deno.test({
  name: "discover() lists every server that holds the nameplate",
  ...SANITIZE,
  async fn() {
    const nameplate = randomNameplate();
    await using a = announce({ scope: "loopback", port: 41001, nameplates: [nameplate] });
    await using b = announce({ scope: "loopback", port: 41002, nameplates: [nameplate] });
    await Promise.all([a.ready, b.ready]);
    const urls = (await discover(nameplate, LOOPBACK)).map((server) => server.url).sort();
    deepEqual(urls, ["http://127.0.0.1:41001", "http://127.0.0.1:41002"]);
  },
});

Deno.test({
  name: "discover() finds an announcer in another process",
  ...SANITIZE,
  async fn() {
    const nameplate = randomNameplate();
    // --no-config: the child runs as `deno run` users would, without --unstable-net.
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-config", CHILD, nameplate, "41003"],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
      signal: AbortSignal.timeout(30_000),
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      ok(await waitForLine(reader, "ready"), "The announcing child ended before it was ready");
      deepEqual(await discover(nameplate, LOOPBACK), [
        { url: "http://127.0.0.1:41003", address: "127.0.0.1" },
      ]);
    } finally {
      await child.stdin.close();
      while (!(await reader.read()).done) {
        // Drain until the child exits.
      }
    }
    equal((await child.status).code, 0);
  },
});

Deno.test({
  name: "discover() resolves [] within the timeout when no sender holds the nameplate",
  ...SANITIZE,
  async fn() {
    const start = performance.now();
    deepEqual(await discover(randomNameplate(), { ...LOOPBACK, timeoutMs: 400 }), []);
    const elapsed = performance.now() - start;
    ok(elapsed >= 390 && elapsed < 3_000, `took ${elapsed} ms`);
  },
});

Deno.test({
  name: "discover() rejects with the signal's reason when aborted",
  ...SANITIZE,
  async fn() {
    const controller = new AbortController();
    const found = discover(randomNameplate(), { ...LOOPBACK, signal: controller.signal });
    setTimeout(() => controller.abort(new Error("Stopped by the test")), 50);
    await rejects(found, /Stopped by the test/);
    await rejects(discover("1", { ...LOOPBACK, signal: AbortSignal.abort() }), {
      name: "AbortError",
    });
  },
});

Deno.test("discover() rejects a malformed nameplate or timeout", async () => {
  await rejects(discover("4812-velvet-harbor"), TypeError);
  await rejects(discover(""), TypeError);
  await rejects(discover("123456789"), TypeError);
  await rejects(discover("4812", { ...LOOPBACK, timeoutMs: 0 }), RangeError);
  await rejects(discover("4812", { ...LOOPBACK, timeoutMs: Number.NaN }), RangeError);
});
