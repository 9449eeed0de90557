import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { bytesToHex } from "@noble/hashes/utils.js";
import { encodeHttpRequest, type HttpResponse } from "./_http.ts";
import {
  addPortMappingRequest,
  deletePortMappingRequest,
  externalAddressRequest,
  mapPortUpnp,
  parseDescription,
  parseSoapResponse,
  UpnpError,
  type WanService,
} from "./upnp.ts";
import { encodeSearch, parseSearchAnswer } from "./_ssdp.ts";
import { fakeGateway, httpAnswer, MINIUPNPD, type UpnpReply } from "./testdata/fake_gateway.ts";

const DECODER = new TextDecoder();
const ENCODER = new TextEncoder();
const SERVICE: WanService = {
  serviceType: "urn:schemas-upnp-org:service:WANIPConnection:1",
  controlUrl: new URL("http://192.168.1.1:5000/ctl/IPConn"),
};
const ENVELOPE_OPEN = '<?xml version="1.0"?>\r\n' +
  '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ' +
  's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>';
const ENVELOPE_CLOSE = "</s:Body></s:Envelope>\r\n";
const HEAD = (action: string, length: number) =>
  "POST /ctl/IPConn HTTP/1.1\r\nHost: 192.168.1.1:5000\r\nConnection: close\r\n" +
  'Content-Type: text/xml; charset="utf-8"\r\n' +
  `SOAPAction: "urn:schemas-upnp-org:service:WANIPConnection:1#${action}"\r\n` +
  `Content-Length: ${length}\r\n\r\n`;

// The vectors of docs/protocol/transit.md, "Port mapping".
Deno.test("encodeSearch() is the SSDP M-SEARCH for an Internet Gateway Device", () => {
  equal(
    bytesToHex(encodeSearch()),
    "4d2d534541524348202a20485454502f312e310d0a484f53543a203233392e3235352e3235352e3235303a" +
      "313930300d0a4d414e3a2022737364703a646973636f766572220d0a4d583a20310d0a53543a2075726e" +
      "3a736368656d61732d75706e702d6f72673a6465766963653a496e7465726e657447617465776179446576" +
      "6963653a310d0a0d0a",
  );
  equal(
    DECODER.decode(encodeSearch()),
    'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n' +
      "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n",
  );
});

Deno.test("addPortMappingRequest() is the SOAP AddPortMapping request, byte for byte", () => {
  const bytes = encodeHttpRequest(
    addPortMappingRequest(SERVICE, {
      externalPort: 41234,
      internalPort: 41234,
      client: "192.168.1.10",
      leaseS: 60,
    }),
  );
  equal(
    DECODER.decode(bytes),
    HEAD("AddPortMapping", 590) + ENVELOPE_OPEN +
      '<u:AddPortMapping xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">' +
      "<NewRemoteHost></NewRemoteHost><NewExternalPort>41234</NewExternalPort>" +
      "<NewProtocol>TCP</NewProtocol><NewInternalPort>41234</NewInternalPort>" +
      "<NewInternalClient>192.168.1.10</NewInternalClient><NewEnabled>1</NewEnabled>" +
      "<NewPortMappingDescription>punch</NewPortMappingDescription>" +
      "<NewLeaseDuration>60</NewLeaseDuration></u:AddPortMapping>" + ENVELOPE_CLOSE,
  );
});

Deno.test("deletePortMappingRequest() and externalAddressRequest() are their SOAP requests, byte for byte", () => {
  equal(
    DECODER.decode(encodeHttpRequest(deletePortMappingRequest(SERVICE, 41234))),
    HEAD("DeletePortMapping", 380) + ENVELOPE_OPEN +
      '<u:DeletePortMapping xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">' +
      "<NewRemoteHost></NewRemoteHost><NewExternalPort>41234</NewExternalPort>" +
      "<NewProtocol>TCP</NewProtocol></u:DeletePortMapping>" + ENVELOPE_CLOSE,
  );
  equal(
    DECODER.decode(encodeHttpRequest(externalAddressRequest(SERVICE))),
    HEAD("GetExternalIPAddress", 285) + ENVELOPE_OPEN +
      '<u:GetExternalIPAddress xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">' +
      "</u:GetExternalIPAddress>" + ENVELOPE_CLOSE,
  );
});

