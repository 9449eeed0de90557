// A router on loopback for the port mapping tests: an SSDP responder, a
// UPnP device (description and SOAP control over raw TCP, so that a test
// can make it answer anything), and NAT-PMP and PCP servers. Nothing here
// leaves 127.0.0.1.

import { createSocket, type Socket } from "node:dgram";

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
const DESCRIPTION = await Deno.readTextFile(new URL("./miniupnpd_root_desc.xml", import.meta.url));

/** What the fake UPnP device sends for one request: raw bytes, written as given (or as `drip` says). */
export type UpnpReply = (request: { path: string; action: string | null; body: string }) =>
  | string
  | Uint8Array
  | { drip: Uint8Array; everyMs: number }
  | null;

/** Options of {@linkcode fakeGateway}. */
export interface FakeGatewayOptions {
  /** Serve UPnP: SSDP, description, control. A function replaces the device's answers. */
  upnp?: boolean | UpnpReply;
  /** Delay before the SSDP answer. */
  ssdpDelayMs?: number;
  natpmp?: boolean;
  pcp?: boolean;
}

/** A fake router on loopback; see {@linkcode fakeGateway}. */
export interface FakeGateway {
  ssdpPort: number;
  natpmpPort: number;
  pcpPort: number;
  httpPort: number;
  /** What it was asked, in order: `upnp AddPortMapping 41234`, `natpmp map 41234 60`, `pcp map 41234 60`, … */
  log: string[];
  close(): Promise<void>;
}

/** An HTTP answer with a Content-Length. */
export function httpAnswer(status: string, type: string, body: string, extra = ""): string {
  return `HTTP/1.1 ${status}\r\nContent-Type: ${type}\r\nConnection: close\r\n${extra}` +
    `Content-Length: ${ENCODER.encode(body).length}\r\n\r\n${body}`;
}

function soapAnswer(action: string, args = ""): string {
  return httpAnswer(
    "200 OK",
    'text/xml; charset="utf-8"',
    '<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ' +
      's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>' +
      `<u:${action}Response xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2">${args}` +
      `</u:${action}Response></s:Body></s:Envelope>`,
  );
}

/** miniupnpd's answers: its description, its external address 45.0.0.21, every mapping granted. */
export const MINIUPNPD: UpnpReply = ({ path, action }) => {
  if (path === "/rootDesc.xml") {
    return httpAnswer("200 OK", 'text/xml; charset="utf-8"', DESCRIPTION);
  }
  if (action === "GetExternalIPAddress") {
    return soapAnswer(action, "<NewExternalIPAddress>45.0.0.21</NewExternalIPAddress>");
  }
  if (action === "AddPortMapping" || action === "DeletePortMapping") return soapAnswer(action);
  return httpAnswer("404 Not Found", "text/plain", "");
};

async function readRequest(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(65536);
  let length = 0;
  for (;;) {
    const n = await conn.read(buffer.subarray(length));
    if (n === null) break;
    length += n;
    const text = DECODER.decode(buffer.subarray(0, length));
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) continue;
    const declared = Number(text.match(/content-length: *(\d+)/i)?.[1] ?? 0);
    if (ENCODER.encode(text.slice(end + 4)).length >= declared) return text;
  }
  return DECODER.decode(buffer.subarray(0, length));
}

