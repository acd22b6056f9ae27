"""Loopback servers for the egress tests: a TCP listener that only counts connections (it stands for
any internal service: it must never see one), and an allowed HTTP site that redirects and links to
wherever a test asks."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Counter:
    port: int
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self) -> None:
        with self.lock:
            self.connections += 1


@contextmanager
def counting_listener(host: str = "127.0.0.1", port: int = 0) -> Iterator[Counter]:
    """TCP on `host` and ::1 (same port where free) and UDP on `host`, counting every connection and
    datagram. `host`/`port`: another loopback address on an allowed server's port stands for the
    internal service a rebinding name points at."""
    tcp, udp = _tcp_and_udp(host, port)
    port = tcp.getsockname()[1]
    sockets = [tcp]
    with suppress(OSError):  # no IPv6 loopback on this machine, or the port is taken there
        sockets.append(socket.create_server(("::1", port), family=socket.AF_INET6))
    counter = Counter(port=port)
    stop = threading.Event()

    def accept(server: socket.socket) -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            counter.add()
            connection.close()

    def receive() -> None:
        udp.settimeout(0.1)
        while not stop.is_set():
            try:
                udp.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            counter.add()

    threads = [threading.Thread(target=accept, args=(s,), daemon=True) for s in sockets]
    threads.append(threading.Thread(target=receive, daemon=True))
    for thread in threads:
        thread.start()
    try:
        yield counter
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for s in [*sockets, udp]:
            s.close()


def _tcp_and_udp(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A TCP listener and a UDP socket on the same port. With `port` 0 the kernel picks a free TCP
    port, which another process may hold for UDP (a DNS server of a parallel run): pick again."""
    for _ in range(50):
        tcp = socket.create_server((host, port))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind((host, tcp.getsockname()[1]))
        except OSError:
            tcp.close()
            udp.close()
            if port:
                raise
            continue
        return tcp, udp
    raise OSError(f"no port on {host} was free for both TCP and UDP")


class _SiteHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, body: bool) -> None:
        query = parse_qs(urlsplit(self.path).query)
        everything_to = getattr(self.server, "redirect_everything_to", None)
        if self.path.startswith("/redirect") or everything_to:
            self.send_response(302)
            self.send_header("Location", everything_to or query["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        links = "".join(f'<a href="{url}">x</a>' for url in query.get("link", []))
        html = f"<html><head><title>site</title></head><body>{links}</body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(html)))
        self.end_headers()
        if body:
            self.wfile.write(html)

    def do_GET(self) -> None:
        self._answer(True)

    def do_HEAD(self) -> None:
        self._answer(False)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(True)


@dataclass
class Site:
    server: ThreadingHTTPServer
    requests: int = 0

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def allowed_site(*, redirect_everything_to: str | None = None) -> Iterator[Site]:
    """`redirect_everything_to`: every path answers 302 to it (campaign fetches always ask for `/`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SiteHandler)
    server.redirect_everything_to = redirect_everything_to  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(server=server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
