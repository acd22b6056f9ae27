"""A small authoritative DNS server for loopback (UDP, dnspython).

Every name under the configured zone
answers an A record (127.0.0.1 by default) unless the rule in `is_nxdomain` says it does not exist;
names outside the zone are NXDOMAIN. `drop_every` silently drops some queries so clients see timeouts;
`servfail` answers every query SERVFAIL (a broken upstream resolver: `make run` starts one so that a
campaign's DNS validation can be made to fail). Names whose first label starts with `dual-` also answer
AAAA (`::1` by default, where the loopback HTTP server does not listen: a client must fall back to the A
address). Run: `python -m campaigns.loopback.dns_server --port 5353`.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import zlib
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


@dataclass(frozen=True)
class ZoneRules:
    zone: str = ""  # "" answers every name
    address: str = "127.0.0.1"
    address6: str = "::1"  # the AAAA answer of `dual-*` names
    nxdomain_every: int = 0  # names whose crc32 % n == 0 do not exist (0: none)
    drop_every: int = 0  # queries for names whose crc32 % n == 1 get no answer (0: none)
    # 0: resolvers must not cache (c-ares does by default), so every test and benchmark lookup reaches us.
    ttl: int = 0
    delay_seconds: float = 0.0  # answer this late (a slow resolver)
    servfail: bool = False  # every query answered SERVFAIL (rcode 2)


def name_hash(name: str) -> int:
    return zlib.crc32(name.lower().rstrip(".").encode())


def is_nxdomain(name: str, rules: ZoneRules) -> bool:
    name = name.lower().rstrip(".")
    if rules.zone and not (name == rules.zone or name.endswith("." + rules.zone)):
        return True
    if name.split(".", 1)[0].startswith("nx"):
        return True
    return bool(rules.nxdomain_every) and name_hash(name) % rules.nxdomain_every == 0


def is_dual_stack(name: str) -> bool:
    return name.lower().split(".", 1)[0].startswith("dual-")


def is_dropped(name: str, rules: ZoneRules) -> bool:
    return bool(rules.drop_every) and name_hash(name) % rules.drop_every == 1


def _fast_response(wire: bytes, rules: ZoneRules) -> bytes | None:
    """The common case (one question, no EDNS) answered from the wire bytes: about five times the
    throughput of a full dnspython round trip, so the server is not what a benchmark measures."""
    # One question, no answers or authority; an EDNS OPT in the additional section is ignored.
    if len(wire) < 17 or wire[4:6] != b"\x00\x01" or wire[6:10] != b"\x00" * 4:
        return None
    labels: list[str] = []
    pos = 12
    while True:
        length = wire[pos]
        if length == 0:
            break
        if length > 63 or pos + 1 + length > len(wire):
            return None
        labels.append(wire[pos + 1 : pos + 1 + length].decode("ascii", "replace"))
        pos += 1 + length
    end = pos + 5
    if end > len(wire):
        return None
    name = ".".join(labels)
    if is_dropped(name, rules):
        return b""
    qtype = int.from_bytes(wire[pos + 1 : pos + 3], "big")
    flags = 0x8400 | (int.from_bytes(wire[2:4], "big") & 0x0100)  # QR, AA, copy RD
    question = wire[12:end]
    if rules.servfail:
        return wire[:2] + (flags | 2).to_bytes(2, "big") + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question
    if is_nxdomain(name, rules):
        return wire[:2] + (flags | 3).to_bytes(2, "big") + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question
    if qtype == 28 and is_dual_stack(name):
        record = b"\xc0\x0c\x00\x1c\x00\x01" + rules.ttl.to_bytes(4, "big") + b"\x00\x10"
        answer = record + socket.inet_pton(socket.AF_INET6, rules.address6)
        return wire[:2] + flags.to_bytes(2, "big") + b"\x00\x01\x00\x01\x00\x00\x00\x00" + question + answer
    if qtype != 1:
        return wire[:2] + flags.to_bytes(2, "big") + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question
    answer = b"\xc0\x0c\x00\x01\x00\x01" + rules.ttl.to_bytes(4, "big") + b"\x00\x04" + _packed(rules.address)
    return wire[:2] + flags.to_bytes(2, "big") + b"\x00\x01\x00\x01\x00\x00\x00\x00" + question + answer


def _packed(address: str) -> bytes:
    return bytes(int(part) for part in address.split("."))


def build_response(wire: bytes, rules: ZoneRules) -> bytes | None:
    fast = _fast_response(wire, rules)
    if fast is not None:
        return fast or None
    try:
        query = dns.message.from_wire(wire)
    except Exception:
        return None  # not a DNS message: ignore it, as a real server would
    if not query.question:
        return None
    question = query.question[0]
    name = question.name.to_text()
    if is_dropped(name, rules):
        return None
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    if rules.servfail:
        response.set_rcode(dns.rcode.SERVFAIL)
    elif is_nxdomain(name, rules):
        response.set_rcode(dns.rcode.NXDOMAIN)
    elif question.rdtype == dns.rdatatype.A:
        response.answer.append(
            dns.rrset.from_text(question.name, rules.ttl, dns.rdataclass.IN, dns.rdatatype.A, rules.address)
        )
    elif question.rdtype == dns.rdatatype.AAAA and is_dual_stack(name):
        response.answer.append(
            dns.rrset.from_text(question.name, rules.ttl, dns.rdataclass.IN, dns.rdatatype.AAAA, rules.address6)
        )
    return response.to_wire()


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, rules: ZoneRules) -> None:
        self.rules = rules
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        answer = build_response(data, self.rules)
        if answer is None or self.transport is None:
            return
        if self.rules.delay_seconds:
            asyncio.get_running_loop().call_later(self.rules.delay_seconds, self.transport.sendto, answer, addr)
        else:
            self.transport.sendto(answer, addr)


# Several workers' resolvers keep hundreds of queries in flight; the default receive buffer (208 KiB)
# overflows during a burst and the kernel drops queries, which clients see as 2-second timeouts. The
# kernel caps the request at net.core.rmem_max.
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024


async def serve(*, host: str = "127.0.0.1", port: int, rules: ZoneRules) -> asyncio.DatagramTransport:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(rules), local_addr=(host, port))
    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
    return transport


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--zone", default="")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--nxdomain-every", type=int, default=0)
    parser.add_argument("--drop-every", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--ttl", type=int, default=0, help="TTL of the answers (0: not cacheable)")
    parser.add_argument("--servfail", action="store_true", help="answer every query SERVFAIL (a broken resolver)")
    args = parser.parse_args()
    rules = ZoneRules(
        zone=args.zone.lower().rstrip("."),
        address=args.address,
        nxdomain_every=args.nxdomain_every,
        drop_every=args.drop_every,
        ttl=args.ttl,
        delay_seconds=args.delay,
        servfail=args.servfail,
    )

    async def run() -> None:
        await serve(host=args.host, port=args.port, rules=rules)
        print(f"dns_server listening on {args.host}:{args.port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
