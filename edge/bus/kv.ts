/**
 * The bus over Deno KV, and its registry.
 *
 * Protocol flow (keys under `prefix`, default `["punch", "bus"]`):
 * - Each channel name has a head key `[...prefix, name, "head"]` holding the
 *   sequence number of its last message.
 * - A poster commits a batch atomically: checks the head it read, writes each
 *   message as parts `[...prefix, name, "m", seq, part]` (≤ 60 000 bytes each,
 *   expiring after `messageTtlMs`) and moves the head; on a conflict it
 *   re-reads the head and retries. One queue per name keeps posting order.
 *   A commit that fails outright is tried again for `KV_FLUSH_RETRY_MS`
 *   (the queue waits meanwhile) before the queue is dropped and the error
 *   reported.
 * - A reader watches the head key, starting from the head it first sees, and
 *   on each change reads the range of new sequence numbers in order.
 *
 * `watch` on a SQLite file does not see writes from another process: give
 * `pollIntervalMs` to also read the head that often (`busFromEnv` does for
 * `kv:PATH`).
 *
 * @module
 */

import { concatBytes } from "@noble/hashes/utils.js";
import { Channel, ChannelTable } from "./_channel.ts";
import { retryBusy } from "./_kv_busy.ts";
import { KvRegistry } from "./kv_registry.ts";
import {
  KV_BATCH_BYTES,
  KV_BATCH_PARTS,
  KV_FLUSH_RETRY_MS,
  KV_MESSAGE_TTL_MS,
  KV_PART_BYTES,
} from "./defaults.ts";
import { sleep } from "../../lib/_sleep.ts";
import type { BusChannel, BusFactory, BusOptions, OpenOptions } from "./types.ts";

/** Options for {@linkcode kvBus}. */
export interface KvBusOptions extends BusOptions {
  /**
   * The key prefix of the bus (the registry uses `[...prefix, "registry"]`).
   * @default {["punch", "bus"]}
   */
  prefix?: Deno.KvKey;
  /**
   * Milliseconds a message is kept for readers.
   * @default {KV_MESSAGE_TTL_MS}
   */
  messageTtlMs?: number;
  /**
   * Also read each head key this often (cross-process SQLite); 0 for never.
   * @default {0}
   */
  pollIntervalMs?: number;
  /**
   * Close `kv` when the factory closes.
   * @default {false}
   */
  closeKv?: boolean;
}

