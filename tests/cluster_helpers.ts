/**
 * Helpers for the cluster tests: rendezvous instances that share a bus (in a
 * Worker, in this process, or as `punch serve` processes), and a transfer
 * through the library with the sender on one instance and the receiver on
 * another.
 *
 * @module
 */

import type { BusFactory } from "../edge/bus.ts";
import { createRendezvous } from "../edge/handler.ts";
import type { HubStats } from "../edge/hub.ts";
import { RendezvousClient, RendezvousError } from "../lib/rendezvous/client.ts";
import { openReceiver, openSender } from "../lib/connection/open.ts";
import { PunchError } from "../lib/errors.ts";
import { scanPaths } from "../lib/transfer/manifest.ts";
import { receiveFiles } from "../lib/transfer/receive.ts";
import { sendFiles } from "../lib/transfer/send.ts";
import { misspell, Punch } from "./_helpers.ts";

/** A running rendezvous instance; `await using` stops it. */
export interface Instance extends AsyncDisposable {
  url: string;
}

/** A rendezvous on the native BroadcastChannel bus, in its own Worker. */
export async function workerInstance(): Promise<Instance> {
  const worker = new Worker(new URL("./cluster_worker.ts", import.meta.url), { type: "module" });
  const { promise, resolve, reject } = Promise.withResolvers<{ port: number }>();
  worker.onmessage = (event) => resolve(event.data);
  worker.onerror = (event) => reject(new Error(`Worker failed: ${event.message}`));
  const { port } = await promise;
  return {
    url: `http://127.0.0.1:${port}`,
    async [Symbol.asyncDispose]() {
      const closed = new Promise((resolve) => worker.onmessage = resolve);
      worker.postMessage("close");
      await closed;
      worker.terminate();
    },
  };
}

/** A rendezvous in this process on `bus` (which the caller closes). */
export function handlerInstance(bus: BusFactory): Instance {
  const rendezvous = createRendezvous({ bus });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, rendezvous.handler);
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    async [Symbol.asyncDispose]() {
      await rendezvous.close();
      await server.shutdown();
    },
  };
}

/** A `punch serve` process with `env`. */
export async function serveInstance(env: Record<string, string>): Promise<Instance> {
  const process = new Punch(["serve", "--hostname", "127.0.0.1", "--port", "0", "--json"], {
    env,
  });
  const listening = await process.event("listening");
  return {
    url: listening.url as string,
    async [Symbol.asyncDispose]() {
      process.kill();
      await process.done;
    },
  };
}

/** An instance's `/healthz` counters. */
export async function health(instance: Instance): Promise<HubStats> {
  return await (await fetch(`${instance.url}/healthz`)).json();
}

/**
 * Sends `paths` through `senderUrl` and receives them into `out` through
 * `receiverUrl`, with the library (the relay only: no direct connection).
 */
export async function relayTransfer(
  senderUrl: string,
  receiverUrl: string,
  paths: string[],
  out: string,
) {
  const scan = await scanPaths(paths);
  const options = { direct: "never", portMapping: false } as const;
  await using sender = await openSender(senderUrl, options);
  const start = performance.now();
  await using receiver = await openReceiver(receiverUrl, sender.code, options);
  const [sent, received] = await Promise.all([
    sendFiles(sender, scan),
    receiveFiles(receiver, { out }),
  ]);
  return { sent, received, seconds: (performance.now() - start) / 1000 };
}

/** Opens a sender on `senderUrl` and a receiver with a wrong code on `receiverUrl`. */
export async function wrongCode(senderUrl: string, receiverUrl: string) {
  const options = { direct: "never", portMapping: false } as const;
  const sender = await openSender(senderUrl, options);
  const nameplate = sender.code.split("-")[0];
  const receiver = await openReceiver(receiverUrl, misspell(sender.code), options);
  const outcomes = await Promise.allSettled([sender.ready, receiver.ready]);
  const errors = outcomes.map((o) => o.status === "rejected" ? o.reason : undefined);
  return {
    nameplate: nameplate!,
    wrongCode: errors.every((e) => e instanceof PunchError && e.kind === "wrong_code"),
    errors,
  };
}

/** Claims `nameplate` on `url`; resolves to the refusal's code (or "paired"). */
export async function claimOutcome(url: string, nameplate: string): Promise<string> {
  const client = await RendezvousClient.connect(url);
  try {
    await client.claim(nameplate);
    return "paired";
  } catch (error) {
    return error instanceof RendezvousError ? error.code : String(error);
  } finally {
    client.close();
  }
}

/**
 * Pairs a sender on `senderUrl` with a receiver on `receiverUrl`, then checks
 * that a third claimant is refused on both instances while they are paired.
 */
export async function thirdClaimant(senderUrl: string, receiverUrl: string): Promise<void> {
  const sender = await RendezvousClient.connect(senderUrl);
  const receiver = await RendezvousClient.connect(receiverUrl);
  try {
    const nameplate = await sender.allocate();
    await Promise.all([receiver.claim(nameplate), sender.paired()]);
    for (const url of [senderUrl, receiverUrl]) {
      const outcome = await claimOutcome(url, nameplate);
      if (outcome !== "nameplate_claimed") {
        throw new Error(`A third claimant on ${url} got ${outcome}, not nameplate_claimed`);
      }
    }
  } finally {
    await Promise.all([sender.release("happy"), receiver.release("happy")]);
  }
}
