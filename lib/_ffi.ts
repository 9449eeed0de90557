// Whether punch may use C libraries through FFI in this process.

/**
 * Whether `Deno.dlopen` exists and the `ffi` permission is granted outright.
 * Asks without ever prompting: where FFI is not already allowed, callers
 * take their portable path instead.
 */
export function ffiAllowed(): boolean {
  if (typeof Deno.dlopen !== "function") return false;
  try {
    return Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}
