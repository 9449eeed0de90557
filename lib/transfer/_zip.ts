/**
 * A streaming zip writer: several files as one download, written as their
 * bytes arrive and never held whole. Web APIs only, so the browser page can
 * use it (the archive's `readable` goes to a file picker's writable or a
 * download).
 *
 * The archive (PKWARE APPNOTE 6.3.10):
 * - Each entry is a local header, its bytes stored as they are (method 0,
 *   no compression: what punch moves is mostly compressed already), and a
 *   data descriptor (flag bit 3) with the CRC-32 and sizes, known only at
 *   the end of the file. A directory is a local header alone, its name
 *   ending in `/`.
 * - Names are UTF-8 (flag bit 11), checked by the manifest's path rules.
 * - The central directory at the end repeats each entry with its offset;
 *   "version made by" says Unix (3), so the external attributes' upper 16
 *   bits are the POSIX mode (`S_IFREG`/`S_IFDIR` and the permissions),
 *   which unzip restores. Times are DOS local time plus the "UT" extra
 *   field's Unix seconds (which unzip prefers).
 * - ZIP64 where needed: an entry whose size is not given, or is 4 GiB − 1 or
 *   more, gets a ZIP64 extra field in its local header and 8-byte sizes in
 *   its descriptor; any size or offset past 32 bits goes in the central
 *   directory's ZIP64 field; past 65535 entries or a central directory past
 *   4 GiB, a ZIP64 end record and locator precede the end record.
 *
 * @module
 */

import { crc32 } from "./_crc32.ts";
import { pathProblem } from "./_path_rules.ts";

/**
 * Bytes of archive the readable holds before a write waits for its reader:
 * a few of punch's records, so a slow download slows the transfer instead of
 * filling memory.
 */
export const ZIP_QUEUE_BYTES = 1 << 20;

/** The largest value a 32-bit field holds; the value itself means "see the ZIP64 field". */
const MAX_32 = 0xffffffff;
/** The largest count the end record holds; the value itself means "see the ZIP64 end record". */
const MAX_16 = 0xffff;
/** "Version needed to extract": 2.0 for directories and data descriptors, 4.5 for ZIP64. */
const VERSION_DESCRIPTOR = 20;
const VERSION_ZIP64 = 45;
/** "Version made by": Unix (upper byte 3), APPNOTE 4.5. */
const MADE_BY_UNIX = (3 << 8) | VERSION_ZIP64;
/** Flag bit 3: sizes and CRC follow the data. Flag bit 11: the name is UTF-8. */
const FLAG_DESCRIPTOR = 1 << 3;
const FLAG_UTF8 = 1 << 11;
const SIGNATURE = {
  local: 0x04034b50,
  descriptor: 0x08074b50,
  central: 0x02014b50,
  zip64End: 0x06064b50,
  zip64Locator: 0x07064b50,
  end: 0x06054b50,
} as const;
/** Extra field tags: ZIP64 sizes and offset, and Info-ZIP's Unix modification time. */
const EXTRA_ZIP64 = 0x0001;
const EXTRA_TIME = 0x5455;
/** POSIX file types in a mode, and MS-DOS's directory attribute. */
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const DOS_DIRECTORY = 0x10;

/** Options for {@linkcode ZipWriter.addFile} and {@linkcode ZipWriter.addDirectory}. */
export interface ZipEntryOptions {
  /**
   * Permission bits, `mode & 0o777`.
   *
   * @default {0o644 for a file, 0o755 for a directory}
   */
  mode?: number;
  /**
   * The file's size in bytes, if known: a file under 4 GiB then needs no
   * ZIP64 field, which every reader understands, and the writer checks that
   * exactly this many bytes arrive. Ignored for a directory.
   */
  size?: number;
  /**
   * Modification time, as a Date or milliseconds since the epoch.
   *
   * @default {the time the entry is added}
   */
  mtime?: Date | number;
}

/** What the central directory needs of an entry. */
interface Entry {
  name: Uint8Array;
  directory: boolean;
  mode: number;
  time: number;
  date: number;
  /** Unix seconds for the "UT" field, or undefined outside its range. */
  unixTime: number | undefined;
  offset: number;
  crc: number;
  size: number;
  /** Whether the local header has a ZIP64 field (and the descriptor 8-byte sizes). */
  zip64Local: boolean;
}

