/**
 * Test helper: a second rendezvous instance inside a Worker. It opens a bus
 * of the kind it is told and runs the commands of `_worker_factory.ts`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { broadcastBus } from "./broadcast.ts";
import { kvBus } from "./kv.ts";
import type { BusChannel, BusFactory, NameplateRegistry } from "./types.ts";

export type Command =
  | { op: "init"; kind: "broadcast"; settleMs: number }
  | { op: "init"; kind: "kv"; path: string }
  | { op: "open"; ch: number; name: string; echo: boolean; listen?: boolean }
  | { op: "post"; ch: number; message: unknown }
  | { op: "close"; ch: number }
  | { op: "registry"; reg: number; namespace?: string; ttlMs?: number }
  | { op: "reserve" | "release" | "owner"; reg: number; nameplate: string; owner: string }
  | { op: "shutdown" };

export type Reply =
  | { id: number; ok: true; value?: unknown }
  | { id: number; ok: false; error: string; name: string }
  | { event: "message"; ch: number; data: unknown };

let bus: BusFactory | undefined;
const channels = new Map<number, BusChannel>();
const registries = new Map<number, NameplateRegistry>();

async function run(command: Command): Promise<unknown> {
  switch (command.op) {
    case "init":
      bus = command.kind === "broadcast"
        ? broadcastBus({ settleMs: command.settleMs })
        : kvBus(await Deno.openKv(command.path), { closeKv: true });
      return;
    case "open": {
      const channel = bus!.open(command.name, { listen: command.listen ?? true });
      channels.set(command.ch, channel);
      channel.onmessage = command.echo
        ? (event) => channel.postMessage(event.data)
        : (event) => self.postMessage({ event: "message", ch: command.ch, data: event.data });
      return await channel.ready;
    }
    case "post":
      return channels.get(command.ch)!.postMessage(command.message);
    case "close":
      return channels.get(command.ch)!.close();
    case "registry": {
      const options = {
        ...(command.namespace === undefined ? {} : { namespace: command.namespace }),
        ...(command.ttlMs === undefined ? {} : { ttlMs: command.ttlMs }),
      };
      registries.set(command.reg, bus!.registry(options));
      return;
    }
    case "reserve":
    case "release":
    case "owner":
      return await registries.get(command.reg)![command.op](command.nameplate, command.owner);
    case "shutdown":
      return await bus?.close();
  }
}

self.onmessage = async (event: MessageEvent<{ id: number; command: Command }>) => {
  const { id, command } = event.data;
  try {
    self.postMessage({ id, ok: true, value: await run(command) } satisfies Reply);
  } catch (error) {
    const { name, message } = error as Error;
    self.postMessage({ id, ok: false, error: message, name } satisfies Reply);
  }
};
