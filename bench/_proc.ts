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

/**
 * The user and system CPU seconds a process has used so far, from
 * `/proc/PID/stat` (in clock ticks of USER_HZ, which is 100 on Linux's
 * mainstream architectures). Throws where /proc or the process is gone.
 */
export function procCpuSeconds(pid: number): [number, number] {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return [Number(fields[11]) / USER_HZ, Number(fields[12]) / USER_HZ];
}

const USER_HZ = 100;
