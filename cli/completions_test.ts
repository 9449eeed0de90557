import { deepEqual, doesNotThrow, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { Punch, tempDir } from "../tests/_helpers.ts";
import {
  commandSpecs,
  completionScript,
  helpFlags,
  parseCompletionsArgs,
  type Shell,
  SHELLS,
} from "./completions.ts";
import { PATH_OPTIONS } from "./connection.ts";
import { COMMANDS } from "./main.ts";
import { parseReceiveArgs } from "./receive.ts";
import { parseSendArgs } from "./send.ts";
import { parseServeArgs } from "./serve.ts";

/** Whether a program is on PATH. */
function has(program: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${program}`], stdout: "null" })
    .outputSync().success;
}

/** The script of a shell in a temporary file. */
async function scriptFile(dir: string, shell: Shell): Promise<string> {
  const path = join(dir, `punch.${shell}`);
  await Deno.writeTextFile(path, completionScript(shell));
  return path;
}

async function run(command: string, args: string[]): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { HOME: Deno.env.get("HOME") ?? "/tmp" },
  }).output();
  const text = new TextDecoder().decode(stdout);
  if (!success) {
    throw new Error(`${command} failed:\n${text}\n${new TextDecoder().decode(stderr)}`);
  }
  return text;
}

Deno.test("helpFlags() reads each Options line: flag, short form, value name, first words", () => {
  deepEqual(
    helpFlags(`Usage: x

Options:
  --server URL   rendezvous server (default: $X, else the
                 sender's own)
  --no-port-mapping
                 do not ask the router; really
  -h, --help     this help

Environment:
  --not-a-flag   in another section
`),
    [
      { long: "--server", value: "URL", description: "rendezvous server" },
      { long: "--no-port-mapping", description: "do not ask the router" },
      { long: "--help", short: "-h", description: "this help" },
    ],
  );
});

/** A value a flag whose value is named `name` takes: NAME=VALUE needs a real limit. */
function sampleValue(name: string): string {
  return name === "NAME=VALUE" ? "claimBurst=5" : "1";
}

Deno.test("commandSpecs() holds every command, and each flag its parser takes", () => {
  deepEqual(commandSpecs().map((c) => c.name), [...Object.keys(COMMANDS), "help"]);
  const parsers: Record<string, (flag: string[]) => unknown> = {
    // --text sends the text alone.
    send: (flag) => parseSendArgs(flag[0] === "--text" ? flag : [...flag, "file"]),
    receive: (flag) => parseReceiveArgs([...flag, "4812-velvet-harbor"], { terminal: false }),
    serve: (flag) => parseServeArgs(flag),
    completions: (flag) => parseCompletionsArgs([...flag, "bash"]),
  };
  for (const command of commandSpecs()) {
    const parse = parsers[command.name];
    if (parse === undefined) continue;
    ok(command.flags.length > 0, command.name);
    for (const flag of command.flags) {
      for (const spelling of [flag.long, flag.short].filter((s) => s !== undefined)) {
        const args = flag.value === undefined ? [spelling] : [spelling, sampleValue(flag.value)];
        doesNotThrow(() => parse(args), `${command.name} ${args.join(" ")}`);
      }
    }
  }
  for (const name of ["send", "receive"]) {
    const flags = commandSpecs().find((c) => c.name === name)!.flags.map((f) => f.long);
    for (const option of Object.keys(PATH_OPTIONS)) {
      ok(flags.includes(`--${option}`), `${name} --${option}`);
    }
  }
  const receive = commandSpecs().find((c) => c.name === "receive")!;
  deepEqual(receive.flags.find((f) => f.long === "--out"), {
    long: "--out",
    value: "DIR",
    description: "write into DIR",
  });
});

for (
  const [shell, program, args] of [
    ["bash", "bash", ["-n"]],
    ["zsh", "zsh", ["-n"]],
    ["fish", "fish", ["--no-execute"]],
  ] as const
) {
  Deno.test({
    name: `completionScript("${shell}") is valid ${shell} (${program} ${args.join(" ")})`,
    ignore: !has(program),
    async fn() {
      await using dir = await tempDir();
      await run(program, [...args, await scriptFile(dir.path, shell)]);
    },
  });
}

/** What bash's completion function offers for the words of a command line (the last one typed). */
async function bashComplete(script: string, words: string[]): Promise<string[]> {
  const quoted = words.map((w) => `'${w}'`).join(" ");
  const out = await run("bash", [
    "-c",
    `source '${script}'; COMP_WORDS=(${quoted}); COMP_CWORD=${
      words.length - 1
    }; _punch; printf '%s\\n' "\${COMPREPLY[@]}"`,
  ]);
  return out.split("\n").filter((line) => line !== "");
}

Deno.test({
  name: "the bash script completes subcommands, flags, directories and the code's words",
  ignore: !has("bash"),
  async fn() {
    await using dir = await tempDir();
    const script = await scriptFile(dir.path, "bash");
    deepEqual(await bashComplete(script, ["punch", "send", "--re"]), ["--relay-only"]);
    deepEqual(await bashComplete(script, ["punch", "receive", "4812-velv"]), ["4812-velvet-"]);
    deepEqual(await bashComplete(script, ["punch", "receive", "4812-velvet-harb"]), [
      "4812-velvet-harbor",
    ]);
    deepEqual(await bashComplete(script, ["punch", "receive", "4812"]), ["4812-"]);
    deepEqual(await bashComplete(script, ["punch", "receive", "4812-abs"]), [
      "4812-absent-",
      "4812-absorb-",
      "4812-abstract-",
      "4812-absurd-",
    ]);
    deepEqual(await bashComplete(script, ["punch", "rec"]), ["receive"]);
    deepEqual(await bashComplete(script, ["punch", "serve", "--p"]), ["--port"]);
    deepEqual(await bashComplete(script, ["punch", "completions", "z"]), ["zsh"]);
    // A flag's value: nothing for --server, directories for --out.
    deepEqual(await bashComplete(script, ["punch", "receive", "--server", "--re"]), []);
    await Deno.mkdir(join(dir.path, "photos"));
    deepEqual(await bashComplete(script, ["punch", "receive", "--out", join(dir.path, "pho")]), [
      join(dir.path, "photos"),
    ]);
  },
});

Deno.test({
  name: "the fish script completes flags and the code's words (complete -C)",
  ignore: !has("fish"),
  async fn() {
    await using dir = await tempDir();
    const script = await scriptFile(dir.path, "fish");
    const complete = async (line: string) =>
      (await run("fish", ["--no-config", "-c", `source '${script}'; complete -C '${line}'`]))
        .split("\n").filter((l) => l !== "").map((l) => l.split("\t")[0]);
    deepEqual(await complete("punch send --re"), ["--relay-only"]);
    deepEqual(await complete("punch receive 4812-velv"), ["4812-velvet-"]);
    deepEqual(await complete("punch receive 4812-velvet-harb"), ["4812-velvet-harbor"]);
    deepEqual(await complete("punch completions f"), ["fish"]);
  },
});

/** What an interactive zsh shows after typing `line` and Tab, the script loaded (through zpty). */
async function zshComplete(script: string, line: string, expect: string): Promise<string> {
  const driver = `zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z 'PS1="> "; autoload -U compinit; compinit -u -D; source ${script}; print READY'
out=""
for i in {1..100}; do zpty -r -t z chunk && out+=$chunk; [[ $out == *READY* ]] && break; sleep 0.05; done
out=""
zpty -w -n z ${"$'"}${line}\\t'
for i in {1..100}; do zpty -r -t z chunk && out+=$chunk; [[ $out == *${expect}* ]] && break; sleep 0.05; done
print -r -- $out
zpty -d z`;
  return await run("zsh", ["-f", "-c", driver]);
}

Deno.test({
  name: "the zsh script completes flags and the code's words (an interactive zsh on a zpty)",
  ignore: !has("zsh"),
  async fn() {
    await using dir = await tempDir();
    const script = await scriptFile(dir.path, "zsh");
    match(await zshComplete(script, "punch send --re", "--relay-only"), /punch send --relay-only/);
    match(
      await zshComplete(script, "punch receive 4812-velv", "velvet-"),
      /punch receive 4812-velvet-/,
    );
    match(
      await zshComplete(script, "punch receive 4812-velvet-harb", "harbor"),
      /punch receive 4812-velvet-harbor/,
    );
  },
});

Deno.test("punch completions prints a script for each shell, and a usage error without one", async () => {
  for (const shell of SHELLS) {
    const { code, stderr } = await new Punch(["completions", shell]).done;
    equal(code, 0, stderr);
  }
  const bash = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./main.ts", import.meta.url).pathname, "completions", "bash"],
    stdout: "piped",
  });
  equal(new TextDecoder().decode((await bash.output()).stdout), completionScript("bash"));
  const none = await new Punch(["completions"]).done;
  equal(none.code, 2);
  match(none.stderr, /error: Cannot print completions: name a shell: bash, zsh, fish/);
  const other = await new Punch(["completions", "tcsh"]).done;
  equal(other.code, 2);
  match(other.stderr, /"tcsh" is not one of bash, zsh, fish/);
});
