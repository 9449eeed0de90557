import { deepEqual, equal, throws } from "node:assert/strict";
import { childNamed, descendantsNamed, parseXml } from "./_xml.ts";

const LIMITS = { maxDepth: 8, maxElements: 20, maxAttributes: 4 };

Deno.test("parseXml() reads elements, attributes, text, entities, CDATA and comments", () => {
  const root = parseXml(
    '\ufeff<?xml version="1.0"?>\n<!-- a device --><s:Envelope xmlns:s="x" a=\'1 &amp; 2\'>' +
      "<s:Body><v>a &lt;b&gt; &#65;&#x42; <![CDATA[<raw>&amp;]]><!-- no --></v><e/></s:Body>" +
      "</s:Envelope>\n<?pi after?>\n",
    LIMITS,
  );
  equal(root.name, "s:Envelope");
  equal(root.local, "Envelope");
  deepEqual(root.attributes, { "xmlns:s": "x", a: "1 & 2" });
  const body = childNamed(root, "Body")!;
  equal(childNamed(body, "v")?.text, "a <b> AB <raw>&amp;");
  deepEqual(childNamed(body, "e")?.children, []);
  deepEqual(descendantsNamed(root, "v").map((v) => v.name), ["v"]);
});

Deno.test("parseXml() refuses what is not well-formed, a DOCTYPE, and documents past its limits", () => {
  const cases: [string, RegExp][] = [
    ['<!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>', /a DOCTYPE or declaration \(not accepted\)/],
    ["<r><!ENTITY a 'b'></r>", /a declaration inside an element/],
    ["<r>&a;</r>", /unknown entity &a;/],
    ["<r>a & b</r>", /bare &/],
    ["<r>&#0;</r>", /unknown entity &#0;/],
    ["<r>&#x110000;</r>", /unknown entity/],
    ["<r><a></r>", /<\/r> closes <a>/],
    ["<r></r><r></r>", /content after the root element/],
    ["<r>", /unterminated element r/],
    ["<r a='1' a='2'/>", /attribute a given twice/],
    ["<r a=1/>", /expected a quoted value/],
    ["<r a='<'/>", /'<' in an attribute value/],
    ["<r b='1'c='2'/>", /expected a space/],
    ["<r>]]></r>", /']]>' in text/],
    ["<r><!-- x</r>", /unterminated comment/],
    ["<1/>", /expected a name/],
    ["", /expected an element/],
    ["<a>".repeat(9) + "</a>".repeat(9), /nested deeper than 8/],
    ["<r>" + "<e/>".repeat(20) + "</r>", /more than 20 elements/],
    ["<r a='1' b='1' c='1' d='1' e='1'/>", /more than 4 attributes/],
    [`<${"n".repeat(300)}/>`, /expected a space, '>' or '\/>'/],
  ];
  for (const [xml, error] of cases) throws(() => parseXml(xml, LIMITS), error, xml.slice(0, 40));
});

Deno.test("parseXml() reads a large document in one pass", () => {
  // 2000 siblings with long text: linear work, no backtracking.
  const xml = `<r>${`<e a="${"v".repeat(100)}">${"t".repeat(100)}</e>`.repeat(2000)}</r>`;
  const root = parseXml(xml, { ...LIMITS, maxElements: 2001 });
  equal(root.children.length, 2000);
});
