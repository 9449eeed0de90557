/**
 * A sender that holds the code but says hostile things: it pairs through a
 * real rendezvous, runs the key exchange, and then answers with an `error`
 * message full of terminal escapes. Prints `{"type":"code",…}` on stdout.
 *
 *   deno run -A tests/testdata/hostile_sender.ts SERVER
 *
 * @module
 */

import { openSender } from "../../lib/connection/open.ts";
import { encodeMessage } from "../../lib/transfer/messages.ts";

/** Erases the line, fakes a success, writes the clipboard (OSC 52) and the window title (OSC 0). */
export const HOSTILE_TEXT = "\x1b[2K\r\x1b[1ADone: 1 file, 6 B in 0.1 s\n" +
  "\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b]0;pwned\x07\u009b2J";

if (import.meta.main) {
  await using connection = await openSender(Deno.args[0]!, { direct: "never", portMapping: false });
  console.log(JSON.stringify({ type: "code", code: connection.code }));
  await connection.send(encodeMessage({ type: "error", error: "io", message: HOSTILE_TEXT }));
}
