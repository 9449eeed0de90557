import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { CODE_PROMPT, CodeLineEditor, MAX_CODE_LINE_CHARS, promptCode } from "./code_prompt.ts";
import { parseReceiveArgs } from "./receive.ts";

/** Types `keys` into an editor; returns what it wrote and how it ended. */
function type(keys: string, columns = 80) {
  const editor = new CodeLineEditor(columns);
  let output = "";
  for (const byte of new TextEncoder().encode(keys)) {
    const result = editor.key(byte);
    output += result.output;
    if (result.done !== undefined) return { output, done: result.done, text: editor.text };
  }
  return { output, done: undefined, text: editor.text };
}

Deno.test("CodeLineEditor echoes keys and completes a word with Tab", () => {
  deepEqual(type("4812-velv\t"), {
    output: "4812-velvet-",
    done: undefined,
    text: "4812-velvet-",
  });
  equal(type("4812\tvelv\tharb\t\r").done, "4812-velvet-harbor");
  // Upper case typed: the completed word replaces it, and the line is drawn again.
  deepEqual(type("4812-VELV\t").output, `4812-VELV\r\x1b[K${CODE_PROMPT}4812-velvet-`);
  // Enter normalizes what parseCode() forgives.
  equal(type("4812 velv harb\r").done, "4812-velvet-harbor");
});

Deno.test("CodeLineEditor rings on an ambiguous Tab and lists the words on the second", () => {
  const once = type("4812-abs\t");
  equal(once.output, "4812-abs\x07");
  const twice = type("4812-abs\t\t", 30);
  equal(
    twice.output,
    `4812-abs\x07\r\nabsent    absorb    abstract\r\nabsurd\r\n${CODE_PROMPT}4812-abs`,
  );
  // A Tab that grows the prefix, then one that lists.
  equal(
    type("4812-sq\t\t").output,
    `4812-squ\r\nsquare    squeeze   squirrel\r\n${CODE_PROMPT}4812-squ`,
  );
  // Too many to list: it says how many.
  ok(type("4812-\t\t").output.includes("(2048 words: type a letter or two of the word first)"));
  // Tab, a key, Tab: not a double Tab.
  equal(type("4812-ab\tx\x7f\t").output, "4812-ab\x07x\b \b\x07");
});

Deno.test("CodeLineEditor edits with Backspace, Ctrl-W and Ctrl-U and ignores escape sequences", () => {
  equal(type("4812-velx\x7f\tharbor\r").done, "4812-velvet-harbor");
  equal(type("4812-velvet-wrong\x17harbor\r").done, "4812-velvet-harbor");
  equal(type("99-oops\x154812-velvet-harbor\r").done, "4812-velvet-harbor");
  equal(type("\x7f").output, "\x07");
  // Arrows, Home, F5 and Alt-x leave the line alone; so do bytes outside ASCII.
  equal(type("4812-\x1b[D\x1b[1;5C\x1bOH\x1b[15~\x1bxvelv\t").text, "4812-velvet-");
  equal(type("4812-vélv").text, "4812-vlv");
  equal(type("x".repeat(MAX_CODE_LINE_CHARS + 3)).text.length, MAX_CODE_LINE_CHARS);
});

Deno.test("CodeLineEditor keeps a bad code on the line with the reason, and ends on Ctrl-D or Ctrl-C", () => {
  const bad = type("4812-velvet\r");
  equal(bad.done, undefined);
  equal(
    bad.output,
    `4812-velvet\r\nCannot parse code "4812-velvet": it has 1 word after the number, expected 2, like 4812-velvet-harbor\r\n${CODE_PROMPT}4812-velvet`,
  );
  equal(type("\r").done, undefined);
  deepEqual(type("\x04"), { output: "\r\n", done: null, text: "" });
  equal(type("48\x04").done, undefined);
  throws(() => type("48\x03"), { name: "AbortError", message: "Interrupted" });
});

/** A terminal for promptCode(): chunks to read, what was written, the raw mode's history. */
function fakeTerminal(chunks: (string | null)[]) {
  const written: string[] = [];
  const raw: boolean[] = [];
  const queue = [...chunks];
  return {
    written,
    raw,
    options: {
      read: (buffer: Uint8Array) => {
        const next = queue.shift();
        if (next === undefined) return new Promise<number | null>(() => {});
        if (next === null) return Promise.resolve(null);
        const bytes = new TextEncoder().encode(next);
        buffer.set(bytes);
        return Promise.resolve(bytes.length);
      },
      write: (text: string) => void written.push(text),
      setRaw: (on: boolean) => void raw.push(on),
      columns: 80,
    },
  };
}

Deno.test("promptCode() asks on the terminal in raw mode and restores it", async () => {
  const terminal = fakeTerminal(["4812-ve", "lv\tharb", "\t\r"]);
  equal(await promptCode(terminal.options), "4812-velvet-harbor");
  deepEqual(terminal.raw, [true, false]);
  equal(terminal.written.join(""), `${CODE_PROMPT}4812-velvet-harbor\r\n`);

  const ended = fakeTerminal(["48", null]);
  equal(await promptCode(ended.options), undefined);
  const cancelled = fakeTerminal(["\x04"]);
  equal(await promptCode(cancelled.options), undefined);
  deepEqual(cancelled.raw, [true, false]);
});

Deno.test("promptCode() rejects when interrupted, by Ctrl-C or the signal, and restores the terminal", async () => {
  const ctrlC = fakeTerminal(["48\x03"]);
  await rejects(promptCode(ctrlC.options), { name: "AbortError" });
  deepEqual(ctrlC.raw, [true, false]);
  equal(ctrlC.written.join(""), `${CODE_PROMPT}48\r\n`);

  const controller = new AbortController();
  const waiting = fakeTerminal(["48"]);
  const prompt = promptCode({ ...waiting.options, signal: controller.signal });
  controller.abort(new DOMException("Interrupted", "AbortError"));
  await rejects(prompt, { name: "AbortError", message: "Interrupted" });
  deepEqual(waiting.raw, [true, false]);
});

Deno.test("parseReceiveArgs() leaves the code to ask for on a terminal, and needs it elsewhere", () => {
  equal(parseReceiveArgs([], { terminal: true }).code, "");
  equal(parseReceiveArgs(["4812-velvet-harbor"], { terminal: true }).code, "4812-velvet-harbor");
  throws(() => parseReceiveArgs([], { terminal: false }), {
    name: "UsageError",
    message: "Cannot receive: give the code the sender shows, like 4812-velvet-harbor",
  });
  throws(() => parseReceiveArgs(["a", "b"], { terminal: true }), { message: /expected one code/ });
});
