"""The chaos battery's flaky upstream, as its own process: the workflow webhook (`POST /process`) and
the scanned site (`GET /page/<token>` and the scan site's routes), failing and hanging a seeded share
of requests. `python -m devstack.chaos.flaky --port N --seed S`.

Every answer is a function of (seed, key, how many times that key was asked), so a file or a page
that fails does so on its first tries and then recovers: work converges once retried, which is the
behaviour the battery needs to prove retries and Continue correct (an upstream that never recovers
proves nothing but a final `failed`).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from devstack import scan_pages as pages
from devstack.scan_site import ROUTES

_FILENAME = re.compile(rb'filename="([^"]*)"')
HANG_SECONDS = 4.0  # longer than the battery's webhook timeout (1 s): the worker sees a timeout


def roll(seed: int, key: str, n: int) -> float:
    """A number in [0, 1) fixed by (seed, key, n)."""
    digest = hashlib.sha256(f"{seed}:{key}:{n}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def webhook_answer(seed: int, name: str, n: int) -> tuple[int, float]:
    """(status, delay) for the `n`-th request (0-based) about file `name`: `reject-*` files are refused
    (the customer's fault, fatal); others fail or hang on their first two tries with some chance."""
    if name.startswith("reject-"):
        return 400, 0.0
    if n >= 2:
        return 200, 0.0
    r = roll(seed, name, n)
    if r < 0.25:
        return 500, 0.0
    if r < 0.35:
        return 429, 0.0
    if r < 0.45:
        return 200, HANG_SECONDS
    return 200, 0.0


def page_failures(seed: int, token: str) -> int:
    """How many fetches of `/page/<token>` fail (503) before it answers: 0, 1 or 2."""
    return int(roll(seed, token, -1) * 3)


def serve(port: int, seed: int) -> None:
    lock = threading.Lock()
    asked: Counter[str] = Counter()

    def ask(key: str) -> int:
        with lock:
            asked[key] += 1
            return asked[key] - 1

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for key, value in (headers or {}).items():
                    if key != "Content-Type":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout, a killed worker)
                pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            match = _FILENAME.search(body)
            name = match.group(1).decode(errors="replace") if match else ""
            status, delay = webhook_answer(seed, name, ask("file:" + name))
            if delay:
                time.sleep(delay)
            self._send(status, b'{"ok": true, "file": "%s"}' % name.encode()[:200], "application/json")

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path.startswith("/page/"):
                token = path.removeprefix("/page/")
                if ask("page:" + token) < page_failures(seed, token):
                    self._send(503, b"failing on purpose", "text/plain")
                else:
                    self._send(200, pages.GOOD.encode(), "text/html; charset=utf-8", pages.GOOD_HEADERS)
                return
            status, headers, text = ROUTES.get(path, (404, {}, "no such page"))
            self._send(status, text.encode(), headers.get("Content-Type", "text/html; charset=utf-8"), headers)

        def do_HEAD(self) -> None:  # the scan's link checks: the status is what they look at
            path = self.path.split("?", 1)[0]
            status = 200 if path.startswith("/page/") else ROUTES.get(path, (404, {}, ""))[0]
            self._send(status, b"", "text/html; charset=utf-8")

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()
    serve(args.port, args.seed)


if __name__ == "__main__":
    main()
