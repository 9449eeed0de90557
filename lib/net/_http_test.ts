import { deepEqual, equal, throws } from "node:assert/strict";
import { encodeHttpRequest, parseHttpResponse } from "./_http.ts";

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
const parse = (text: string, closed = false, max = 1024) =>
  parseHttpResponse(ENCODER.encode(text), closed, max);

Deno.test("encodeHttpRequest() writes Host and Connection first, Content-Length last", () => {
  equal(
    DECODER.decode(
      encodeHttpRequest({ method: "GET", url: new URL("http://192.168.1.1:5000/d.xml?x=1") }),
    ),
    "GET /d.xml?x=1 HTTP/1.1\r\nHost: 192.168.1.1:5000\r\nConnection: close\r\n\r\n",
  );
  equal(
    DECODER.decode(
      encodeHttpRequest({
        method: "POST",
        url: new URL("http://10.0.0.1/c"),
        headers: [["X-A", "b"]],
        body: "é",
      }),
    ),
    "POST /c HTTP/1.1\r\nHost: 10.0.0.1\r\nConnection: close\r\nX-A: b\r\nContent-Length: 2\r\n\r\né",
  );
});

Deno.test("parseHttpResponse() reads Content-Length, chunked and close-delimited bodies", () => {
  const answer = parse("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 3\r\n\r\nabc");
  equal(answer.status, 200);
  deepEqual([...answer.headers], [["content-type", "text/xml"], ["content-length", "3"]]);
  equal(DECODER.decode(answer.body), "abc");
  const chunked = parse(
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
  );
  equal(DECODER.decode(chunked.body), "abcde");
  equal(DECODER.decode(parse("HTTP/1.0 500 Oops\r\n\r\nxyz", true).body), "xyz");
});

Deno.test("parseHttpResponse() refuses malformed, incomplete and oversized answers", () => {
  const cases: [string, RegExp, boolean?][] = [
    ["HTTP/2 200 OK\r\n\r\n", /not an HTTP\/1\.x status line/],
    ["HTTP/1.1 200 OK\r\nbad header\r\n\r\n", /a malformed header line/],
    [
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na",
      /content-length given twice/,
    ],
    ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", /ends within its body/],
    ["HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab", /bytes after its body/],
    ["HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", /Content-Length -1/],
    ["HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n", /over 1024 bytes/],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", /transfer encoding gzip/],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", /both/],
    [
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext\r\nabc\r\n0\r\n\r\n",
      /chunk size/,
    ],
    [
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc\r\n0\r\n\r\n",
      /within a chunk|without its CRLF/,
    ],
    [
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + "a".repeat(0x800) +
      "\r\n0\r\n\r\n",
      /over 1024 bytes/,
    ],
    ["HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n", /it is encoded \(gzip\)/],
    ["HTTP/1.1 200 OK\r\nX: y", /ends within its headers/],
    ["HTTP/1.1 200 OK\r\n\r\nabc", /no framing, and not closed yet/, false],
  ];
  for (const [text, error, closed] of cases) {
    throws(() => parse(text, closed ?? true), error, JSON.stringify(text.slice(0, 60)));
  }
});
