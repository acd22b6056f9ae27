"""A small HTTP server for loopback: answers any Host with a deterministic page.

`page_for(host, path)` says what a host serves (tests compare stored results with it): most hosts
serve 200 with a title and some of `WORDS` in the body, one in ten answers 404, one in ten redirects
to `/landing` first. Run: `python -m campaigns.loopback.http_server --port 8080`.
"""

from __future__ import annotations

import argparse
import zlib
from dataclasses import dataclass

from aiohttp import web

WORDS = ("pricing", "contact", "login", "sale", "parked")


@dataclass(frozen=True)
class Page:
    status: int
    title: str = ""
    body: str = ""
    location: str = ""


def host_hash(host: str) -> int:
    return zlib.crc32(host.lower().split(":", 1)[0].encode())


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


async def handle(request: web.Request) -> web.StreamResponse:
    page = page_for(request.host, request.path)
    if page.location:
        raise web.HTTPMovedPermanently(location=page.location)
    return web.Response(status=page.status, text=page.body, content_type="text/html")


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port, access_log=None, print=None, backlog=1024)


if __name__ == "__main__":
    main()
