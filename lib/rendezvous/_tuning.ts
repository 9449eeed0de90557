// The rendezvous connection's socket, tuned once open: Nagle off
// (lib/net/nodelay.ts). The browser page's bundle (web/build.ts) puts
// _tuning_web.ts in its place: a browser's sockets have Nagle off already,
// and the page holds no FFI.

import { sendAtOnceTo } from "../net/nodelay.ts";

/** Turns Nagle's algorithm off for the WebSocket just opened to `url` (ws: or wss:). */
export async function tuneSocket(url: string): Promise<void> {
  const { hostname, port, protocol } = new URL(url);
  await sendAtOnceTo(hostname, Number(port || (protocol === "wss:" ? 443 : 80)));
}
