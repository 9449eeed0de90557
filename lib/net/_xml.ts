// A strict, bounded reader for the XML that UPnP devices send: a device
// description and SOAP envelopes. It takes elements, attributes, text, the
// five predefined entities and character references, CDATA, comments and
// processing instructions, and refuses everything else, a DOCTYPE above all
// (entity declarations are how XML bombs work). A LAN device may send
// anything, so every dimension is bounded and every error is a
// SyntaxError, never a hang: the reader moves forward through the text
// once.

/** One element: its name as written (`s:Envelope`), its local part (`Envelope`), attributes, children and text. */
export interface XmlElement {
  readonly name: string;
  readonly local: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  /** The element's own text (not its children's), entities resolved. */
  text: string;
}

/** Limits of {@linkcode parseXml}. */
export interface XmlLimits {
  /** Most elements nested in one another. */
  maxDepth: number;
  /** Most elements in the document. */
  maxElements: number;
  /** Most attributes on one element. */
  maxAttributes: number;
}

/** A name: the characters UPnP and SOAP names use (ASCII), at most 256 of them. */
const NAME_RE = /[A-Za-z_][-A-Za-z0-9_.:]{0,255}/y;
const SPACE_RE = /[ \t\r\n]*/y;
const PREDEFINED: Readonly<Record<string, string>> = {
  lt: "<",
  gt: ">",
  amp: "&",
  quot: '"',
  apos: "'",
};

/** Resolves the predefined entities and character references in `raw`; throws on any other. */
function unescape(raw: string, at: number): string {
  if (!raw.includes("&")) return raw;
  return raw.replace(/&([^;&]{0,10});?/g, (whole, ref: string) => {
    if (!whole.endsWith(";")) throw new SyntaxError(`Cannot read XML: bare & near offset ${at}`);
    if (ref in PREDEFINED) return PREDEFINED[ref]!;
    const code = /^#x[0-9a-fA-F]{1,6}$/.test(ref)
      ? parseInt(ref.slice(2), 16)
      : /^#[0-9]{1,7}$/.test(ref)
      ? parseInt(ref.slice(1), 10)
      : NaN;
    if (!(code >= 0x20 && code <= 0x10ffff) && code !== 0x9 && code !== 0xa && code !== 0xd) {
      throw new SyntaxError(`Cannot read XML: unknown entity &${ref}; near offset ${at}`);
    }
    return String.fromCodePoint(code);
  });
}

/**
 * Parses `text` as one XML document and returns its root element. Throws
 * `SyntaxError` for anything malformed, for a DOCTYPE, and for a document
 * past `limits`.
 */
export function parseXml(text: string, limits: XmlLimits): XmlElement {
  let at = 0;
  let elements = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`Cannot read XML: ${what} at offset ${at}`);
  };
  const skipSpace = () => {
    SPACE_RE.lastIndex = at;
    SPACE_RE.exec(text);
    at = SPACE_RE.lastIndex;
  };
  const name = (): string => {
    NAME_RE.lastIndex = at;
    const match = NAME_RE.exec(text);
    if (match === null) fail("expected a name");
    at = NAME_RE.lastIndex;
    // A name longer than NAME_RE takes is cut, and what follows is no
    // valid character here: refused below, where '>' or '=' is expected.
    return match![0];
  };
  const skipTo = (end: string, what: string) => {
    const found = text.indexOf(end, at);
    if (found < 0) fail(`unterminated ${what}`);
    at = found + end.length;
  };
  /** Skips comments, processing instructions and space; refuses a DOCTYPE. */
  const misc = () => {
    for (;;) {
      skipSpace();
      if (text.startsWith("<!--", at)) skipTo("-->", "comment");
      else if (text.startsWith("<?", at)) skipTo("?>", "processing instruction");
      else if (text.startsWith("<!", at)) fail("a DOCTYPE or declaration (not accepted)");
      else return;
    }
  };
  const element = (depth: number): XmlElement => {
    if (depth > limits.maxDepth) fail(`elements nested deeper than ${limits.maxDepth}`);
    if (++elements > limits.maxElements) fail(`more than ${limits.maxElements} elements`);
    if (text[at] !== "<") fail("expected an element");
    at++;
    const tag = name();
    const attributes: Record<string, string> = {};
    let count = 0;
    for (;;) {
      const before = at;
      skipSpace();
      if (text.startsWith("/>", at)) {
        at += 2;
        return { name: tag, local: localName(tag), attributes, children: [], text: "" };
      }
      if (text[at] === ">") {
        at++;
        break;
      }
      if (at === before) fail("expected a space, '>' or '/>'");
      const attribute = name();
      skipSpace();
      if (text[at] !== "=") fail("expected '='");
      at++;
      skipSpace();
      const quote = text[at];
      if (quote !== '"' && quote !== "'") fail("expected a quoted value");
      const end = text.indexOf(quote!, at + 1);
      if (end < 0) fail("unterminated attribute value");
      const raw = text.slice(at + 1, end);
      if (raw.includes("<")) fail("'<' in an attribute value");
      if (Object.hasOwn(attributes, attribute)) fail(`attribute ${attribute} given twice`);
      if (++count > limits.maxAttributes) fail(`more than ${limits.maxAttributes} attributes`);
      attributes[attribute] = unescape(raw, at);
      at = end + 1;
    }
    const node: XmlElement = {
      name: tag,
      local: localName(tag),
      attributes,
      children: [],
      text: "",
    };
    const parts: string[] = [];
    for (;;) {
      const next = text.indexOf("<", at);
      if (next < 0) fail(`unterminated element ${tag}`);
      const raw = text.slice(at, next);
      if (raw.includes("]]>")) fail("']]>' in text");
      parts.push(unescape(raw, at));
      at = next;
      if (text.startsWith("</", at)) {
        at += 2;
        const closing = name();
        if (closing !== tag) fail(`</${closing}> closes <${tag}>`);
        skipSpace();
        if (text[at] !== ">") fail("expected '>'");
        at++;
        node.text = parts.join("");
        return node;
      }
      if (text.startsWith("<![CDATA[", at)) {
        const end = text.indexOf("]]>", at + 9);
        if (end < 0) fail("unterminated CDATA section");
        parts.push(text.slice(at + 9, end));
        at = end + 3;
      } else if (text.startsWith("<!--", at)) {
        skipTo("-->", "comment");
      } else if (text.startsWith("<?", at)) {
        skipTo("?>", "processing instruction");
      } else if (text.startsWith("<!", at)) {
        fail("a declaration inside an element");
      } else {
        node.children.push(element(depth + 1));
      }
    }
  };

  if (text.charCodeAt(0) === 0xfeff) at = 1;
  misc();
  const root = element(1);
  misc();
  if (at !== text.length) fail("content after the root element");
  return root;
}

function localName(name: string): string {
  const colon = name.lastIndexOf(":");
  return colon < 0 ? name : name.slice(colon + 1);
}

/** The first child of `element` with local name `local`, or undefined. */
export function childNamed(element: XmlElement, local: string): XmlElement | undefined {
  return element.children.find((child) => child.local === local);
}

/** Every descendant of `element` (depth first, itself excluded) with local name `local`. */
export function descendantsNamed(element: XmlElement, local: string): XmlElement[] {
  const found: XmlElement[] = [];
  const walk = (node: XmlElement) => {
    for (const child of node.children) {
      if (child.local === local) found.push(child);
      walk(child);
    }
  };
  walk(element);
  return found;
}
