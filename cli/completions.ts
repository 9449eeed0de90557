/**
 * `punch completions bash|zsh|fish`: print a shell completion script for
 * the subcommands, their flags and the code words.
 *
 * The flags come from the commands' own help text (each `Options:` line:
 * the flag, its value's name, its description), the text the parser's
 * options are documented in, so the scripts cannot drift from `--help`;
 * `completions_test.ts` checks that every flag found is one the command's
 * parser takes and that the path flags are all there. The 2048 code words
 * are written into the script: completing `punch receive 4812-velv` runs no
 * punch process and needs no network.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { WORDS } from "../lib/code/words.ts";
import { UsageError } from "./errors.ts";
import { RECEIVE_HELP } from "./receive.ts";
import type { Reporter } from "./report.ts";
import { SEND_HELP } from "./send.ts";
import { SERVE_HELP } from "./serve.ts";

/** The shells a script is written for. */
export const SHELLS = ["bash", "zsh", "fish"] as const;
/** One of {@linkcode SHELLS}. */
export type Shell = typeof SHELLS[number];

export const COMPLETIONS_HELP = `Usage: punch completions bash|zsh|fish

Print a completion script for punch's commands, flags and code words.

  bash   eval "$(punch completions bash)" in ~/.bashrc, or save it as
         ~/.local/share/bash-completion/completions/punch
  zsh    eval "$(punch completions zsh)" in ~/.zshrc (after compinit), or
         save it as _punch in a directory of $fpath
  fish   punch completions fish > ~/.config/fish/completions/punch.fish

Options:
  -h, --help     this help
`;

/** A flag as a command's help shows it. */
export interface Flag {
  /** `--server` */
  long: string;
  /** `-h` */
  short?: string;
  /** The value's name (`URL`, `DIR`, `N`), for a flag that takes one. */
  value?: string;
  /** The first words of its description, made safe to quote in any shell. */
  description: string;
}

/** A subcommand: what it is for, its flags, and what its arguments are. */
export interface CommandSpec {
  name: string;
  description: string;
  flags: Flag[];
  /** What completes where no flag is typed. */
  operands: "files" | "code" | "shell" | "command" | "none";
}

/** The flags in a command's help: the lines of its `Options:` section. */
export function helpFlags(help: string): Flag[] {
  const section = help.split(/^Options:\n/m)[1]?.split(/\n\n|\n[A-Z]\w*:\n/)[0] ?? "";
  const flags: Flag[] = [];
  const lines = section.split("\n");
  for (const [i, line] of lines.entries()) {
    const match = /^ {2,4}(?:(-\w), )?(--[\w-]+)(?: ([A-Z][A-Z=_]*))?(?: +(.*))?$/.exec(line);
    if (match === null) continue;
    const [, short, long, value, text] = match;
    // A long flag's description may start on the next line.
    const description = text ?? lines[i + 1]?.trim() ?? "";
    flags.push({
      long: long!,
      ...(short !== undefined ? { short } : {}),
      ...(value !== undefined ? { value } : {}),
      description: safeText(description),
    });
  }
  return flags;
}

