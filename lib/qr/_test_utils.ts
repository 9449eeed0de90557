/**
 * Test helpers: a real QR reader (jsQR, pinned, test-only) over RGBA pixels.
 *
 * @module
 */

import jsqrModule from "npm:jsqr@1.4.0";

/** jsQR's entry point: its CommonJS module is the function (its types say a namespace). */
const jsQR = jsqrModule as unknown as (
  data: Uint8ClampedArray,
  width: number,
  height: number,
  options: { inversionAttempts: "dontInvert" | "attemptBoth" },
) => { data: string; version: number } | null;

/** What jsQR reads in RGBA pixels, or `undefined`; `invert` also tries it as light-on-dark
 * (jsQR's `onlyInvert` reads nothing in 1.4.0: it inverts only when trying both). */
export function readQr(
  pixels: Uint8ClampedArray,
  width: number,
  height: number,
  invert = false,
): { data: string; version: number } | undefined {
  const found = jsQR(pixels, width, height, {
    inversionAttempts: invert ? "attemptBoth" : "dontInvert",
  });
  return found === null ? undefined : { data: found.data, version: found.version };
}