Deno.test("parseSearchAnswer() takes an http LOCATION on the answer's own address only", () => {
  const answer = (location: string, status = "200 OK") =>
    ENCODER.encode(
      `HTTP/1.1 ${status}\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:` +
        `InternetGatewayDevice:1\r\nLocation: ${location}\r\n\r\n`,
    );
  equal(
    parseSearchAnswer(answer("http://192.168.1.1:5000/rootDesc.xml"), "192.168.1.1")?.href,
    "http://192.168.1.1:5000/rootDesc.xml",
  );
  equal(parseSearchAnswer(answer("http://192.168.1.1:5000/d.xml"), "192.168.1.66"), null);
  equal(parseSearchAnswer(answer("http://203.0.113.9/d.xml"), "192.168.1.1"), null, "elsewhere");
  equal(parseSearchAnswer(answer("https://192.168.1.1/d.xml"), "192.168.1.1"), null);
  equal(parseSearchAnswer(answer("http://u:p@192.168.1.1/d.xml"), "192.168.1.1"), null);
  equal(parseSearchAnswer(answer("http://192.168.1.1/d.xml", "404 No"), "192.168.1.1"), null);
  equal(parseSearchAnswer(ENCODER.encode("NOTIFY * HTTP/1.1\r\n\r\n"), "192.168.1.1"), null);
  equal(parseSearchAnswer(new Uint8Array(4096), "192.168.1.1"), null, "too large");
  equal(parseSearchAnswer(Uint8Array.of(0xff, 0xfe), "192.168.1.1"), null, "not UTF-8");
});

const DESCRIPTION = await Deno.readTextFile(
  new URL("./testdata/miniupnpd_root_desc.xml", import.meta.url),
);

Deno.test("parseDescription() finds miniupnpd's WANIPConnection:2 and its control URL", () => {
  const location = new URL("http://192.168.1.1:5000/rootDesc.xml");
  deepEqual(parseDescription(DESCRIPTION, location), {
    serviceType: "urn:schemas-upnp-org:service:WANIPConnection:2",
    controlUrl: new URL("http://192.168.1.1:5000/ctl/IPConn"),
  });
});

Deno.test("parseDescription() resolves against URLBase, and refuses a control URL off the device", () => {
  const location = new URL("http://192.168.1.1:5000/desc.xml");
  const description = (base: string, control: string, type = "WANPPPConnection:1") =>
    `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">${base}<device>` +
    `<serviceList><service><serviceType>urn:schemas-upnp-org:service:${type}</serviceType>` +
    `<controlURL>${control}</controlURL></service></serviceList></device></root>`;
  deepEqual(
    parseDescription(description("<URLBase>http://192.168.1.1:49000/</URLBase>", "ppp"), location),
    {
      serviceType: "urn:schemas-upnp-org:service:WANPPPConnection:1",
      controlUrl: new URL("http://192.168.1.1:49000/ppp"),
    },
  );
  throws(
    () => parseDescription(description("", "http://203.0.113.9/ctl"), location),
    /controlURL http:\/\/203\.0\.113\.9\/ctl is not on the device/,
  );
  throws(
    () => parseDescription(description("<URLBase>http://10.0.0.1/</URLBase>", "c"), location),
    /not on the device/,
  );
  throws(
    () => parseDescription(description("", "/c", "Layer3Forwarding:1"), location),
    /no WANIPConnection or WANPPPConnection service/,
  );
  throws(() => parseDescription("<html></html>", location), /its root is <html>/);
});

function response(status: number, type: string | null, body: string): HttpResponse {
  const headers = new Map<string, string>(type === null ? [] : [["content-type", type]]);
  return { status, headers, body: ENCODER.encode(body), localAddress: "192.168.1.10" };
}

Deno.test("parseSoapResponse() reads the arguments, a UPnP fault, and refuses the rest", () => {
  const ok200 = '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/' +
    'envelope/"><s:Body><u:GetExternalIPAddressResponse xmlns:u="x"><NewExternalIPAddress>' +
    "45.0.0.21</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>";
  deepEqual(
    parseSoapResponse(response(200, 'text/xml; charset="utf-8"', ok200), "GetExternalIPAddress"),
    new Map([["NewExternalIPAddress", "45.0.0.21"]]),
  );
  const fault = '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>' +
    "<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>" +
    '<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>718</errorCode>' +
    "<errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail>" +
    "</s:Fault></s:Body></s:Envelope>";
  throws(
    () => parseSoapResponse(response(500, "text/xml", fault), "AddPortMapping"),
    (error: unknown) =>
      error instanceof UpnpError && error.code === 718 &&
      error.message === "UPnP error 718 (ConflictInMappingEntry)",
  );
  throws(() => parseSoapResponse(response(302, "text/xml", ""), "A"), /a redirect \(302\)/);
  throws(() => parseSoapResponse(response(404, "text/xml", ""), "A"), /HTTP status 404/);
  throws(
    () => parseSoapResponse(response(200, "text/html", ok200), "A"),
    /content type text\/html/,
  );
  throws(() => parseSoapResponse(response(200, null, ok200), "A"), /content type none/);
  throws(
    () => parseSoapResponse(response(200, "text/xml", ok200), "AddPortMapping"),
    /no AddPortMappingResponse/,
  );
  throws(() => parseSoapResponse(response(500, "text/xml", ok200), "A"), /HTTP status 500/);
});