/** The first words of a description, without what a shell would read: letters, digits, `,.-/`. */
function safeText(text: string): string {
  return text.split(/ \(|;/)[0]!.replace(/[^\w ,./-]/g, "").trim();
}

/** punch's subcommands as the scripts complete them. */
export function commandSpecs(): CommandSpec[] {
  return [
    {
      name: "send",
      description: "offer files and directories",
      flags: helpFlags(SEND_HELP),
      operands: "files",
    },
    {
      name: "receive",
      description: "receive what the sender offers",
      flags: helpFlags(RECEIVE_HELP),
      operands: "code",
    },
    {
      name: "serve",
      description: "run a rendezvous server",
      flags: helpFlags(SERVE_HELP),
      operands: "none",
    },
    {
      name: "completions",
      description: "print a shell completion script",
      flags: helpFlags(COMPLETIONS_HELP),
      operands: "shell",
    },
    { name: "help", description: "show the help of a command", flags: [], operands: "command" },
  ];
}

/** The top-level flags. */
const TOP_FLAGS: Flag[] = [
  { long: "--help", short: "-h", description: "show help" },
  { long: "--version", short: "-V", description: "print the version" },
];

/** The completion script for a shell. */
export function completionScript(shell: Shell): string {
  const commands = commandSpecs();
  switch (shell) {
    case "bash":
      return bashScript(commands);
    case "zsh":
      return zshScript(commands);
    case "fish":
      return fishScript(commands);
  }
}

/** The words, a dozen a line. */
function wordLines(indent: string, end = ""): string {
  const lines: string[] = [];
  for (let i = 0; i < WORDS.length; i += 12) {
    lines.push(indent + WORDS.slice(i, i + 12).join(" ") + end);
  }
  return lines.join("\n");
}

/** Every spelling of the flags: `--server -h --help …`. */
function spellings(flags: Flag[]): string {
  return flags.flatMap((f) => (f.short ? [f.short, f.long] : [f.long])).join(" ");
}

function bashScript(commands: CommandSpec[]): string {
  const cases = commands.map((c) => {
    const values = c.flags.filter((f) => f.value !== undefined);
    const dirs = values.filter((f) => f.value === "DIR").map((f) => f.long);
    return `    ${c.name})
      flags='${spellings(c.flags)}'
      values='${values.map((f) => f.long).join(" ")}'
      dirs='${dirs.join(" ")}'
      operands=${c.operands}
      ;;`;
  }).join("\n");
  return `# punch completion for bash (punch completions bash).
# eval "$(punch completions bash)" in ~/.bashrc, or save as
# ~/.local/share/bash-completion/completions/punch

_punch_words='
${wordLines("")}
'

# The code being typed, NUMBER-word-word: the dash after the number, then the word after the
# last dash.
_punch_code() {
  local cur=$1 head part
  if [[ $cur =~ ^[0-9]+$ ]]; then
    COMPREPLY=("$cur-")
    compopt -o nospace 2>/dev/null
  elif [[ $cur =~ ^[0-9]+-[a-z]*$ ]]; then
    head=\${cur%-*}- part=\${cur##*-}
    COMPREPLY=($(compgen -P "$head" -S - -W "$_punch_words" -- "$part"))
    compopt -o nospace 2>/dev/null
  elif [[ $cur =~ ^[0-9]+-[a-z]+-[a-z]*$ ]]; then
    head=\${cur%-*}- part=\${cur##*-}
    COMPREPLY=($(compgen -P "$head" -W "$_punch_words" -- "$part"))
  fi
}

_punch() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local flags values dirs operands
  COMPREPLY=()
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W '${commands.map((c) => c.name).join(" ")} ${
    spellings(TOP_FLAGS)
  }' -- "$cur"))
    return 0
  fi
  case \${COMP_WORDS[1]} in
${cases}
    *) return 0 ;;
  esac
  if [[ " $values " == *" $prev "* ]]; then
    # Readline's own directory and file completion where there is compopt (bash 4 and later).
    if [[ " $dirs " == *" $prev "* ]] && ! compopt -o dirnames 2>/dev/null; then
      COMPREPLY=($(compgen -d -- "$cur"))
    fi
    return 0
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return 0
  fi
  case $operands in
    files) compopt -o default 2>/dev/null || COMPREPLY=($(compgen -f -- "$cur")) ;;
    code) _punch_code "$cur" ;;
    shell) COMPREPLY=($(compgen -W '${SHELLS.join(" ")}' -- "$cur")) ;;
    command) COMPREPLY=($(compgen -W '${commands.map((c) => c.name).join(" ")}' -- "$cur")) ;;
  esac
  return 0
}

complete -F _punch punch
`;
}

function zshScript(commands: CommandSpec[]): string {
  const spec = (f: Flag) => {
    const names = f.short ? `(${f.short} ${f.long})'{${f.short},${f.long}}'` : f.long;
    const value = f.value === undefined
      ? ""
      : f.value === "DIR"
      ? `:${f.value}:_files -/`
      : `:${f.value}: `;
    return `'${names}[${f.description}]${value}'`;
  };
  const operand: Record<CommandSpec["operands"], string> = {
    files: `'*:file:_files'`,
    code: `'1:code:_punch_code'`,
    shell: `'1:shell:(${SHELLS.join(" ")})'`,
    command: `'1:command:(${commands.map((c) => c.name).join(" ")})'`,
    none: "",
  };
  const cases = commands.map((c) => {
    const specs = [...c.flags.map(spec), operand[c.operands]].filter((s) => s !== "");
    return `    ${c.name})
      _arguments -s${specs.map((s) => ` \\\n        ${s}`).join("")}
      ;;`;
  }).join("\n");
  return `#compdef punch
# punch completion for zsh (punch completions zsh).
# eval "$(punch completions zsh)" in ~/.zshrc after compinit, or save as _punch in $fpath

_punch_words=(
${wordLines("  ")}
)

# The code being typed, NUMBER-word-word: the dash after the number, then the word after the
# last dash.
_punch_code() {
  if [[ $PREFIX =~ '^[0-9]+$' ]]; then
    compadd -S '' -- "$PREFIX-"
    return
  fi
  [[ $PREFIX == [0-9]*-* ]] || return 1
  compset -P '*-'
  local dashes=\${IPREFIX//[^-]/}
  if (( \${#dashes} == 1 )); then
    compadd -S - -- $_punch_words
  elif (( \${#dashes} == 2 )); then
    compadd -- $_punch_words
  fi
}

_punch() {
  if (( CURRENT == 2 )); then
    local -a commands=(
${commands.map((c) => `      '${c.name}:${c.description}'`).join("\n")}
    )
    _describe -t commands 'punch command' commands
    _arguments ${TOP_FLAGS.map(spec).join(" ")}
    return
  fi
  local command=$words[2]
  shift words
  (( CURRENT-- ))
  case $command in
${cases}
  esac
}

# Autoloaded from $fpath this file is the function's body: complete. Sourced: register.
if [[ $funcstack[1] == _punch ]]; then
  _punch "$@"
else
  compdef _punch punch
fi
`;
}

function fishScript(commands: CommandSpec[]): string {
  const lines: string[] = [];
  const names = commands.map((c) => c.name).join(" ");
  for (const c of commands) {
    lines.push(
      `complete -c punch -n "not __fish_seen_subcommand_from ${names}" -a ${c.name} -d '${c.description}'`,
    );
  }
  for (const f of TOP_FLAGS) {
    lines.push(
      `complete -c punch -n "not __fish_seen_subcommand_from ${names}" -s ${f.short!.slice(1)} -l ${
        f.long.slice(2)
      } -d '${f.description}'`,
    );
  }
  for (const c of commands) {
    const when = `-n "__fish_seen_subcommand_from ${c.name}"`;
    for (const f of c.flags) {
      const short = f.short ? ` -s ${f.short.slice(1)}` : "";
      const value = f.value === undefined
        ? ""
        : f.value === "DIR"
        ? " -r -a '(__fish_complete_directories)'"
        : " -r";
      lines.push(
        `complete -c punch ${when}${short} -l ${f.long.slice(2)}${value} -d '${f.description}'`,
      );
    }
    if (c.operands === "files") lines.push(`complete -c punch ${when} -F`);
    if (c.operands === "code") lines.push(`complete -c punch ${when} -a '(__punch_code)'`);
    if (c.operands === "shell") lines.push(`complete -c punch ${when} -a '${SHELLS.join(" ")}'`);
    if (c.operands === "command") lines.push(`complete -c punch ${when} -a '${names}'`);
  }
  return `# punch completion for fish (punch completions fish).
# punch completions fish > ~/.config/fish/completions/punch.fish

set -g __punch_words \\
${wordLines("  ", " \\")}

# The code being typed, NUMBER-word-word: the dash after the number, then the word after the
# last dash.
function __punch_code
  set -l token (commandline -ct)
  set -l head (string replace -r '[^-]*$' '' -- $token)
  if string match -qr '^[0-9]+$' -- $token
    echo $token-
  else if string match -qr '^[0-9]+-[a-z]*$' -- $token
    printf '%s-\\n' $head$__punch_words
  else if string match -qr '^[0-9]+-[a-z]+-[a-z]*$' -- $token
    printf '%s\\n' $head$__punch_words
  end
end

complete -c punch -f
${lines.join("\n")}
`;
}

/** Parsed `punch completions` arguments. */
export interface CompletionsArgs {
  shell: Shell;
  json: boolean;
  verbose: boolean;
  help: boolean;
}

/** Parses `punch completions` arguments; throws {@linkcode UsageError}. */
export function parseCompletionsArgs(args: string[]): CompletionsArgs {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { help: { type: "boolean", short: "h", default: false } },
  });
  const [shell, ...rest] = positionals;
  if (
    !values.help &&
    (shell === undefined || !(SHELLS as readonly string[]).includes(shell) || rest.length > 0)
  ) {
    throw new UsageError(
      shell === undefined
        ? `Cannot print completions: name a shell: ${SHELLS.join(", ")}`
        : `Cannot print completions: ${JSON.stringify(positionals.join(" "))} is not one of ${
          SHELLS.join(", ")
        }`,
    );
  }
  return { shell: (shell ?? "bash") as Shell, json: false, verbose: false, help: values.help };
}

/** Runs `punch completions`: the script on stdout. */
export async function completions(
  args: CompletionsArgs,
  _reporter: Reporter,
  _signal: AbortSignal,
): Promise<void> {
  const bytes = new TextEncoder().encode(completionScript(args.shell));
  for (let n = 0; n < bytes.length;) n += await Deno.stdout.write(bytes.subarray(n));
}
