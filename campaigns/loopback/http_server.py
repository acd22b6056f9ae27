"""A small HTTP server for loopback: answers any Host with a deterministic page.

`page_for(host, path)` says what a host serves (tests compare stored results with it): most hosts
serve 200 with a title and some of `WORDS` in the body, one in ten answers 404, one in ten redirects
to `/landing` first. Hosts whose first label starts with one of these serve what real sites do and
a single-segment page never shows (`SPECIAL`):

- `big-`: a 1 MiB page whose only keyword (`pricing`) is at the very end;
- `chunked-`: the usual page in `Transfer-Encoding: chunked`, several chunks;
- `gzip-` / `deflate-`: the usual page compressed (when the client accepts it);
- `latin1-`: a page in ISO-8859-1 (a title with an accent), said by the Content-Type charset.

With `--tls-port` it also listens for HTTPS there, with a self-signed certificate made at start (for
`*.test`), and routes by SNI as a CDN does: the page is the TLS server name's, and a client that sends
no server name gets the `Default TLS site`. Run: `python -m campaigns.loopback.http_server --port 8080`.

Two switches make the failures that `make run`'s walkthroughs retry (README "Try it"), on any host:

- `/flaky/<n>/<tag>` (any method): the first `n` requests to that exact path answer 503, the later ones
  200 with a small JSON body: a webhook that is down for a while (a new `<tag>` starts a new count);
- `POST /provider/backlinks` (a JSON body with the scanned `url`): a backlink provider that answers 503
  the first time it is asked about a URL and the backlinks of `BACKLINKS` after that.

It is a bare asyncio protocol (on uvloop when installed), one request per connection, because it shares
the machine with the workers it serves: a benchmark should spend its CPU in Relay, not in the test
double. An aiohttp application cost about five times as much CPU per request as this does.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import ssl
import tempfile
import zlib
from dataclasses import dataclass
from http import HTTPStatus

WORDS = ("pricing", "contact", "login", "sale", "parked")
MAX_HEAD_BYTES = 16_384
LINGER_SECONDS = 5.0
SPECIAL = ("big-", "chunked-", "gzip-", "deflate-", "latin1-")
BIG_PAGE_BYTES = 1 << 20
DEFAULT_TLS_TITLE = "Default TLS site"
MAX_BODY_BYTES = 65_536  # a request body up to this is read before the answer (the switches read it)
PROVIDER_PATH = "/provider/backlinks"
BACKLINKS = [{"source": "http://news.test/relay-review", "anchor": "Relay"}, {"source": "http://blog.test/pipelines"}]
# Requests seen per switch key, for this server process's life (the switches count them).
_seen: dict[str, int] = {}


@dataclass(frozen=True)
class Page:
    status: int
    title: str = ""
    body: str = ""
    location: str = ""
    charset: str = "utf-8"


def special_kind(host: str) -> str:
    label = host.lower().split(".", 1)[0]
    return next((prefix for prefix in SPECIAL if label.startswith(prefix)), "")


def _big_page(host: str) -> Page:
    title = f"Big page of {host}"
    head, tail = f"<html><head><title>{title}</title></head><body>\n", "<p>pricing</p></body></html>"
    filler = "<p>" + "lorem ipsum dolor sit amet " * 3 + "</p>\n"
    room = BIG_PAGE_BYTES - len(head) - len(tail)
    body = head + filler * (room // len(filler)) + " " * (room % len(filler)) + tail
    return Page(status=200, title=title, body=body)


def host_hash(host: str) -> int:
    # Not the DNS server's crc32: with the same hash, the 404 bucket (hash % 10 == 0) would fall
    # entirely inside the DNS server's NXDOMAIN rule (hash % 5 == 0) and no resolved host would ever 404.
    return int.from_bytes(hashlib.blake2s(host.lower().split(":", 1)[0].encode(), digest_size=4).digest(), "big")


def words_for(host: str) -> list[str]:
    bits = host_hash(host) >> 8
    return [word for index, word in enumerate(WORDS) if bits >> index & 1]


def page_for(host: str, path: str = "/") -> Page:
    host = host.lower().split(":", 1)[0]
    kind = special_kind(host)
    if kind == "big-":
        return _big_page(host)
    if kind == "latin1-":
        title = f"Café {host}"
        body = f"<html><head><title>{title}</title></head><body><p>déjà vu: pricing</p></body></html>"
        return Page(status=200, title=title, body=body, charset="iso-8859-1")
    bucket = -1 if kind else host_hash(host) % 10  # the transport variants always serve their page
    if bucket == 0:
        return Page(status=404, title="Not found", body="<html><head><title>Not found</title></head></html>")
    if bucket == 1 and path != "/landing":
        return Page(status=301, location="/landing")
    words = words_for(host)
    title = f"Welcome to {host}"
    form = '<form action="/login"><input type="password" name="p"></form>' if "login" in words else ""
    body = f"<html><head><title>{title}</title></head><body><h1>{host}</h1><p>{' '.join(words)}</p>{form}</body></html>"
    return Page(status=200, title=title, body=body)


def response_bytes(
    status: int,
    *,
    body: bytes = b"",
    location: str = "",
    head_only: bool = False,
    charset: str = "utf-8",
    encoding: str = "",
    chunks: int = 0,
    content_type: str = "text/html",
) -> bytes:
    """The whole response; `encoding` a Content-Encoding the body is already in, `chunks` > 0 sends the
    body in that many chunks (`Transfer-Encoding: chunked`) instead of with a Content-Length."""
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Connection: close"]
    lines.insert(1, "Transfer-Encoding: chunked" if chunks else f"Content-Length: {len(body)}")
    if body:
        lines.append(f"Content-Type: {content_type}; charset={charset}")
    if encoding:
        lines.append(f"Content-Encoding: {encoding}")
    if location:
        lines.append(f"Location: {location}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if head_only:
        return head
    if not chunks:
        return head + body
    size = -(-len(body) // chunks) or 1
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return head + b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def _compressed(body: bytes, encoding: str) -> bytes:
    # gzip: a gzip member (wbits 31); "deflate" is the zlib format (RFC 9110).
    compressor = zlib.compressobj(wbits=31) if encoding == "gzip" else zlib.compressobj()
    return compressor.compress(body) + compressor.flush()


def _json(status: int, data: object) -> bytes:
    return response_bytes(status, body=json.dumps(data).encode(), content_type="application/json")


def _count(key: str) -> int:
    _seen[key] = _seen.get(key, 0) + 1
    return _seen[key]


def _flaky(path: str) -> bytes:
    """`/flaky/<n>/<tag>`: 503 for the first n requests to this path, then 200."""
    parts = path.split("/")
    if len(parts) < 4 or not parts[2].isdigit():
        return response_bytes(404, body=b"use /flaky/<n>/<tag>")
    seen, failing = _count(path), int(parts[2])
    if seen <= failing:
        return _json(503, {"error": "unavailable", "request": seen, "failing": failing})
    return _json(200, {"ok": True, "request": seen})


def _provider(body: bytes) -> bytes:
    """The demo backlink provider: 503 the first time it is asked about a URL, its backlinks after."""
    try:
        url = json.loads(body)["url"]
    except (ValueError, TypeError, KeyError):
        return _json(400, {"error": 'a JSON body with "url" is required'})
    if _count(f"provider:{url}") == 1:
        return _json(503, {"error": "the provider is busy, try again"})
    return _json(200, {"backlinks": BACKLINKS, "total": len(BACKLINKS)})


def answer(request_head: bytes, *, tls_name: str | None = None, tls: bool = False, body: bytes = b"") -> bytes:
    """The whole response to one request head (request line and headers, without the blank line) and
    its body when it was read. Over TLS the page is the one of `tls_name` (the SNI), whatever the Host
    header says."""
    try:
        request_line, *header_lines = request_head.decode("latin-1").split("\r\n")
        method, target, _version = request_line.split(" ")
    except ValueError:
        return response_bytes(400, body=b"bad request line")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    host = headers.get("host", "")
    if not host:
        return response_bytes(400, body=b"missing Host header")
    path = target.split("?", 1)[0]
    if path.startswith("/flaky/"):
        return _flaky(path)
    if path == PROVIDER_PATH and method == "POST":
        return _provider(body)
    if method not in ("GET", "HEAD"):
        return response_bytes(405)
    head_only = method == "HEAD"
    if tls and not tls_name:
        body = f"<html><head><title>{DEFAULT_TLS_TITLE}</title></head></html>".encode()
        return response_bytes(200, body=body, head_only=head_only)
    name = tls_name or host
    page = page_for(name, target.split("?", 1)[0])
    if page.location:
        return response_bytes(page.status, location=page.location, head_only=head_only)
    body = page.body.encode(page.charset)
    kind = special_kind(name)
    encoding = kind[:-1] if kind in ("gzip-", "deflate-") and kind[:-1] in headers.get("accept-encoding", "") else ""
    if encoding:
        body = _compressed(body, encoding)
    return response_bytes(
        page.status,
        body=body,
        head_only=head_only,
        charset=page.charset,
        encoding=encoding,
        chunks=4 if kind == "chunked-" else 0,
    )


class _Connection(asyncio.Protocol):
    def __init__(self, tls: bool = False) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.answered = False
        self.tls = tls
        self.tls_name: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream server's transport
        if self.tls:  # the handshake is over: the SNI callback has named the connection
            self.tls_name = getattr(transport.get_extra_info("ssl_object"), "sni_name", None)

    def answer(self, head: bytes, body: bytes = b"") -> bytes:
        return answer(head, tls_name=self.tls_name, tls=self.tls, body=body)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.answered:
            return  # the rest of a request we refused: read and dropped until the client closes
        self.buffer += data
        head, separator, rest = self.buffer.partition(b"\r\n\r\n")
        length, chunked = _body_framing(head) if separator else (0, False)
        if separator and not chunked and length <= MAX_BODY_BYTES:
            if len(rest) < length:
                return  # a small body is on its way: answer once it is all here
            self.transport.write(self.answer(head, rest[:length]))
            self.transport.close()  # one request per connection (every response says Connection: close)
        elif separator or len(self.buffer) > MAX_HEAD_BYTES:
            # A body or an endless head: answer, then keep reading until the client closes (closing with
            # unread bytes would reset the connection and could destroy the answer before it is read).
            self.answered = True
            self.transport.write(self.answer(head) if separator else response_bytes(431))
            self.transport.write_eof()
            asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.close)


def _body_framing(head: bytes) -> tuple[int, bool]:
    """The request's Content-Length (0 when absent or unreadable) and whether its body is chunked."""
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip()) if value.strip().isdigit() else MAX_BODY_BYTES + 1
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


