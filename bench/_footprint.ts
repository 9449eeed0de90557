/**
 * The floor under the benchmark's peak RSS: imports the modules named as
 * arguments (none: an empty deno process), then prints this process's peak
 * RSS and its anonymous part in KiB as one JSON line, or `null` where /proc
 * is missing.
 *
 *   deno run -A bench/_footprint.ts [MODULE…]
 *
 * @module
 */

import { procStatusKiB } from "./_proc.ts";

for (const specifier of Deno.args) await import(specifier);
let peak: { rssKiB: number; anonKiB: number } | null = null;
try {
  const [rssKiB = 0, anonKiB = 0] = procStatusKiB(Deno.pid, "VmHWM", "RssAnon");
  peak = { rssKiB, anonKiB };
} catch { /* not Linux */ }
console.log(JSON.stringify(peak));
