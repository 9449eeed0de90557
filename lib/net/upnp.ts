/**
 * Asking the router to forward a TCP port with UPnP IGD (the Internet
 * Gateway Device protocol), which most home routers speak.
 *
 * Protocol flow (docs/protocol/transit.md, "Port mapping"):
 * - SSDP (lib/net/_ssdp.ts): an M-SEARCH for `urn:schemas-upnp-org:device:InternetGatewayDevice:1`
 *   to 239.255.255.250:1900 (multicast on the LAN, TTL 1), sent twice; an
 *   answer (HTTP over UDP, `200 OK`) names the device description in its
 *   LOCATION, which must be on the address the answer came from. Devices
 *   may wait up to MX (1) seconds to answer: nothing waits for this but the
 *   mapping itself.
 * - The device description (GET LOCATION, XML): the first WANIPConnection
 *   (v2, then v1) or WANPPPConnection service and its controlURL, on the
 *   same host.
 * - SOAP over HTTP to the controlURL: AddPortMapping for TCP P to this
 *   host's LAN address, P suggested as the public port (another at random
 *   if it is taken), a lease of 60 s, and GetExternalIPAddress, at once.
 * - The mapping's `close()` sends DeletePortMapping.
 *
 * A LAN device may answer anything: every read is bounded in bytes and time
 * (lib/net/_http.ts), XML is read strictly (lib/net/_xml.ts: no DOCTYPE, so
 * no entities), no redirect is followed, and any deviation is a refusal
 * with its reason, never a crash.
 *
 * @module
 */

import { formatHostPort } from "./address.ts";
import { httpExchange, type HttpRequest, type HttpResponse } from "./_http.ts";
import { asked, deletion, grantedMapping, type MappingResult, refused } from "./_mapping.ts";
import { MAX_DEVICES, Search, SSDP_WAIT_MS } from "./_ssdp.ts";
import { childNamed, descendantsNamed, parseXml, type XmlElement, type XmlLimits } from "./_xml.ts";

/** A device description is 3–10 KB (miniupnpd's: 3 KB); more is refused. */
export const UPNP_DESCRIPTION_MAX_BYTES = 64 * 1024;
/** A SOAP answer is under 1 KB; more is refused. */
export const UPNP_SOAP_MAX_BYTES = 16 * 1024;
/** Each HTTP exchange with the device must end within this (a LAN device answers in milliseconds). */
export const UPNP_HTTP_TIMEOUT_MS = 2000;
/** The whole request, discovery to grant, must end within this, well inside the punch window. */
export const UPNP_DEADLINE_MS = 6000;
/** Seconds of lease asked for: the punch window with room to spare; deleted sooner when done. */
export const UPNP_LEASE_S = 60;
/** Public ports tried when the one asked is taken (error 718): P, then random ones. */
const PORT_TRIES = 3;

/** What the XML of a description or a SOAP answer may be, at most. */
const XML_LIMITS: XmlLimits = { maxDepth: 24, maxElements: 2000, maxAttributes: 16 };

/** The services that map ports, in order of preference. */
export const WAN_SERVICES = [
  "urn:schemas-upnp-org:service:WANIPConnection:2",
  "urn:schemas-upnp-org:service:WANIPConnection:1",
  "urn:schemas-upnp-org:service:WANPPPConnection:1",
] as const;

/** A port mapping service of a device: where to send its SOAP requests. */
export interface WanService {
  serviceType: (typeof WAN_SERVICES)[number];
  controlUrl: URL;
}

/**
 * The preferred port mapping service of a device description read from
 * `location`. Throws an Error saying why there is none.
 */