def tls_context() -> ssl.SSLContext:
    """A server context with a self-signed certificate for `*.test` made now, remembering each
    connection's SNI name on its SSL object (`sni_name`)."""
    from .certificate import self_signed_pem  # cryptography: only needed when serving TLS

    cert_pem, key_pem = self_signed_pem(["*.test", "localhost"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as folder:
        cert_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        with open(cert_path, "wb") as cert_file, open(key_path, "wb") as key_file:
            cert_file.write(cert_pem)
            key_file.write(key_pem)
        context.load_cert_chain(cert_path, key_path)

    def remember_name(ssl_object: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        ssl_object.sni_name = name  # type: ignore[attr-defined]

    context.sni_callback = remember_name
    return context


async def serve(*, host: str = "127.0.0.1", port: int, tls_port: int | None = None) -> list[asyncio.Server]:
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(_Connection, host, port, backlog=1024)]
    if tls_port:
        context = tls_context()
        servers.append(await loop.create_server(lambda: _Connection(tls=True), host, tls_port, ssl=context))
    return servers


def run_forever(host: str, port: int, tls_port: int | None = None) -> None:
    async def main() -> None:
        servers = await serve(host=host, port=port, tls_port=tls_port)
        print(f"http_server listening on {host}:{port} (tls: {tls_port})", flush=True)
        await asyncio.gather(*(server.serve_forever() for server in servers))

    try:
        import uvloop  # a third of the CPU per connection of the standard loop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-port", type=int, default=0, help="also serve HTTPS here (self-signed, SNI routing)")
    args = parser.parse_args()
    run_forever(args.host, args.port, args.tls_port or None)


if __name__ == "__main__":
    main()
