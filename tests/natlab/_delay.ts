/** Building and starting the NFQUEUE delay program (`delay.c`). */

import { exec } from "./_exec.ts";

const SOURCE = new URL("./delay.c", import.meta.url);
const READY_TIMEOUT_MS = 5000; // the program binds its queue in a few milliseconds

let built: Promise<string> | undefined;

/**
 * Compiles delay.c once per source text into the system temp dir and returns
 * the binary's path. The build goes to a private name and is renamed into
 * place, so parallel test processes never see half a binary.
 */
export function buildDelay(): Promise<string> {
  built ??= (async () => {
    const source = await Deno.readFile(SOURCE);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", source));
    const hash = Array.from(digest.slice(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
    const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
    const binary = `${tmp}/natlab-delay-${hash}`;
    try {
      await Deno.stat(binary);
      return binary;
    } catch {
      // Not built yet.
    }
    const dir = await Deno.makeTempDir({ prefix: "natlab-build-" });
    try {
      const out = `${dir}/delay`;
      await exec([
        "gcc",
        "-O2",
        "-o",
        out,
        SOURCE.pathname,
        "-lnetfilter_queue",
        "-lnfnetlink",
      ]);
      await Deno.rename(out, binary);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
    return binary;
  })();
  built.catch(() => built = undefined);
  return built;
}

/**
 * Starts the delay program inside a namespace and waits for it to bind its
 * queue. Its stdin stays a pipe from this process: it exits when the pipe
 * closes, so it dies with the lab's process even on SIGKILL.
 */
export async function startDelay(
  ns: string,
  binary: string,
  queue: number,
  delayMs: number,
): Promise<Deno.ChildProcess> {
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", ns, binary, String(queue), String(delayMs)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stderr = new Response(child.stderr).text();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Cannot start delay in ${ns}: not ready in ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    );
  });
  try {
    let text = "";
    while (!text.includes("ready\n")) {
      const { value, done } = await Promise.race([reader.read(), timeout]);
      if (done) {
        throw new Error(`Cannot start delay in ${ns}: ${(await stderr).trim() || "it exited"}`);
      }
      text += value;
    }
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await child.status;
    throw error;
  } finally {
    clearTimeout(timer);
  }
  // Keep draining stdout so the program never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  return child;
}