/**
 * Writes a zip archive to {@linkcode ZipWriter.readable} entry by entry.
 * One file is written at a time: close a file's writable before adding the
 * next entry.
 *
 * @example Usage
 * ```ts
 * import { ZipWriter } from "./_zip.ts";
 * const zip = new ZipWriter();
 * const download = new Response(zip.readable).arrayBuffer(); // or a file's writable
 * await zip.addDirectory("photos");
 * const file = zip.addFile("photos/a.txt", { size: 5 });
 * await new Blob(["hello"]).stream().pipeTo(file);
 * await zip.close();
 * await download;
 * ```
 */
export class ZipWriter {
  /** The archive's bytes. Chunks written to a file are passed on as they are, not copied. */
  readonly readable: ReadableStream<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #entries: Entry[] = [];
  readonly #names = new Set<string>();
  /** Bytes emitted so far (queued in order, some maybe not yet taken): the next entry's offset. */
  #offset = 0;
  /** The emissions so far, in order. */
  #tail: Promise<void> = Promise.resolve();
  /** The file being written, if any. */
  #open: string | undefined;
  #closed = false;

  constructor() {
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>(
      {},
      undefined,
      new ByteLengthQueuingStrategy({ highWaterMark: ZIP_QUEUE_BYTES }),
    );
    this.readable = readable;
    this.#writer = writable.getWriter();
    // A reader that goes away (a cancelled download) fails the next write; nothing else to do.
    this.#writer.closed.catch(() => {});
  }

