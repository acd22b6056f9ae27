"""Start the loopback servers as child processes (their own interpreter, so they do not share a GIL
with the client they serve) and wait until they answer."""

from __future__ import annotations

import functools
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    tls_port: int = 0  # the HTTP server's HTTPS listener (0: none)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _start(module: str, port: int, args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
        [sys.executable, "-m", module, "--port", str(port), *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_dns_server(*, args: list[str] | None = None) -> Server:
    port = free_port(socket.SOCK_DGRAM)
    process = _start("campaigns.loopback.dns_server", port, args or [])
    _wait_until_answering(process, lambda: _probe_dns(port), "DNS")
    return Server(port=port, process=process)


def start_http_server(*, args: list[str] | None = None, tls: bool = True) -> Server:
    """The loopback HTTP server; with `tls`, also its HTTPS listener (self-signed, routed by SNI)."""
    port, tls_port = free_port(), free_port() if tls else 0
    process = _start(
        "campaigns.loopback.http_server", port, [*(args or []), *(["--tls-port", str(tls_port)] if tls else [])]
    )
    for listening in (port, tls_port) if tls else (port,):
        _wait_until_answering(process, functools.partial(_probe_tcp, listening), "HTTP")
    return Server(port=port, process=process, tls_port=tls_port)


def _probe_tcp(port: int) -> None:
    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()


def _probe_dns(port: int) -> None:
    import dns.message
    import dns.query

    dns.query.udp(dns.message.make_query("probe.example", "A"), "127.0.0.1", port=port, timeout=0.3)


def _wait_until_answering(process: subprocess.Popen[bytes], probe: Callable[[], None], what: str) -> None:
    """Until `probe()` stops raising (the server answers); fail fast if the server exits."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the loopback {what} server exited")
        try:
            probe()
            return
        except Exception:  # not listening yet: connection refused, timeout
            time.sleep(0.1)
    process.kill()
    raise TimeoutError(f"the loopback {what} server did not start")
