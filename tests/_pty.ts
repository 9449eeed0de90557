/**
 * A command on a pseudo-terminal, through util-linux `script`, with an exit
 * code that does not come from `script -e`.
 *
 * util-linux 2.38's script can report a status it read before its child had
 * ended: CI once saw punch's exit 1 on Ctrl-C come back as another code. So the
 * shell on the pty writes the command's code to a file. It traps SIGINT, which
 * the terminal sends to it as well as to the command, so it lives to write the
 * code; the command starts with SIGINT at its default (a caught signal is reset
 * on exec) and installs its own handler.
 */

/** Whether util-linux `script` is installed. */
export const HAS_SCRIPT = new Deno.Command("sh", {
  args: ["-c", "command -v script"],
  stdout: "null",
}).outputSync().success;

/** A shell word. */
const quote = (word: string): string => `'${word.replaceAll("'", `'\\''`)}'`;

/** `script`'s arguments to run `command` on a pty, and the command's exit code once it ended. */
export function onPty(command: string[]): { args: string[]; exitCode(): Promise<number> } {
  const statusFile = Deno.makeTempFileSync({ prefix: "punch-pty-status-" });
  const line = `trap : INT; ${command.map(quote).join(" ")}; echo $? > ${quote(statusFile)}`;
  let code: Promise<number> | undefined;
  const read = async () => {
    const status = await Deno.readTextFile(statusFile).then((text) => text.trim())
      .finally(() => Deno.remove(statusFile).catch(() => {}));
    if (!/^\d+$/.test(status)) {
      throw new Error(`The shell on the pty left no exit code (${JSON.stringify(status)})`);
    }
    return Number(status);
  };
  return {
    args: ["-q", "-c", line, "/dev/null"],
    /** Call once `script` has ended. */
    exitCode: () => code ??= read(),
  };
}