async function udpServer(
  answer: (message: Uint8Array) => Uint8Array | null,
  delayMs = 0,
): Promise<Socket> {
  const socket = createSocket("udp4");
  socket.on("message", (message, from) => {
    const reply = answer(message);
    if (reply === null) return;
    const send = () => {
      try {
        socket.send(reply, from.port, from.address);
      } catch {
        // Closed meanwhile.
      }
    };
    if (delayMs > 0) setTimeout(send, delayMs);
    else send();
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return socket;
}

/** A router on 127.0.0.1 speaking what `options` says; close it when done. */
export async function fakeGateway(options: FakeGatewayOptions = {}): Promise<FakeGateway> {
  const log: string[] = [];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const httpPort = listener.addr.port;
  const reply = typeof options.upnp === "function" ? options.upnp : MINIUPNPD;
  const connections = new Set<Promise<void>>();
  const closed = Promise.withResolvers<void>();
  let over = false;
  const serving = (async () => {
    for await (const conn of listener) {
      const handled = (async () => {
        try {
          const request = await readRequest(conn);
          const path = request.split(" ")[1] ?? "";
          const action = request.match(/SOAPAction: *"[^#"]*#([A-Za-z]+)"/i)?.[1] ?? null;
          const body = request.slice(request.indexOf("\r\n\r\n") + 4);
          const port = body.match(/<NewExternalPort>(\d+)</)?.[1];
          log.push(`upnp ${action ?? `GET ${path}`}${port ? ` ${port}` : ""}`);
          const answer = reply({ path, action, body });
          if (answer === null) return await closed.promise; // never answers
          if (typeof answer === "string" || answer instanceof Uint8Array) {
            const bytes = typeof answer === "string" ? ENCODER.encode(answer) : answer;
            for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
          } else {
            for (const byte of answer.drip) {
              if (over) break;
              await conn.write(Uint8Array.of(byte));
              await new Promise((r) => setTimeout(r, answer.everyMs));
            }
          }
        } catch {
          // The client hung up.
        } finally {
          try {
            conn.close();
          } catch {
            // Closed already.
          }
        }
      })();
      connections.add(handled);
      handled.finally(() => connections.delete(handled));
    }
  })();

  const ssdp = await udpServer((message) => {
    if (options.upnp === undefined || options.upnp === false) return null;
    const text = DECODER.decode(message);
    if (!text.startsWith("M-SEARCH * HTTP/1.1\r\n")) return null;
    log.push("ssdp M-SEARCH");
    return ENCODER.encode(
      "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\n" +
        "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n" +
        "USN: uuid:6e61746c-6162-4000-8000-000000000021::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n" +
        `EXT:\r\nSERVER: Debian UPnP/1.1 MiniUPnPd/2.3.1\r\nLOCATION: http://127.0.0.1:${httpPort}/rootDesc.xml\r\n\r\n`,
    );
  }, options.ssdpDelayMs);

  const natpmp = await udpServer((m) => {
    if (!options.natpmp || m[0] !== 0) return null;
    if (m[1] === 0) return Uint8Array.from([0, 128, 0, 0, 0, 0, 0, 1, 45, 0, 0, 21]);
    const view = new DataView(m.buffer, m.byteOffset, m.byteLength);
    log.push(`natpmp map ${view.getUint16(4)} ${view.getUint32(8)}`);
    const reply = new Uint8Array(16);
    reply.set([0, 130]);
    reply.set(m.subarray(4, 6), 8);
    reply.set(view.getUint32(8) === 0 ? [0, 0] : m.subarray(4, 6), 10);
    reply.set(m.subarray(8, 12), 12);
    return reply;
  });
  const pcp = await udpServer((m) => {
    if (!options.pcp || m[0] !== 2 || m.length !== 60) return null;
    const view = new DataView(m.buffer, m.byteOffset, m.byteLength);
    log.push(`pcp map ${view.getUint16(40)} ${view.getUint32(4)}`);
    const reply = new Uint8Array(60);
    reply.set([2, 0x81, 0, 0]);
    reply.set(m.subarray(4, 8), 4);
    reply.set(m.subarray(24, 44), 24); // nonce, protocol, internal and suggested port
    reply.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 45, 0, 0, 21], 44);
    return reply;
  });

  return {
    ssdpPort: ssdp.address().port,
    natpmpPort: natpmp.address().port,
    pcpPort: pcp.address().port,
    httpPort,
    log,
    async close() {
      over = true;
      closed.resolve();
      for (const socket of [ssdp, natpmp, pcp]) socket.close();
      listener.close();
      await serving.catch(() => {});
      await Promise.allSettled(connections);
    },
  };
}
