// Reading a process's memory from /proc (Linux), for the benchmarks.

/**
 * The given fields of `/proc/PID/status` (`VmHWM`, `RssAnon`, …) in KiB, one
 * read for all; a field the kernel does not report reads 0. Throws where
 * /proc or the process is gone.
 */
export function procStatusKiB(pid: number, ...fields: string[]): number[] {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return fields.map((field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0));
}
