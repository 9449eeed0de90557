/**
 * The rules a manifest path must follow, shared by the receiver (which
 * refuses a path that breaks one) and the sender (which skips such a file
 * with a warning instead of offering something the receiver would refuse).
 * docs/protocol/transfer.md, section "Paths", gives the reason for each.
 *
 * @module
 */

/** The longest path accepted, in UTF-8 bytes: PATH_MAX on Linux. */
export const MAX_PATH_BYTES = 4096;
/** The longest path component accepted, in UTF-8 bytes: NAME_MAX on most file systems. */
export const MAX_COMPONENT_BYTES = 255;

/**
 * Device names that Windows opens as devices in every directory, with or
 * without an extension and with trailing spaces before it: `CON`, `nul.txt`,
 * `Com1 .tar.gz`. The superscript digits are reserved too.
 */
const WINDOWS_RESERVED = /^(con|prn|aux|nul|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³]) *(\..*)?$/i;
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
/**
 * The names the receiver writes under while it receives (receive.ts): a
 * partial file, `.punch-<16 hex>.partial`, and a temporary one,
 * `.punch-<12 hex>.part`, in any case (a case-insensitive file system
 * would take one spelling for the other). A file offered under one would
 * be taken for the receiver's own by a later receive: resumed, or swept.
 */
const WORKING_NAME = /^\.punch-(?:[0-9a-f]{16}\.partial|[0-9a-f]{12}\.part)$/i;

/**
 * Returns why `path` is not a safe manifest path, as a phrase that can follow
 * a colon, or `undefined` if it is safe.
 */
export function pathProblem(path: string): string | undefined {
  if (path === "") return "it is empty";
  if (!path.isWellFormed()) return "it is not valid Unicode (it has a lone surrogate)";
  const bytes = utf8Length(path);
  if (bytes > MAX_PATH_BYTES) {
    return `it is ${bytes} bytes long, more than the ${MAX_PATH_BYTES} allowed`;
  }
  const control = CONTROL.exec(path);
  if (control !== null) {
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    return `it contains the control character U+${code}, which names must not contain`;
  }
  if (path.startsWith("/") || path.startsWith("\\")) {
    return "it is absolute, and manifest paths must be relative to the output directory";
  }
  if (path.includes("\\")) {
    return "it contains a backslash, which Windows reads as a separator; rename it";
  }
  if (path.includes(":")) {
    return 'it contains ":", which Windows reads as a drive letter or an alternate data stream; rename it';
  }
  if (path.endsWith("/")) return 'it ends with "/", and directories are named without it';
  for (const component of path.split("/")) {
    if (component === "") return 'it has an empty component ("//")';
    if (component === "..") {
      return 'it has a ".." component, which could reach outside the output directory';
    }
    if (component === ".") return 'it has a "." component, and manifest paths must be normalized';
    // A UTF-16 code unit is at most 3 UTF-8 bytes: most names need no counting.
    const length = component.length * 3 <= MAX_COMPONENT_BYTES ? 0 : utf8Length(component);
    if (length > MAX_COMPONENT_BYTES) {
      return `the name ${
        show(component)
      } is ${length} bytes long, more than the ${MAX_COMPONENT_BYTES} file systems allow`;
    }
    if (WORKING_NAME.test(component)) {
      return `${
        show(component)
      } is a name punch writes under while receiving, refused so that no file is taken for one; rename it`;
    }
    if (WINDOWS_RESERVED.test(component)) {
      return `${
        show(component)
      } is a device name on Windows, refused on every system so that files arrive the same everywhere; rename it`;
    }
    if (component.endsWith(" ") || component.endsWith(".")) {
      const what = component.endsWith(" ") ? "a space" : "a dot";
      return `${
        show(component)
      } ends with ${what}, which Windows drops, refused on every system so that files arrive the same everywhere; rename it`;
    }
  }
  return undefined;
}

/** Counts the UTF-8 bytes of well-formed text without encoding it. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      bytes += 4; // a surrogate pair: one code point above U+FFFF
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function show(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
