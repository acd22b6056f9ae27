"""Resolvers for the egress tests, installed in place of `socket.getaddrinfo`:

- names under `internal.test` are asked of loopback DNS servers (`campaigns.loopback.dns_server`)
  that answer internal addresses (`dual-` names also answer AAAA `::1`);
- names under `rebind.test` answer an allowed address at their first lookup and an internal one at
  every later lookup (DNS rebinding); the lookups are recorded.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dns.message
import dns.query
import dns.rdatatype

from campaigns.loopback.process import Server, start_dns_server

INTERNAL = {
    "loop": "127.0.0.1",
    "dual-loop": "127.0.0.1",  # and AAAA ::1
    "ten": "10.0.0.1",
    "home": "192.168.1.1",
    "meta": "169.254.169.254",
    "cgnat": "100.64.0.1",
}
INTERNAL_NAMES = [f"{label}.internal.test" for label in INTERNAL]
REBIND_ALLOWED, REBIND_INTERNAL = "127.0.0.1", "127.0.0.2"


@contextmanager
def internal_dns_servers() -> Iterator[dict[str, Server]]:
    """One loopback DNS server per internal address, by label."""
    by_address: dict[str, Server] = {}
    try:
        for address in dict.fromkeys(INTERNAL.values()):
            by_address[address] = start_dns_server(args=["--address", address])
        yield {label: by_address[address] for label, address in INTERNAL.items()}
    finally:
        for server in by_address.values():
            server.stop()


def _ask(server: Server, name: str, rdtype: str) -> list[str]:
    query = dns.message.make_query(name, rdtype)
    answer = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=2)
    return [
        item.to_text() for rrset in answer.answer for item in rrset if rrset.rdtype == dns.rdatatype.from_text(rdtype)
    ]


@dataclass
class NamesResolver:
    servers: dict[str, Server]
    real: Any
    lookups: list[str] = field(default_factory=list)

    def __call__(self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host or "")
        name = name.lower().rstrip(".")
        if name.endswith(".internal.test"):
            server = self.servers[name.split(".", 1)[0]]
            found = [(socket.AF_INET, a) for a in _ask(server, name, "A")]
            if name.startswith("dual-"):
                found += [(socket.AF_INET6, a) for a in _ask(server, name, "AAAA")]
        elif name.endswith(".rebind.test"):
            first = name not in self.lookups
            self.lookups.append(name)
            found = [(socket.AF_INET, REBIND_ALLOWED if first else REBIND_INTERNAL)]
        else:
            return self.real(host, port, family, type, proto, flags)
        if not found:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        number = int(port) if port not in (None, "") else 0
        return [
            (fam, socket.SOCK_STREAM, 6, "", (addr, number) if fam == socket.AF_INET else (addr, number, 0, 0))
            for fam, addr in found
        ]
