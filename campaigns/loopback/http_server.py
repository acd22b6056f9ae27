"""A small HTTP server for loopback: answers any Host with a deterministic page.

`page_for(host, path)` says what a host serves (tests compare stored results with it): most hosts
serve 200 with a title and some of `WORDS` in the body, one in ten answers 404, one in ten redirects
to `/landing` first. Run: `python -m campaigns.loopback.http_server --port 8080`.

It is a bare asyncio protocol (on uvloop when installed), one request per connection, because it shares
the machine with the workers it serves: a benchmark should spend its CPU in Relay, not in the test
double. An aiohttp application cost about five times as much CPU per request as this does.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from dataclasses import dataclass
from http import HTTPStatus

WORDS = ("pricing", "contact", "login", "sale", "parked")
MAX_HEAD_BYTES = 16_384
LINGER_SECONDS = 5.0


@dataclass(frozen=True)
class Page:
    status: int
    title: str = ""
    body: str = ""
    location: str = ""


def host_hash(host: str) -> int:
    # Not the DNS server's crc32: with the same hash, the 404 bucket (hash % 10 == 0) would fall
    # entirely inside the DNS server's NXDOMAIN rule (hash % 5 == 0) and no resolved host would ever 404.
    return int.from_bytes(hashlib.blake2s(host.lower().split(":", 1)[0].encode(), digest_size=4).digest(), "big")


def words_for(host: str) -> list[str]:
    bits = host_hash(host) >> 8
    return [word for index, word in enumerate(WORDS) if bits >> index & 1]


def page_for(host: str, path: str = "/") -> Page:
    host = host.lower().split(":", 1)[0]
    bucket = host_hash(host) % 10
    if bucket == 0:
        return Page(status=404, title="Not found", body="<html><head><title>Not found</title></head></html>")
    if bucket == 1 and path != "/landing":
        return Page(status=301, location="/landing")
    words = words_for(host)
    title = f"Welcome to {host}"
    form = '<form action="/login"><input type="password" name="p"></form>' if "login" in words else ""
    body = f"<html><head><title>{title}</title></head><body><h1>{host}</h1><p>{' '.join(words)}</p>{form}</body></html>"
    return Page(status=200, title=title, body=body)


def response_bytes(status: int, *, body: bytes = b"", location: str = "", head_only: bool = False) -> bytes:
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Content-Length: {len(body)}", "Connection: close"]
    if body:
        lines.append("Content-Type: text/html; charset=utf-8")
    if location:
        lines.append(f"Location: {location}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + body


def answer(request_head: bytes) -> bytes:
    """The whole response to one request head (request line and headers, without the blank line)."""
    try:
        request_line, *header_lines = request_head.decode("latin-1").split("\r\n")
        method, target, _version = request_line.split(" ")
    except ValueError:
        return response_bytes(400, body=b"bad request line")
    host = next((line[5:].strip() for line in header_lines if line[:5].lower() == "host:"), "")
    if not host:
        return response_bytes(400, body=b"missing Host header")
    if method not in ("GET", "HEAD"):
        return response_bytes(405)
    page = page_for(host, target.split("?", 1)[0])
    if page.location:
        return response_bytes(page.status, location=page.location, head_only=method == "HEAD")
    return response_bytes(page.status, body=page.body.encode(), head_only=method == "HEAD")


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.answered = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream server's transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.answered:
            return  # the rest of a request we refused: read and dropped until the client closes
        self.buffer += data
        head, separator, rest = self.buffer.partition(b"\r\n\r\n")
        if separator and not rest:
            self.transport.write(answer(head))
            self.transport.close()  # one request per connection (every response says Connection: close)
        elif separator or len(self.buffer) > MAX_HEAD_BYTES:
            # A body or an endless head: answer, then keep reading until the client closes (closing with
            # unread bytes would reset the connection and could destroy the answer before it is read).
            self.answered = True
            self.transport.write(answer(head) if separator else response_bytes(431))
            self.transport.write_eof()
            asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.close)


async def serve(*, host: str = "127.0.0.1", port: int) -> asyncio.Server:
    return await asyncio.get_running_loop().create_server(_Connection, host, port, backlog=1024)


def run_forever(host: str, port: int) -> None:
    async def main() -> None:
        server = await serve(host=host, port=port)
        print(f"http_server listening on {host}:{port}", flush=True)
        async with server:
            await server.serve_forever()

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
    args = parser.parse_args()
    run_forever(args.host, args.port)


if __name__ == "__main__":
    main()
