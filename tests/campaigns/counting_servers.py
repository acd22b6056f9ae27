"""Loopback DNS and HTTP servers for the rate-limit tests that record when each query or request came
(the shared loopback servers do not count)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from campaigns.loopback.dns_server import ZoneRules, build_response


@dataclass
class Arrivals:
    port: int
    times: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self) -> None:
        with self.lock:
            self.times.append(time.monotonic())

    def peak(self, window: float = 1.0) -> int:
        """The most arrivals inside any `window` seconds."""
        times = sorted(self.times)
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] > window:
                start += 1
            best = max(best, end - start + 1)
        return best


@contextmanager
def counting_dns() -> Iterator[Arrivals]:
    """Every name answers 127.0.0.1 (the loopback DNS server's rules); each query is recorded."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    arrivals = Arrivals(port=sock.getsockname()[1])
    stop = threading.Event()
    rules = ZoneRules()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            arrivals.add()
            answer = build_response(data, rules)
            if answer:
                sock.sendto(answer, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield arrivals
    finally:
        stop.set()
        thread.join()
        sock.close()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        """`/` redirects to `/landing` on the same host: one fetch is two requests."""
        self.server.arrivals.add()  # type: ignore[attr-defined]
        if self.path == "/":
            self.send_response(302)
            self.send_header("Location", "/landing")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"<html><head><title>counted</title></head><body>pricing</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def counting_http() -> Iterator[Arrivals]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    arrivals = Arrivals(port=int(server.server_address[1]))
    server.arrivals = arrivals  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield arrivals
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
