/**
 * Keeping memory flat on the data path.
 *
 * Every record allocates fresh buffers (WebSocket messages, cipher output).
 * V8 frees them only when their small JS wrappers are collected, and it
 * schedules that by external memory growth of ~64 MB — so a process that
 * streams a gigabyte sits 60–150 MB above its baseline. When the runtime
 * exposes `gc` (`deno run --v8-flags=--expose-gc`, which `deno task compile`
 * bakes into the binary), a young-generation collection every few MiB costs
 * ~0.3 ms and keeps the process within a few MiB of its baseline. Without
 * the flag this does nothing.
 *
 * The C allocator matters as much: glibc hands a freed top of its heap back
 * to the kernel at once, so every record's buffers land on fresh pages, and
 * each first touch of a page is a page fault. On these machines (a VM, where
 * a fault is dear) that made sealing a 1 MiB record cost 4.1 ms instead of
 * 1.1 ms, and a `node:net` socket write path spend 2.3 s of system time per
 * GiB. {@linkcode tuneAllocator} asks glibc to serve buffers up to
 * {@linkcode MALLOC_MMAP_THRESHOLD_BYTES} from its heap and to keep a pad of
 * {@linkcode MALLOC_TOP_PAD_BYTES} there, so the same pages are reused.
 *
 * On the receiving side, records need not be fresh at all: a record is read
 * into a buffer from {@linkcode takeBuffer}, and once its bytes are written
 * the receiver gives the buffer back ({@linkcode giveBack}) for the next
 * one. That saved a 1 MiB memset per record and about 20 MB of the
 * receiver's peak RSS over the direct path.
 *
 * @module
 */

import { ffiAllowed } from "./_ffi.ts";

/**
 * Bytes moved between two young-generation collections. Every 2 MiB cost a
 * tenth of the receiver's CPU (perf); on 1 GiB over loopback, alternating
 * runs took a median 3.5 s at 2 MiB against 2.5 s at 4 MiB (direct), 3.15 s
 * against 2.74 s (relay), with the same peak RSS. At 16 MiB external memory
 * piles up (+20 MB) and it is slow again.
 */
export const GC_EVERY_BYTES = 4 * 1024 * 1024;

type Gc = (options?: { type?: "minor" | "major" }) => void;

const gc: Gc | undefined = (globalThis as { gc?: Gc }).gc;

/** Counts bytes moved and collects young garbage every {@linkcode GC_EVERY_BYTES}. */
export class GarbageMeter {
  readonly #every: number;
  #bytes = 0;

  constructor(everyBytes: number = GC_EVERY_BYTES) {
    this.#every = everyBytes;
  }

  /** Counts `bytes`; collects when enough have passed. */
  count(bytes: number): void {
    if (gc === undefined) return;
    this.#bytes += bytes;
    if (this.#bytes < this.#every) return;
    this.#bytes = 0;
    gc({ type: "minor" });
  }
}

/**
 * Bytes glibc's allocator keeps at the top of its heap instead of returning
 * them to the kernel (`M_TOP_PAD`). A little above the transfer window, so
 * the buffers of records in flight are recycled rather than faulted in anew:
 * 8 MiB still faulted 260 000 pages per GiB received, 16 MiB and up a few
 * thousand (measured with `MALLOC_TOP_PAD_` on a 1 GiB loopback transfer).
 */
export const MALLOC_TOP_PAD_BYTES = 32 * 1024 * 1024;

/**
 * Allocations up to this size come from the allocator's heap, where the top
 * pad keeps them, instead of fresh `mmap`s, each faulted in page by page
 * (`M_MMAP_THRESHOLD`; setting the pad turns off glibc's own raising of it).
 * Above the largest record buffer.
 */
export const MALLOC_MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024;

/** glibc's `mallopt` parameter numbers (malloc.h). */
const M_TOP_PAD = -2;
const M_MMAP_THRESHOLD = -3;

let tuned = false;

/**
 * Sets glibc's top pad ({@linkcode MALLOC_TOP_PAD_BYTES}) through FFI, once
 * per process. Returns whether it did: not on other systems or C libraries,
 * nor without FFI permission (it never prompts). It changes only how much
 * freed memory the allocator keeps for reuse.
 */
export function tuneAllocator(): boolean {
  if (tuned) return true;
  if (Deno.build.os !== "linux" || !ffiAllowed()) return false;
  try {
    // Never closed: the C library stays loaded for the life of the process anyway.
    const libc = Deno.dlopen("libc.so.6", {
      mallopt: { parameters: ["i32", "i32"], result: "i32" },
    });
    tuned = libc.symbols.mallopt(M_TOP_PAD, MALLOC_TOP_PAD_BYTES) === 1 &&
      libc.symbols.mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD_BYTES) === 1;
  } catch {
    // musl (no libc.so.6, no M_TOP_PAD), or FFI refused: keep the defaults.
  }
  return tuned;
}

/**
 * Capacity of a spare buffer: a length prefix and the largest record (1 MiB
 * of data, its message header, the record's flag and tag) fit.
 */
export const SPARE_BUFFER_BYTES = 1024 * 1024 + 2048;
/** Buffers at least this long are taken from the spares; shorter ones are made afresh. */
const SPARE_MIN_BYTES = 64 * 1024;
/** Spare buffers kept at most: a few records' worth. */
const MAX_SPARES = 4;

const spares: ArrayBuffer[] = [];
/** Spare buffers handed out by takeBuffer() and not yet given back. */
const lent = new WeakSet<ArrayBuffer>();

/**
 * A buffer of `bytes` bytes to read a record into, whose contents are
 * undefined: a spare given back by {@linkcode giveBack} when there is one,
 * so that a stream of records reuses a few warm buffers instead of having
 * the runtime allocate and zero 1 MiB per record (6 % of a receiver's CPU
 * here, plus the page faults of fresh memory).
 */
export function takeBuffer(bytes: number): Uint8Array<ArrayBuffer> {
  if (bytes < SPARE_MIN_BYTES || bytes > SPARE_BUFFER_BYTES) return new Uint8Array(bytes);
  const buffer = spares.pop() ?? new ArrayBuffer(SPARE_BUFFER_BYTES);
  lent.add(buffer);
  return new Uint8Array(buffer, 0, bytes);
}

/**
 * Gives back the buffer under `view` for {@linkcode takeBuffer} to hand out
 * again. Only the last holder may call it: whatever still refers to the
 * buffer will see the next record's bytes. Views of other buffers, and a
 * buffer given back already, are ignored.
 */
export function giveBack(view: Uint8Array): void {
  const buffer = view.buffer;
  if (!(buffer instanceof ArrayBuffer) || !lent.has(buffer)) return;
  lent.delete(buffer);
  if (spares.length < MAX_SPARES) spares.push(buffer);
}
