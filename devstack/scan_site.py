"""A loopback web site for the scan tests and benchmarks: known pages, plus switches that make requests fail or slow
down, by the service that sends them (services name themselves in the User-Agent; the scan's shared
page fetch is `page`) or by path. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import scan_pages as pages

ROUTES: dict[str, tuple[int, dict[str, str], str]] = {
    "/good": (200, pages.GOOD_HEADERS, pages.GOOD),
    "/bad": (200, {"Server": "Apache/2.4.1"}, pages.BAD),
    "/schema": (200, {}, pages.SCHEMA),
    "/ok-target": (200, {}, "<html><body>ok</body></html>"),
    "/missing": (404, {}, "not found"),
    "/server-error": (500, {}, "boom"),
}
_SERVICE = re.compile(r"service=([a-z_]+)")


class Site:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        with self.lock:
            self.fail: dict[str, int] = {}  # service → HTTP status to answer its requests with
            self.delay: dict[str, float] = {}  # service → seconds to wait before answering
            self.fail_path: dict[str, int] = {}  # path → HTTP status, for every requester
            self.delay_path: dict[str, float] = {}  # path → seconds, for every requester
            self.hits: Counter[tuple[str, str]] = Counter()  # (path, service) → requests
            self.in_flight: Counter[str] = Counter()
            self.max_in_flight: Counter[str] = Counter()
            self.provider_answers: dict[str, tuple[int, Any]] = {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def path_hits(self, path: str) -> int:
        with self.lock:
            return sum(n for (p, _), n in self.hits.items() if p == path)

    def page_hits(self, service: str, path: str | None = None) -> int:
        with self.lock:
            return sum(n for (p, s), n in self.hits.items() if s == service and (path is None or p == path))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, *, body: bool) -> None:
            match = _SERVICE.search(self.headers.get("User-Agent", ""))
            service = match.group(1) if match else ""
            path = self.path.split("?", 1)[0]
            with site.lock:
                site.hits[(path, service)] += 1
                site.in_flight[service] += 1
                site.max_in_flight[service] = max(site.max_in_flight[service], site.in_flight[service])
                delay = max(site.delay.get(service, 0.0), site.delay_path.get(path, 0.0))
                fail = site.fail.get(service, site.fail_path.get(path))
            try:
                if path.startswith("/slow/"):
                    delay = max(delay, float(path.rsplit("/", 1)[1]))
                if delay:
                    time.sleep(delay)
                status, headers, text = ROUTES.get(path, (404, {}, "no such page"))
                if path.startswith("/slow/"):
                    status, headers, text = ROUTES["/good"]
                if fail is not None:
                    status, headers, text = fail, {}, "failing on purpose"
                if path.startswith("/provider/"):
                    status, payload = site.provider_answers.get(path, (404, {"error": "unknown provider"}))
                    headers, text = {"Content-Type": "application/json"}, json.dumps(payload)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", headers.get("Content-Type", "text/html; charset=utf-8"))
                for key, value in headers.items():
                    if key != "Content-Type":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)
            finally:
                with site.lock:
                    site.in_flight[service] -= 1

        def do_GET(self) -> None:
            self._answer(body=True)

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._answer(body=True)

    return Handler