export function parseDescription(xml: string, location: URL): WanService {
  const root = parseXml(xml, XML_LIMITS);
  if (root.local !== "root") {
    throw new Error(`Cannot read the description: its root is <${root.name}>`);
  }
  const urlBase = childNamed(root, "URLBase")?.text.trim();
  const services = descendantsNamed(root, "service");
  for (const serviceType of WAN_SERVICES) {
    const service = services.find((s) => childNamed(s, "serviceType")?.text.trim() === serviceType);
    if (service === undefined) continue;
    const control = childNamed(service, "controlURL")?.text.trim();
    if (!control) throw new Error(`Cannot read the description: ${serviceType} has no controlURL`);
    let url: URL;
    try {
      url = new URL(control, urlBase ? new URL(urlBase, location) : location);
    } catch {
      throw new Error(`Cannot read the description: controlURL ${control} is no URL`);
    }
    if (url.protocol !== "http:" || url.hostname !== location.hostname) {
      throw new Error(`Cannot read the description: controlURL ${url.href} is not on the device`);
    }
    return { serviceType, controlUrl: url };
  }
  throw new Error("Cannot read the description: no WANIPConnection or WANPPPConnection service");
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The HTTP request of a SOAP action: `args` in order, values escaped. */
export function encodeSoapRequest(
  service: WanService,
  action: string,
  args: readonly (readonly [string, string])[],
): HttpRequest {
  const body = '<?xml version="1.0"?>\r\n' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ' +
    's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>' +
    `<u:${action} xmlns:u="${service.serviceType}">` +
    args.map(([name, value]) => `<${name}>${escapeXml(value)}</${name}>`).join("") +
    `</u:${action}></s:Body></s:Envelope>\r\n`;
  return {
    method: "POST",
    url: service.controlUrl,
    headers: [
      ["Content-Type", 'text/xml; charset="utf-8"'],
      ["SOAPAction", `"${service.serviceType}#${action}"`],
    ],
    body,
  };
}

/** The AddPortMapping request: TCP `externalPort` to `client`:`internalPort`, for `leaseS`. */
export function addPortMappingRequest(
  service: WanService,
  mapping: { externalPort: number; internalPort: number; client: string; leaseS: number },
): HttpRequest {
  return encodeSoapRequest(service, "AddPortMapping", [
    ["NewRemoteHost", ""],
    ["NewExternalPort", String(mapping.externalPort)],
    ["NewProtocol", "TCP"],
    ["NewInternalPort", String(mapping.internalPort)],
    ["NewInternalClient", mapping.client],
    ["NewEnabled", "1"],
    ["NewPortMappingDescription", "punch"],
    ["NewLeaseDuration", String(mapping.leaseS)],
  ]);
}

/** The DeletePortMapping request for public TCP `externalPort`. */
export function deletePortMappingRequest(service: WanService, externalPort: number): HttpRequest {
  return encodeSoapRequest(service, "DeletePortMapping", [
    ["NewRemoteHost", ""],
    ["NewExternalPort", String(externalPort)],
    ["NewProtocol", "TCP"],
  ]);
}

/** The GetExternalIPAddress request. */
export function externalAddressRequest(service: WanService): HttpRequest {
  return encodeSoapRequest(service, "GetExternalIPAddress", []);
}

/** A device's refusal of a SOAP action: UPnP error code and description. */
export class UpnpError extends Error {
  readonly code: number;
  constructor(code: number, description: string) {
    super(`UPnP error ${code}${description ? ` (${description})` : ""}`);
    this.name = "UpnpError";
    this.code = code;
  }
}

function isXml(response: HttpResponse): boolean {
  const type = response.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  return type === "text/xml" || type === "application/xml";
}

function bodyText(response: HttpResponse, what: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(response.body);
  } catch {
    throw new Error(`Cannot read ${what}: not UTF-8`);
  }
}

/**
 * Reads the answer to SOAP `action`: its arguments by name, or throws
 * {@linkcode UpnpError} for a SOAP fault, an Error for anything else.
 */
export function parseSoapResponse(response: HttpResponse, action: string): Map<string, string> {
  const what = `the ${action} answer`;
  if (response.status >= 300 && response.status < 400) {
    throw new Error(`Cannot read ${what}: a redirect (${response.status}), not followed`);
  }
  if (response.status !== 200 && response.status !== 500) {
    throw new Error(`Cannot read ${what}: HTTP status ${response.status}`);
  }
  if (!isXml(response)) {
    const type = response.headers.get("content-type") ?? "none";
    throw new Error(`Cannot read ${what}: content type ${type}, not XML`);
  }
  const envelope = parseXml(bodyText(response, what), XML_LIMITS);
  const body = envelope.local === "Envelope" ? childNamed(envelope, "Body") : undefined;
  if (body === undefined) throw new Error(`Cannot read ${what}: no SOAP envelope and body`);
  if (response.status === 500) {
    const fault = childNamed(body, "Fault");
    const error = fault && descendantsNamed(fault, "UPnPError")[0];
    const code = error && childNamed(error, "errorCode")?.text.trim();
    if (!code || !/^[0-9]{1,4}$/.test(code)) {
      throw new Error(`Cannot read ${what}: HTTP status 500`);
    }
    const description = childNamed(error!, "errorDescription")?.text.trim() ?? "";
    throw new UpnpError(Number(code), description.slice(0, 80).replace(/[^\x20-\x7e]/g, "?"));
  }
  const answer = childNamed(body, `${action}Response`);
  if (answer === undefined) throw new Error(`Cannot read ${what}: no ${action}Response`);
  return new Map(answer.children.map((child: XmlElement) => [child.local, child.text.trim()]));
}

/** Options of {@linkcode mapPortUpnp}. */
export interface MapPortUpnpOptions {
  /** Where the M-SEARCH goes: SSDP's multicast group, or (tests) a unicast responder. */
  ssdpAddress?: string;
  /** @default {1900} */
  ssdpPort?: number;
  /** Called once, when the first device answers the search (the mapping may follow soon). */
  onDiscovered?: () => void;
  /** Stops asking: resolves with a refusal (and takes back what may have been granted). */
  signal?: AbortSignal;
}

/**
 * Finds an IGD on the LAN and asks it to forward TCP `internalPort` to this
 * host. Resolves with the mapping or with why there is none (within
 * {@linkcode UPNP_DEADLINE_MS}); never throws for the network's sake. The
 * mapping is in the process' registry until closed.
 */
