// One shared wait for every socket that is made by hand (pending dials,
// listening sockets): a single poll() over all their file descriptors, in
// slices of POLL_SLICE_MS on Deno's blocking thread pool, so that any number
// of them hold at most one thread of it. A pipe's read end is in every
// poll(): a byte written to it ends the poll() under way, so that a new
// watch joins at once and a cancelled one is let go at once.

import { POLL_SLICE_MS } from "./constants.ts";
import { type Libc, POLLIN } from "./_libc.ts";

interface Watch {
  fd: number;
  events: number;
  onReady: (revents: number) => void;
}

const watches = new Set<Watch>();
let running = false;
/** The poll() under way, if any; settles when it returns. */
let round: Promise<void> | null = null;
/** The pipe that wakes a poll() under way (`[read end, write end]`), once made; null if it cannot be. */
let waker: [number, number] | null | undefined;

/** Ends the poll() under way, if any, so that the next one sees the watches as they are now. */
function wake(libc: Libc): void {
  if (round !== null && waker) libc.writeByte(waker[1]);
}

/**
 * Calls `onReady` once with poll()'s `revents` when `fd` has any of `events`
 * (POLLERR and POLLHUP are always reported), unless cancelled first. A
 * poll() under way is ended so that the next one includes `fd` (where no
 * pipe could be made, the watch joins the next slice, at most POLL_SLICE_MS
 * later).
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
  else wake(libc);
  return {
    cancel() {
      if (!watches.delete(watch)) return round ?? Promise.resolve();
      wake(libc);
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
  waker ??= libc.pipe();
  while (watches.size > 0) {
    const current = [...watches];
    const fds = pollFds(waker ? [...current, { fd: waker[0], events: POLLIN }] : current);
    let ready = 0;
    let done!: () => void;
    round = new Promise((resolve) => (done = resolve));
    try {
      ready = await libc.pollWait(fds, current.length + (waker ? 1 : 0), POLL_SLICE_MS);
    } catch {
      ready = 0;
    }
    round = null;
    done();
    if (ready <= 0) continue; // Timed out, or EINTR.
    const view = new DataView(fds.buffer);
    if (waker && view.getInt16(8 * current.length + 6, true) !== 0) libc.drain(waker[0]);
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
