/**
 * Test helper: a {@linkcode BusFactory} whose bus lives in a Worker, so the
 * contract suite runs unchanged across isolates.
 *
 * @module
 */

import { encodeFrame } from "./_codec.ts";
import type { Command, Reply } from "./_test_worker.ts";
import type { BusChannel, BusFactory, NameplateRegistry, OpenOptions } from "./types.ts";

/** A factory in a Worker, plus `echo(name)` that answers every message inside it. */
export interface WorkerFactory extends BusFactory {
  echo(name: string): Promise<void>;
}

type InitCommand = Extract<Command, { op: "init" }>;

/** Starts a Worker running `init`'s bus and returns a factory driving it. */
export async function workerFactory(init: InitCommand): Promise<WorkerFactory> {
  const worker = new Worker(new URL("./_test_worker.ts", import.meta.url), { type: "module" });
  const waiting = new Map<number, PromiseWithResolvers<unknown>>();
  const listeners = new Map<number, (data: unknown) => void>();
  let nextId = 0;
  worker.onmessage = (event: MessageEvent<Reply>) => {
    const reply = event.data;
    if ("event" in reply) return listeners.get(reply.ch)?.(reply.data);
    const pending = waiting.get(reply.id);
    waiting.delete(reply.id);
    if (reply.ok) pending?.resolve(reply.value);
    else pending?.reject(Object.assign(new Error(reply.error), { name: reply.name }));
  };
  function call(command: Command): Promise<unknown> {
    const id = nextId++;
    const pending = Promise.withResolvers<unknown>();
    waiting.set(id, pending);
    worker.postMessage({ id, command });
    return pending.promise;
  }
  await call(init);
  let closed = false;

  const factory: WorkerFactory = {
    kind: init.kind,
    open(name: string, options: OpenOptions = {}): BusChannel {
      if (closed) throw new DOMException("Cannot open a channel: closed", "InvalidStateError");
      const ch = nextId++;
      let open = true;
      const listen = options.listen ?? true;
      const channel: BusChannel = {
        name,
        onmessage: null,
        ready: call({ op: "open", ch, name, echo: false, listen }).then(() => {}),
        postMessage(message: unknown) {
          if (!open) throw new DOMException("Cannot post on a closed channel", "InvalidStateError");
          encodeFrame(message, ""); // the same synchronous TypeError/RangeError as in-process
          call({ op: "post", ch, message }).catch(() => {});
        },
        close() {
          if (!open) return;
          open = false;
          listeners.delete(ch);
          call({ op: "close", ch }).catch(() => {});
        },
      };
      listeners.set(ch, (data) => channel.onmessage?.(new MessageEvent("message", { data })));
      return channel;
    },
    registry(options = {}): NameplateRegistry {
      const reg = nextId++;
      const made = call({ op: "registry", reg, ...options });
      const ask = (op: "reserve" | "release" | "owner", nameplate: string, owner = "") =>
        made.then(() => call({ op, reg, nameplate, owner }));
      return {
        reserve: (nameplate, owner) => ask("reserve", nameplate, owner) as Promise<boolean>,
        release: (nameplate, owner) => ask("release", nameplate, owner) as Promise<boolean>,
        owner: (nameplate) => ask("owner", nameplate) as Promise<string | undefined>,
      };
    },
    async echo(name: string) {
      await call({ op: "open", ch: nextId++, name, echo: true });
    },
    async close() {
      if (closed) return;
      closed = true;
      await call({ op: "shutdown" });
      worker.terminate();
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
  return factory;
}
