/** Running the lab's setup commands (`ip`, `iptables-restore`, `gcc`). */

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();

/** Options for {@linkcode exec}. */
export interface ExecOptions {
  /** Text written to the command's stdin. */
  stdin?: string;
}

/** Runs a command to its end; returns its stdout, or throws with its stderr. */
export async function exec(argv: readonly string[], options: ExecOptions = {}): Promise<string> {
  const [command, ...args] = argv;
  if (command === undefined) throw new TypeError("Cannot run an empty command");
  const child = new Deno.Command(command, {
    args,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(ENCODER.encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  if (!output.success) {
    const detail = DECODER.decode(output.stderr).trim() || `exit code ${output.code}`;
    throw new Error(`Cannot run ${argv.join(" ")}: ${detail}`);
  }
  return DECODER.decode(output.stdout);
}

/** Whether a command can be started at all (it is on PATH and executable). */
export async function hasCommand(command: string, args: readonly string[]): Promise<boolean> {
  try {
    await new Deno.Command(command, { args: [...args], stdout: "null", stderr: "null" }).output();
    return true;
  } catch {
    return false;
  }
}