  /**
   * Adds a file; returns the writable for its bytes. Closing it ends the
   * entry; aborting it, or any write failing, fails the whole archive (its
   * readable errors, so a download does not look complete).
   *
   * @throws {TypeError} If the path breaks the manifest's rules or was added already, a file
   * is still being written, or the archive is closed.
   * @throws {RangeError} If `size` or `mode` is not a valid number.
   */
  addFile(path: string, options: ZipEntryOptions = {}): WritableStream<Uint8Array> {
    const declared = options.size;
    if (declared !== undefined && !(Number.isSafeInteger(declared) && declared >= 0)) {
      throw new RangeError(`Cannot add "${path}" to the zip: size ${declared} is not a byte count`);
    }
    const entry = this.#entry(path, false, options);
    entry.zip64Local = declared === undefined || declared >= MAX_32;
    this.#open = path;
    const header = this.#localHeader(entry, FLAG_DESCRIPTOR);
    return new WritableStream<Uint8Array>({
      start: () => this.#emit(header),
      write: async (chunk) => {
        if (!(chunk instanceof Uint8Array)) {
          throw this.#fail(
            new TypeError(`Cannot write "${path}" to the zip: a chunk is not a Uint8Array`),
          );
        }
        entry.size += chunk.length;
        if (declared !== undefined && entry.size > declared) {
          throw this.#fail(
            new RangeError(`Cannot write "${path}" to the zip: more than its ${declared} bytes`),
          );
        }
        entry.crc = crc32(chunk, entry.crc);
        await this.#emit(chunk);
      },
      close: async () => {
        if (declared !== undefined && entry.size !== declared) {
          throw this.#fail(
            new RangeError(
              `Cannot finish "${path}" in the zip: ${entry.size} bytes arrived of ${declared}`,
            ),
          );
        }
        await this.#emit(descriptor(entry));
        this.#entries.push(entry);
        this.#open = undefined;
      },
      abort: (reason) => {
        this.#fail(reason);
      },
    });
  }

  /**
   * Adds a directory (named without the trailing `/`, like a manifest path).
   *
   * @throws {TypeError} As {@linkcode ZipWriter.addFile}.
   */
  async addDirectory(path: string, options: ZipEntryOptions = {}): Promise<void> {
    const entry = this.#entry(path, true, options);
    this.#entries.push(entry);
    await this.#emit(this.#localHeader(entry, 0));
  }

  /** Writes the central directory and ends the readable. */
  async close(): Promise<void> {
    this.#check("close the zip");
    this.#closed = true;
    const start = this.#offset;
    for (const entry of this.#entries) await this.#emit(centralHeader(entry));
    await this.#emit(end(this.#entries.length, start, this.#offset - start));
    await this.#tail;
    await this.#writer.close();
  }

  /** Fails the archive: its readable errors with `reason`. */
  async abort(reason?: unknown): Promise<void> {
    this.#closed = true;
    await this.#writer.abort(reason);
  }

  /** Checks that an entry may be added now; throws a TypeError saying why not. */
  #check(what: string): void {
    if (this.#closed) throw new TypeError(`Cannot ${what}: the zip is closed`);
    if (this.#open !== undefined) {
      throw new TypeError(`Cannot ${what}: "${this.#open}" is still being written`);
    }
  }

  #entry(path: string, directory: boolean, options: ZipEntryOptions): Entry {
    this.#check(`add "${path}" to the zip`);
    const problem = pathProblem(path);
    if (problem !== undefined) throw new TypeError(`Cannot add "${path}" to the zip: ${problem}`);
    const key = path.normalize("NFC");
    if (this.#names.has(key)) {
      throw new TypeError(`Cannot add "${path}" to the zip: it is there already`);
    }
    const mode = options.mode ?? (directory ? 0o755 : 0o644);
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
      throw new RangeError(`Cannot add "${path}" to the zip: mode ${mode} is not from 0 to 0o777`);
    }
    this.#names.add(key);
    const mtime = new Date(options.mtime ?? Date.now());
    const seconds = Math.floor(mtime.getTime() / 1000);
    return {
      name: new TextEncoder().encode(directory ? `${path}/` : path),
      directory,
      mode: (directory ? S_IFDIR : S_IFREG) | mode,
      ...dosTime(mtime),
      unixTime: seconds >= 0 && seconds < 2 ** 31 ? seconds : undefined,
      // The next emission is this entry's header.
      offset: this.#offset,
      crc: 0,
      size: 0,
      zip64Local: false,
    };
  }

  #localHeader(entry: Entry, flags: number): Uint8Array {
    const time = timeField(entry);
    const zip64 = entry.zip64Local ? field(EXTRA_ZIP64, 16) : new Uint8Array(0);
    const out = new Fields(30 + entry.name.length + zip64.length + time.length)
      .u32(SIGNATURE.local)
      .u16(entry.zip64Local ? VERSION_ZIP64 : VERSION_DESCRIPTOR)
      .u16(flags | FLAG_UTF8)
      .u16(0) // stored
      .u16(entry.time)
      .u16(entry.date)
      .u32(0) // CRC-32: in the descriptor
      .u32(entry.zip64Local ? MAX_32 : 0) // sizes: in the descriptor (ZIP64: in the extra field)
      .u32(entry.zip64Local ? MAX_32 : 0)
      .u16(entry.name.length)
      .u16(zip64.length + time.length)
      .bytes(entry.name)
      .bytes(zip64) // both sizes zero: they follow the data
      .bytes(time);
    return out.done();
  }

  /** Queues bytes for the readable, in order; resolves once the readable takes them. */
  #emit(bytes: Uint8Array): Promise<void> {
    this.#offset += bytes.length;
    const next = this.#tail.then(() => this.#writer.write(bytes));
    this.#tail = next.catch(() => {});
    return next;
  }

  /** Fails the archive with `error` and returns it. */
  #fail(error: unknown): unknown {
    this.#closed = true;
    this.#writer.abort(error).catch(() => {});
    return error;
  }
}

/** Little-endian fields into a buffer of a known length. */
class Fields {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #at = 0;

  constructor(length: number) {
    this.#bytes = new Uint8Array(length);
    this.#view = new DataView(this.#bytes.buffer);
  }

  u16(value: number): this {
    this.#view.setUint16(this.#at, value, true);
    this.#at += 2;
    return this;
  }

  u32(value: number): this {
    this.#view.setUint32(this.#at, value, true);
    this.#at += 4;
    return this;
  }

  /** A safe integer as 8 bytes. */
  u64(value: number): this {
    return this.u32(value % 2 ** 32).u32(Math.floor(value / 2 ** 32));
  }

  bytes(value: Uint8Array): this {
    this.#bytes.set(value, this.#at);
    this.#at += value.length;
    return this;
  }

  done(): Uint8Array {
    if (this.#at !== this.#bytes.length) {
      throw new TypeError(`Cannot finish zip record: wrote ${this.#at} of ${this.#bytes.length}`);
    }
    return this.#bytes;
  }
}

/** An extra field of `length` zero bytes after its tag and length. */
function field(tag: number, length: number): Uint8Array {
  const out = new Uint8Array(4 + length);
  new DataView(out.buffer).setUint16(0, tag, true);
  new DataView(out.buffer).setUint16(2, length, true);
  return out;
}

