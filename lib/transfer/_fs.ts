/**
 * The receiver's file-system calls that a hostile peer or a local user must
 * not be able to turn against it.
 *
 * @module
 */

/**
 * The mask used where the process's umask cannot be read: the usual default,
 * which never grants write permission to the group or to others.
 */
const DEFAULT_UMASK = 0o022;

/**
 * The process's umask: the permission bits that files the receiver writes
 * must not get, whatever mode the sender asks for. Read on Linux from
 * `/proc/self/status` (one read that leaves the mask alone); elsewhere from
 * `Deno.umask()`, which sets the mask and puts it back, so files another
 * thread creates at that moment could get a wrong mode; where neither is
 * allowed (asked without prompting), {@linkcode DEFAULT_UMASK}.
 */
export function processUmask(): number {
  if (Deno.build.os === "linux" && granted({ name: "read", path: "/proc/self/status" })) {
    try {
      const line = /^Umask:\s*([0-7]+)$/m.exec(Deno.readTextFileSync("/proc/self/status"));
      if (line) return parseInt(line[1]!, 8);
    } catch { /* an older kernel, or no /proc: ask Deno */ }
  }
  if (Deno.build.os !== "windows" && granted({ name: "sys", kind: "umask" })) {
    try {
      return Deno.umask();
    } catch { /* not implemented here */ }
  }
  return DEFAULT_UMASK;
}

function granted(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}