/** Asks a fake gateway speaking UPnP (only) for TCP 41234. */
async function ask(upnp: true | UpnpReply, ssdpDelayMs = 0) {
  const gateway = await fakeGateway({ upnp, ssdpDelayMs });
  const result = await mapPortUpnp(41234, {
    ssdpAddress: "127.0.0.1",
    ssdpPort: gateway.ssdpPort,
  });
  return { gateway, result };
}

Deno.test("mapPortUpnp() discovers the device, maps the port, and deletes it on close", async () => {
  const { gateway, result } = await ask(true);
  try {
    equal(result.protocol, "upnp");
    equal(result.mapping?.address, "45.0.0.21:41234");
    deepEqual(gateway.log.filter((l) => !l.startsWith("ssdp")).toSorted(), [
      "upnp AddPortMapping 41234",
      "upnp GET /rootDesc.xml",
      "upnp GetExternalIPAddress",
    ]);
    await result.mapping!.close();
    await result.mapping!.close(); // once only
    equal(gateway.log.at(-1), "upnp DeletePortMapping 41234");
    equal(gateway.log.filter((l) => l.includes("Delete")).length, 1);
  } finally {
    await gateway.close();
  }
});

Deno.test("mapPortUpnp() tries another public port when the one asked is taken", async () => {
  let tries = 0;
  const conflict: UpnpReply = (request) => {
    if (request.action === "AddPortMapping" && tries++ === 0) {
      return httpAnswer(
        "500 Internal Server Error",
        "text/xml",
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>' +
          "<detail><UPnPError><errorCode>718</errorCode><errorDescription>" +
          "ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault></s:Body>" +
          "</s:Envelope>",
      );
    }
    return MINIUPNPD(request);
  };
  const { gateway, result } = await ask(conflict);
  try {
    match(String(result.mapping?.address), /^45\.0\.0\.21:(49|5|6)\d+$/);
    ok(result.mapping?.address !== "45.0.0.21:41234");
    await result.mapping?.close();
  } finally {
    await gateway.close();
  }
});

Deno.test("mapPortUpnp() waits for a slow SSDP answer, and refuses when none comes", async () => {
  const slow = await ask(true, 400);
  try {
    equal(slow.result.mapping?.address, "45.0.0.21:41234");
    await slow.result.mapping?.close();
  } finally {
    await slow.gateway.close();
  }
  const started = Date.now();
  const none = await mapPortUpnp(41234, { ssdpAddress: "127.0.0.1", ssdpPort: 9 });
  deepEqual(none, {
    protocol: "upnp",
    mapping: null,
    answered: false,
    reason: "no UPnP gateway answered within 1250 ms",
  });
  ok(Date.now() - started < 2000);
});

/** A description answer with `body` and `type`. */
const describe = (body: string, type = "text/xml", extra = ""): UpnpReply => (request) =>
  request.path === "/rootDesc.xml" ? httpAnswer("200 OK", type, body, extra) : MINIUPNPD(request);