export function mapPortUpnp(
  internalPort: number,
  options: MapPortUpnpOptions = {},
): Promise<MappingResult> {
  return asked(options.signal, (signal) => {
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(UPNP_DEADLINE_MS)]);
    return ask(internalPort, options, deadline, signal);
  });
}

async function ask(
  internalPort: number,
  options: MapPortUpnpOptions,
  deadline: AbortSignal,
  stopped: AbortSignal,
): Promise<MappingResult> {
  const search = await Search.start(options, deadline);
  const reasons: string[] = [];
  try {
    for (let i = 0; i < MAX_DEVICES && !deadline.aborted; i++) {
      const location = await search.answer(i);
      if (location === null) break;
      try {
        return await mapOn(location, internalPort, deadline);
      } catch (error) {
        reasons.push(`${location.host}: ${(error as Error).message}`);
      }
    }
  } finally {
    search.close();
  }
  if (stopped.aborted) return refused("upnp", reasons.length > 0, "stopped");
  if (reasons.length === 0) {
    return refused("upnp", false, `no UPnP gateway answered within ${SSDP_WAIT_MS} ms`);
  }
  return refused("upnp", true, reasons.join("; "));
}

/** Reads the device at `location` and maps the port there; throws with the reason if it cannot. */
async function mapOn(
  location: URL,
  internalPort: number,
  signal: AbortSignal,
): Promise<MappingResult> {
  const http = (request: HttpRequest, maxBytes: number) =>
    httpExchange(request, { maxBytes, timeoutMs: UPNP_HTTP_TIMEOUT_MS, signal });
  const description = await http({ method: "GET", url: location }, UPNP_DESCRIPTION_MAX_BYTES);
  if (description.status !== 200) {
    throw new Error(`Cannot read the description: HTTP status ${description.status}`);
  }
  if (!isXml(description)) {
    const type = description.headers.get("content-type") ?? "none";
    throw new Error(`Cannot read the description: content type ${type}, not XML`);
  }
  const service = parseDescription(bodyText(description, "the description"), location);
  const client = description.localAddress;
  const soap = async (request: HttpRequest, action: string) =>
    parseSoapResponse(await http(request, UPNP_SOAP_MAX_BYTES), action);

  const external = soap(externalAddressRequest(service), "GetExternalIPAddress").then((answer) => {
    const ip = answer.get("NewExternalIPAddress") ?? "";
    if (!/^(\d{1,3})(\.\d{1,3}){3}$/.test(ip) || ip.split(".").some((b) => Number(b) > 255)) {
      throw new Error(`Cannot use the external address: "${ip.slice(0, 40)}" is no IPv4 address`);
    }
    if (ip === "0.0.0.0") throw new Error("Cannot use the external address: the router has none");
    return ip;
  });
  external.catch(() => {});
  let mapped: number | null = null;
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < PORT_TRIES && mapped === null; attempt++) {
    const port = attempt === 0 ? internalPort : 49152 + Math.floor(Math.random() * 16384);
    const remove = () => deletePortMapping(service, port);
    try {
      const request = addPortMappingRequest(service, {
        externalPort: port,
        internalPort,
        client,
        leaseS: UPNP_LEASE_S,
      });
      await soap(request, "AddPortMapping");
      mapped = port;
    } catch (error) {
      lastError = error as Error;
      // Stopped or timed out after the request left: the router may have
      // set the mapping up all the same.
      if (signal.aborted) await deletion(remove);
      if (!(error instanceof UpnpError) || error.code !== 718) break;
    }
  }
  if (mapped === null) throw new Error(`AddPortMapping refused: ${refusal(lastError)}`);
  const port = mapped;
  const remove = () => deletePortMapping(service, port);
  let ip: string;
  try {
    ip = await external;
  } catch (error) {
    await deletion(remove);
    throw error;
  }
  const address = formatHostPort(ip, port);
  return { protocol: "upnp", mapping: grantedMapping("upnp", address, remove) };
}

/** Why AddPortMapping failed, in words a person can act on. */
function refusal(error: Error | undefined): string {
  if (!(error instanceof UpnpError)) return error?.message ?? "no answer";
  const known: Record<number, string> = {
    606: "action not authorized",
    718: "every public port tried is taken",
    724: "the router wants the same public and internal port",
    725: "the router grants permanent mappings only, which punch does not ask for",
    729: "the router allows no more mappings",
  };
  return known[error.code] ? `${error.message}: ${known[error.code]}` : error.message;
}

/** Deletes the mapping of public TCP `port`; bounded by the HTTP timeout. */
async function deletePortMapping(service: WanService, port: number): Promise<void> {
  const response = await httpExchange(
    deletePortMappingRequest(service, port),
    { maxBytes: UPNP_SOAP_MAX_BYTES, timeoutMs: UPNP_HTTP_TIMEOUT_MS },
  );
  parseSoapResponse(response, "DeletePortMapping");
}
