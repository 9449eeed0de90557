// One shared wait for every socket that is made by hand (pending dials,
// listening sockets): a single poll() over all their file descriptors, in
// slices of POLL_SLICE_MS on Deno's blocking thread pool, so that any number
// of them hold at most one thread of it.

import { POLL_SLICE_MS } from "./constants.ts";
import type { Libc } from "./_libc.ts";

interface Watch {
  fd: number;
  events: number;
  onReady: (revents: number) => void;
}

const watches = new Set<Watch>();
let running = false;
/** The poll() under way, if any; settles when it returns. */
let round: Promise<void> | null = null;

/**
 * Calls `onReady` once with poll()'s `revents` when `fd` has any of `events`
 * (POLLERR and POLLHUP are always reported), unless cancelled first. A
 * poll() started before a new watch does not include it: the watch joins the
 * next slice, at most POLL_SLICE_MS later.
 *
 * `cancel()` resolves once no poll() under way includes `fd`, so the caller
 * may close `fd` then and know that the socket is gone. Closing it earlier
 * is harmless too: the answer about it is ignored.
 */
export function watchFd(
  libc: Libc,
  fd: number,
  events: number,
  onReady: (revents: number) => void,
): { cancel(): Promise<void> } {
  const watch: Watch = { fd, events, onReady };
  watches.add(watch);
  if (!running) void run(libc);
  return {
    cancel() {
      watches.delete(watch);
      return round ?? Promise.resolve();
    },
  };
}

/** The poll() events of `fd` right now, without waiting: 0 if none. */
export function pollNow(libc: Libc, fd: number, events: number): number {
  const entry = pollFds([{ fd, events }]);
  return libc.pollNow(entry, 1) > 0 ? new DataView(entry.buffer).getInt16(6, true) : 0;
}

async function run(libc: Libc): Promise<void> {
  running = true;
  while (watches.size > 0) {
    const current = [...watches];
    const fds = pollFds(current);
    let ready = 0;
    let done!: () => void;
    round = new Promise((resolve) => (done = resolve));
    try {
      ready = await libc.pollWait(fds, current.length, POLL_SLICE_MS);
    } catch {
      ready = 0;
    }
    round = null;
    done();
    if (ready <= 0) continue; // Timed out, or EINTR.
    const view = new DataView(fds.buffer);
    for (const [i, watch] of current.entries()) {
      const revents = view.getInt16(8 * i + 6, true);
      if (revents === 0 || !watches.delete(watch)) continue;
      try {
        watch.onReady(revents);
      } catch {
        // A callback's own failure is its socket's business.
      }
    }
  }
  running = false;
}

/** `struct pollfd[]`: int fd, short events, short revents. */
function pollFds(entries: { fd: number; events: number }[]): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(8 * entries.length);
  const view = new DataView(bytes.buffer);
  for (const [i, { fd, events }] of entries.entries()) {
    view.setInt32(8 * i, fd, true);
    view.setInt16(8 * i + 4, events, true);
  }
  return bytes;
}