/** The "UT" extra field: flags (bit 0, modification time) and the Unix seconds. */
function timeField(entry: Entry): Uint8Array {
  if (entry.unixTime === undefined) return new Uint8Array(0);
  const out = field(EXTRA_TIME, 5);
  const view = new DataView(out.buffer);
  view.setUint8(4, 1);
  view.setUint32(5, entry.unixTime, true);
  return out;
}

/** MS-DOS date and time (local time, 2-second steps), clamped to 1980-2107. */
function dosTime(date: Date): { time: number; date: number } {
  const year = date.getFullYear();
  if (Number.isNaN(year) || year < 1980) return { time: 0, date: (1 << 5) | 1 };
  if (year > 2107) return { time: (23 << 11) | (59 << 5) | 29, date: (127 << 9) | (12 << 5) | 31 };
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

/** The data descriptor: signature, CRC-32, and both sizes, 8 bytes each under ZIP64. */
function descriptor(entry: Entry): Uint8Array {
  const out = new Fields(entry.zip64Local ? 24 : 16).u32(SIGNATURE.descriptor).u32(entry.crc);
  return (entry.zip64Local
    ? out.u64(entry.size).u64(entry.size)
    : out.u32(entry.size).u32(entry.size))
    .done();
}

/** An entry's central directory header. */
function centralHeader(entry: Entry): Uint8Array {
  const bigSize = entry.size >= MAX_32;
  const bigOffset = entry.offset >= MAX_32;
  const zip64Length = (bigSize ? 16 : 0) + (bigOffset ? 8 : 0);
  const zip64 = new Fields(zip64Length === 0 ? 0 : 4 + zip64Length);
  if (zip64Length > 0) {
    zip64.u16(EXTRA_ZIP64).u16(zip64Length);
    if (bigSize) zip64.u64(entry.size).u64(entry.size);
    if (bigOffset) zip64.u64(entry.offset);
  }
  const extra = zip64.done();
  const time = timeField(entry);
  return new Fields(46 + entry.name.length + extra.length + time.length)
    .u32(SIGNATURE.central)
    .u16(MADE_BY_UNIX)
    .u16(entry.zip64Local || zip64Length > 0 ? VERSION_ZIP64 : VERSION_DESCRIPTOR)
    .u16((entry.directory ? 0 : FLAG_DESCRIPTOR) | FLAG_UTF8)
    .u16(0)
    .u16(entry.time)
    .u16(entry.date)
    .u32(entry.crc)
    .u32(bigSize ? MAX_32 : entry.size)
    .u32(bigSize ? MAX_32 : entry.size)
    .u16(entry.name.length)
    .u16(extra.length + time.length)
    .u16(0) // comment
    .u16(0) // disk
    .u16(0) // internal attributes
    .u32(((entry.mode << 16) | (entry.directory ? DOS_DIRECTORY : 0)) >>> 0)
    .u32(bigOffset ? MAX_32 : entry.offset)
    .bytes(entry.name)
    .bytes(extra)
    .bytes(time)
    .done();
}

/** The end of the archive: a ZIP64 end record and locator where needed, then the end record. */
function end(count: number, start: number, length: number): Uint8Array {
  const zip64 = count >= MAX_16 || start >= MAX_32 || length >= MAX_32;
  const record = new Fields(22)
    .u32(SIGNATURE.end)
    .u16(0)
    .u16(0)
    .u16(zip64 ? MAX_16 : count)
    .u16(zip64 ? MAX_16 : count)
    .u32(zip64 ? MAX_32 : length)
    .u32(zip64 ? MAX_32 : start)
    .u16(0) // comment
    .done();
  if (!zip64) return record;
  const zip64End = new Fields(56 + 20)
    .u32(SIGNATURE.zip64End)
    .u64(44) // the size of the rest of this record
    .u16(MADE_BY_UNIX)
    .u16(VERSION_ZIP64)
    .u32(0)
    .u32(0)
    .u64(count)
    .u64(count)
    .u64(length)
    .u64(start)
    // The locator: where the ZIP64 end record starts.
    .u32(SIGNATURE.zip64Locator)
    .u32(0)
    .u64(start + length)
    .u32(1)
    .done();
  const out = new Uint8Array(zip64End.length + record.length);
  out.set(zip64End);
  out.set(record, zip64End.length);
  return out;
}