const HOSTILE: [string, UpnpReply, RegExp][] = [
  ["a huge description", describe("<root>" + "x".repeat(70_000) + "</root>"), /over 65536 bytes/],
  [
    "a huge Content-Length",
    (r) =>
      r.path === "/rootDesc.xml"
        ? "HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n<r"
        : MINIUPNPD(r),
    /over 65536 bytes/,
  ],
  [
    "endless headers",
    (r) =>
      r.path === "/rootDesc.xml" ? "HTTP/1.1 200 OK\r\n" + "X-A: b\r\n".repeat(2000) : MINIUPNPD(r),
    /headers over 8192 bytes/,
  ],
  ["deep nesting", describe("<a>".repeat(5000) + "</a>".repeat(5000)), /nested deeper than 24/],
  [
    "an entity bomb",
    describe(
      '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]><root>&b;</root>',
    ),
    /a DOCTYPE or declaration \(not accepted\)/,
  ],
  ["an unknown entity", describe("<root>&xxe;</root>"), /unknown entity &xxe;/],
  ["a wrong content type", describe(DESCRIPTION, "text/html"), /content type text\/html, not XML/],
  [
    "a redirect",
    (r) =>
      r.path === "/rootDesc.xml"
        ? httpAnswer("301 Moved", "text/xml", "", "Location: http://203.0.113.9/\r\n")
        : MINIUPNPD(r),
    /HTTP status 301/,
  ],
  [
    "a slow drip",
    (r) =>
      r.path === "/rootDesc.xml"
        ? { drip: ENCODER.encode(httpAnswer("200 OK", "text/xml", DESCRIPTION)), everyMs: 20 }
        : MINIUPNPD(r),
    /timed out/,
  ],
  ["no answer at all", (r) => r.path === "/rootDesc.xml" ? null : MINIUPNPD(r), /timed out/],
  [
    "gzip",
    describe(DESCRIPTION, "text/xml", "Content-Encoding: gzip\r\n"),
    /it is encoded \(gzip\)/,
  ],
  [
    "not UTF-8",
    (r) =>
      r.path === "/rootDesc.xml"
        ? ENCODER.encode(httpAnswer("200 OK", "text/xml", "ab")).map((b, i, a) =>
          i === a.length - 1 ? 0xff : b
        )
        : MINIUPNPD(r),
    /not UTF-8/,
  ],
  ["mismatched tags", describe("<root><device></root>"), /<\/root> closes <device>/],
  [
    "a chunked body too large",
    (r) =>
      r.path === "/rootDesc.xml"
        ? "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n" +
          "8000\r\n" + "x".repeat(0x8000) + "\r\n" + "8000\r\n" + "x".repeat(0x8000) +
          "\r\n0\r\n\r\n"
        : MINIUPNPD(r),
    /over 65536 bytes/,
  ],
  [
    "a bogus external address",
    (r) =>
      r.action === "GetExternalIPAddress"
        ? httpAnswer(
          "200 OK",
          "text/xml",
          '<s:Envelope xmlns:s="x"><s:Body><u:GetExternalIPAddressResponse><NewExternalIPAddress>999.1.1.1</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>',
        )
        : MINIUPNPD(r),
    /"999\.1\.1\.1" is no IPv4 address/,
  ],
  [
    "permanent leases only",
    (r) =>
      r.action === "AddPortMapping"
        ? httpAnswer(
          "500 Internal Server Error",
          "text/xml",
          '<s:Envelope xmlns:s="x"><s:Body><s:Fault><detail><UPnPError><errorCode>725</errorCode><errorDescription>OnlyPermanentLeasesSupported</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>',
        )
        : MINIUPNPD(r),
    /725 \(OnlyPermanentLeasesSupported\): the router grants permanent mappings only/,
  ],
];

Deno.test("mapPortUpnp() refuses each hostile device with its reason, in bounded time", async () => {
  // All at once, each against a device of its own: every refusal waits out
  // the SSDP answers of other devices (1.25 s) before it gives up.
  await Promise.all(HOSTILE.map(async ([what, reply, reason]) => {
    const started = Date.now();
    const { gateway, result } = await ask(reply);
    try {
      equal(result.mapping, null, what);
      ok(result.mapping === null && result.answered, `${what}: the device answered`);
      match(result.mapping === null ? result.reason : "", reason, what);
      // SSDP, then at most the description's and the control's timeouts.
      ok(Date.now() - started < 6000, `${what}: took ${Date.now() - started} ms`);
      // A mapping made before the refusal was taken back.
      const added = gateway.log.filter((l) => l.includes("AddPortMapping")).length;
      const deleted = gateway.log.filter((l) => l.includes("DeletePortMapping")).length;
      equal(deleted, what === "a bogus external address" ? added : 0, `${what}: ${gateway.log}`);
    } finally {
      await gateway.close();
    }
  }));
});

Deno.test("mapPortUpnp() stopped by its signal resolves at once with a refusal", async () => {
  const gateway = await fakeGateway({ upnp: true, ssdpDelayMs: 5000 });
  try {
    const stop = new AbortController();
    const asking = mapPortUpnp(41234, {
      ssdpAddress: "127.0.0.1",
      ssdpPort: gateway.ssdpPort,
      signal: stop.signal,
    });
    setTimeout(() => stop.abort(), 50);
    const started = Date.now();
    deepEqual(await asking, {
      protocol: "upnp",
      mapping: null,
      answered: false,
      reason: "stopped",
    });
    ok(Date.now() - started < 500);
  } finally {
    await gateway.close();
  }
});
