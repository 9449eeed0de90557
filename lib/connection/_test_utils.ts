// Two connections joined in memory, with a fake network for their direct
// paths that a test can cut: the connection's own logic, no sockets.

import { deriveSessionKeys, type Side } from "../crypto/keys.ts";
import type { FramePipe } from "../link/frames.ts";
import type { RendezvousClient } from "../rendezvous/client.ts";
import { PunchConnection } from "./connection.ts";
import { type ConnectionTimings, DEFAULT_TIMINGS } from "./types.ts";
import { deriveMessageKeys } from "./open.ts";
import type { RoundOptions, RoundResult } from "./_search.ts";

/** A pair of frame pipes, back to back, that counts what crosses and can be cut. */
export class Link {
  /** Frames and bytes written at each end. */
  readonly frames: [number, number] = [0, 0];
  readonly bytes: [number, number] = [0, 0];
  readonly ends: [FramePipe, FramePipe];
  #silent = false;
  readonly #controllers: ReadableStreamDefaultController<Uint8Array>[] = [];

  constructor() {
    const readables = [0, 1].map(() =>
      new ReadableStream<Uint8Array>({
        start: (controller) => void this.#controllers.push(controller),
      }, { highWaterMark: 1 << 30 })
    );
    const writable = (from: 0 | 1) =>
      new WritableStream<Uint8Array>({
        write: (frame) => {
          if (this.#silent) return;
          this.frames[from]++;
          this.bytes[from] += frame.length;
          // A copy, as a socket would deliver: the sender keeps its buffer.
          this.#controllers[1 - from]!.enqueue(frame.slice());
        },
      });
    this.ends = [
      { readable: readables[0]!, writable: writable(0) },
      { readable: readables[1]!, writable: writable(1) },
    ];
  }

  /** Delivers `frame` as if end `from` had written it. */
  inject(from: 0 | 1, frame: Uint8Array): void {
    this.#controllers[1 - from]!.enqueue(frame);
  }

  /** Both ends fail at once, as after a reset. */
  reset(): void {
    const error = new Deno.errors.ConnectionReset("the test reset the link");
    for (const controller of this.#controllers) {
      try {
        controller.error(error);
      } catch { /* closed already */ }
    }
  }

  /** Nothing crosses any more, and neither end is told. */
  silence(): void {
    this.#silent = true;
  }
}

/** Direct paths on demand: each round gets a fresh link unless the network is blocked. */
export class FakeNetwork {
  blocked = false;
  /** How long a round takes, as a punch window would. */
  delayMs = 0;
  readonly links = new Map<number, Link>();

  search = async (options: RoundOptions): Promise<RoundResult> => {
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.blocked) return { found: false, reason: "the test blocks direct paths", final: false };
    let link = this.links.get(options.round);
    if (!link) this.links.set(options.round, link = new Link());
    const end = link.ends[options.side === "sender" ? 0 : 1];
    return { found: true, pipe: end, address: `fake:${options.round}` };
  };
}

/** A rendezvous client that only takes the goodbye. */
function fakeClient(): RendezvousClient {
  return { release: () => Promise.resolve() } as unknown as RendezvousClient;
}

/** Short timings, so that a silent carrier is found dead within a test. */
export const FAST_TIMINGS: ConnectionTimings = {
  ...DEFAULT_TIMINGS,
  keepaliveMs: 100,
  // Well above what a loaded CI machine stalls an event loop for (250 ms
  // failed about 1 run in 2 there, "The relay went silent").
  carrierStallMs: 1_000,
  closeWaitMs: 1_000,
  retryMinMs: 20,
  retryAfterMissMs: 20,
  retryMaxMs: 100,
};

/** Options for {@linkcode connectionPair}. */
export interface PairOptions {
  direct?: "auto" | "only" | "never";
  network?: FakeNetwork;
  timings?: ConnectionTimings;
}

/** A sender and a receiver, begun over an in-memory relay, and that relay. */
export async function connectionPair(
  options: PairOptions = {},
): Promise<{ sender: PunchConnection; receiver: PunchConnection; relay: Link }> {
  const isk = crypto.getRandomValues(new Uint8Array(64));
  const relay = new Link();
  const network = options.network ?? new FakeNetwork();
  const make = async (side: Side, end: FramePipe) => {
    const keys = await deriveSessionKeys(isk, side);
    const connection = new PunchConnection("1-abandon-ability", side, fakeClient(), {
      direct: options.direct ?? "never",
      server: "memory:",
      port: 0,
      portMapping: false,
      search: network.search,
      timings: options.timings ?? FAST_TIMINGS,
    });
    connection.begin(keys, await deriveMessageKeys(keys, side), {
      writer: end.writable.getWriter(),
      reader: end.readable.getReader(),
    });
    return connection;
  };
  const [sender, receiver] = await Promise.all([
    make("sender", relay.ends[0]),
    make("receiver", relay.ends[1]),
  ]);
  return { sender, receiver, relay };
}