/** Opens a bus on `kv`. */
export function kvBus(kv: Deno.Kv, options: KvBusOptions = {}): BusFactory {
  const table = new ChannelTable("kv", options);
  const prefix = options.prefix ?? ["punch", "bus"];
  const ttlMs = options.messageTtlMs ?? KV_MESSAGE_TTL_MS;
  const pollMs = options.pollIntervalMs ?? 0;
  const readers = new Map<string, Reader>();
  const queues = new Map<string, Uint8Array[]>();
  const flushing = new Set<Promise<void>>();
  /** Aborted by close(): flushes waiting to try a failed commit again give up. */
  const closing = new AbortController();

  /** One attempt to append `batch` after the head read; false on a conflict. */
  async function commit(name: string, headKey: Deno.KvKey, batch: Uint8Array[]): Promise<boolean> {
    const head = await kv.get<number>(headKey);
    let seq = head.value ?? 0;
    const op = kv.atomic().check(head);
    for (const frame of batch) {
      seq++;
      for (let part = 0, at = 0; part === 0 || at < frame.byteLength; part++, at += KV_PART_BYTES) {
        const value = frame.slice(at, at + KV_PART_BYTES);
        op.set([...prefix, name, "m", seq, part], value, { expireIn: ttlMs });
      }
    }
    op.set(headKey, seq);
    return (await op.commit()).ok;
  }

  /**
   * Commits `batch`: again at once after a conflict, again after a pause
   * after a failure, until {@linkcode KV_FLUSH_RETRY_MS} have passed or the
   * bus closes; then throws the last failure.
   */
  async function commitPatiently(name: string, headKey: Deno.KvKey, batch: Uint8Array[]) {
    const deadline = Date.now() + KV_FLUSH_RETRY_MS;
    for (let pause = 100;;) {
      try {
        if (await retryBusy(() => commit(name, headKey, batch))) return;
      } catch (error) {
        if (closing.signal.aborted || Date.now() + pause > deadline) throw error;
        await sleep(pause, closing.signal);
        pause = Math.min(pause * 2, 5_000);
      }
    }
  }

  async function flush(name: string, queue: Uint8Array[]): Promise<void> {
    const headKey = [...prefix, name, "head"];
    try {
      while (queue.length > 0) {
        let bytes = 0;
        let parts = 0;
        let count = 0;
        for (const frame of queue) {
          const frameParts = Math.max(1, Math.ceil(frame.byteLength / KV_PART_BYTES));
          if (
            count > 0 &&
            (bytes + frame.byteLength > KV_BATCH_BYTES || parts + frameParts > KV_BATCH_PARTS)
          ) break;
          bytes += frame.byteLength;
          parts += frameParts;
          count++;
        }
        await commitPatiently(name, headKey, queue.slice(0, count));
        queue.splice(0, count);
      }
    } finally {
      // In the same turn as the last look at the queue, so that a post()
      // from here on starts a new flush. Deleting it a few microtasks later,
      // in the caller's .finally(), lost a frame posted in between: it went
      // on a queue nobody flushed any more.
      queues.delete(name);
    }
  }

  function post(name: string, frame: Uint8Array): void {
    let queue = queues.get(name);
    if (queue) return void queue.push(frame);
    queues.set(name, queue = [frame]);
    const done: Promise<void> = flush(name, queue)
      .catch((error) => table.onError(error))
      .finally(() => flushing.delete(done));
    flushing.add(done);
  }

  const factory: BusFactory = {
    kind: "kv",
    open(name: string, openOptions: OpenOptions = {}): BusChannel {
      table.assertOpen();
      const send = (frame: Uint8Array) => post(name, frame);
      if (openOptions.listen === false) return table.postOnly(name, send);
      let reader = readers.get(name);
      if (!reader) {
        readers.set(name, reader = new Reader(kv, [...prefix, name], name, pollMs, table));
      }
      const channel = new Channel(name, reader.ready, {
        send,
        detach(closing) {
          if (!table.remove(closing)) return;
          readers.get(name)?.stop();
          readers.delete(name);
        },
      }, table.onError);
      table.add(channel);
      return channel;
    },
    registry: (registryOptions) => new KvRegistry(kv, [...prefix, "registry"], registryOptions),
    async close() {
      if (table.closed) return;
      table.closeAll();
      closing.abort();
      while (flushing.size > 0) await Promise.all(flushing);
      if (options.closeKv) kv.close();
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
  return factory;
}

/** Follows one channel name's head and hands new messages to its channels. */
class Reader {
  readonly ready: Promise<void>;
  readonly #kv: Deno.Kv;
  readonly #base: Deno.KvKey;
  readonly #table: ChannelTable;
  readonly #name: string;
  #last = -1;
  #want = -1;
  #pumping = false;
  #stopped = false;
  #stream?: ReadableStreamDefaultReader<[Deno.KvEntryMaybe<number>]>;
  #poll?: ReturnType<typeof setInterval>;

  constructor(kv: Deno.Kv, base: Deno.KvKey, name: string, pollMs: number, table: ChannelTable) {
    this.#kv = kv;
    this.#base = base;
    this.#table = table;
    this.#name = name;
    const headKey = [...base, "head"];
    const { promise, resolve } = Promise.withResolvers<void>();
    this.ready = promise;
    const stream = kv.watch<[number]>([headKey]).getReader();
    this.#stream = stream;
    (async () => {
      for (;;) {
        const { value, done } = await stream.read();
        if (done || this.#stopped) return;
        this.#advance(value[0].value ?? 0);
        resolve();
      }
    })().catch((error) => {
      resolve();
      if (!this.#stopped) table.onError(error);
    });
    if (pollMs > 0) {
      this.#poll = setInterval(() => {
        kv.get<number>(headKey).then((entry) => this.#advance(entry.value ?? 0))
          .catch((error) => this.#stopped || table.onError(error));
      }, pollMs);
    }
  }

  #advance(head: number): void {
    if (this.#last < 0) this.#last = this.#want = head;
    if (head > this.#want) this.#want = head;
    this.#pump();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#last < this.#want && !this.#stopped) {
        const to = this.#want;
        await this.#read(this.#last + 1, to);
        this.#last = to;
      }
    } catch (error) {
      if (!this.#stopped) this.#table.onError(error);
    } finally {
      this.#pumping = false;
    }
  }

  async #read(from: number, to: number): Promise<void> {
    const m = [...this.#base, "m"];
    let seq = -1;
    let parts: Uint8Array[] = [];
    const deliver = (): void => {
      if (parts.length === 0) return;
      const frame = parts.length === 1 ? parts[0]! : concatBytes(...parts);
      for (const channel of [...this.#table.channels(this.#name)]) channel.deliver(frame);
      parts = [];
    };
    const entries = this.#kv.list<Uint8Array>({ start: [...m, from], end: [...m, to + 1] });
    for await (const entry of entries) {
      const at = entry.key[m.length] as number;
      if (at !== seq) deliver();
      seq = at;
      parts.push(entry.value);
    }
    deliver();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#poll);
    this.#stream?.cancel().catch(() => {});
  }
}
