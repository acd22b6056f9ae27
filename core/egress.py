"""One egress policy for every outbound connection Relay makes for a tenant (scan fetches and link checks,
webhooks, campaign HTTP fetches and their proxies, DNS queries to persona nameservers).

A target is resolved once, *every* address it resolves to is checked, and the connection goes to the
checked address (no second lookup, so DNS rebinding cannot swap it); redirects open new connections and
are checked again. Denied by default: loopback, private, link-local, CGNAT, multicast, reserved and
unspecified ranges, the cloud metadata addresses, IPv4 and IPv6 (v4-mapped and NAT64 addresses are
judged by the IPv4 address inside), and every port but 80, 443, 8080, 8443 (53 for DNS).

`RELAY_EGRESS_ALLOW` (settings/environment) lists `CIDR` or `CIDR:port` entries that are allowed anyway
(an internal range a deployment wants reached); `RELAY_EGRESS_DENY` lists entries denied even so (an
allowed range's database port). Deny entries win over allow entries, allow entries over the defaults.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Purpose = Literal["http", "dns"]

DEFAULT_PORTS = (80, 443, 8080, 8443)
DEFAULT_DNS_PORTS = (53,)
METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EgressDenied(Exception):
    """A connection the policy refuses. `rule` names why; the message never names a resolved address
    (that would tell a tenant what an internal name resolves to)."""

    code = "egress_denied"

    def __init__(self, rule: str, *, target: str = "") -> None:
        self.rule = rule
        self.target = target
        super().__init__(f"egress denied: {rule}")


# A verdict is the parsed address (allowed) or the rule that refuses it.
Verdict = Address | str
VERDICTS_KEPT = 65_536


@dataclass(frozen=True)
class Policy:
    allow: tuple[tuple[Network, int | None], ...]
    deny: tuple[tuple[Network, int | None], ...]
    ports: frozenset[int]
    dns_ports: frozenset[int]
    # Verdicts by (address, port, purpose). A campaign batch checks each address twice (before asking
    # for it and at the socket) and parsing plus range tests cost more than its connection's syscalls;
    # the policy never changes, so neither does a verdict. Emptied when full: a bound, not an LRU.
    verdicts: dict[tuple[str | Address, int, str], Verdict] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )


def parse_entry(entry: str) -> tuple[Network, int | None]:
    """`10.0.0.0/8`, `10.0.0.0/8:443`, `127.0.0.1/32:8053`, `fd00::/8:443` (the CIDR's `/` tells a port
    from an IPv6 group)."""
    entry = entry.strip()
    network, port = entry, None
    head, sep, tail = entry.rpartition(":")
    if sep and "/" in head and tail.isdigit():
        network, port = head, int(tail)
    if "/" not in network:
        raise ValueError(f"egress entry {entry!r} needs a CIDR (for example 127.0.0.1/32:8053)")
    return ipaddress.ip_network(network, strict=False), port


def _entries(raw: str | Iterable[str]) -> tuple[tuple[Network, int | None], ...]:
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return tuple(parse_entry(item) for item in items if item.strip())


def _ports(raw: str | Iterable[int], default: tuple[int, ...]) -> frozenset[int]:
    if isinstance(raw, str):
        return frozenset(int(p) for p in raw.split(",") if p.strip()) if raw.strip() else frozenset(default)
    return frozenset(raw)


@lru_cache(maxsize=8)
def _policy(allow: str, deny: str, ports: str, dns_ports: str) -> Policy:
    return Policy(
        allow=_entries(allow),
        deny=_entries(deny),
        ports=_ports(ports, DEFAULT_PORTS),
        dns_ports=_ports(dns_ports, DEFAULT_DNS_PORTS),
    )


def current_policy() -> Policy:
    def text(name: str, default: str = "") -> str:
        value = getattr(settings, name, default)
        return value if isinstance(value, str) else ",".join(str(v) for v in value)

    return _policy(
        text("RELAY_EGRESS_ALLOW"),
        text("RELAY_EGRESS_DENY"),
        text("RELAY_EGRESS_PORTS"),
        text("RELAY_EGRESS_DNS_PORTS"),
    )


def _matches(entries: tuple[tuple[Network, int | None], ...], address: Address, port: int) -> bool:
    return any(
        address in net and (want is None or want == port) for net, want in entries if net.version == address.version
    )


def _embedded_ipv4(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def address_rule(address: Address) -> str | None:
    """Why the default policy refuses `address`, or None for a public address."""
    address = _embedded_ipv4(address)
    if address in METADATA:
        return "metadata_address"
    checks = (
        ("loopback_address", address.is_loopback),
        ("unspecified_address", address.is_unspecified),
        ("link_local_address", address.is_link_local),
        ("multicast_address", address.is_multicast),
        ("cgnat_address", isinstance(address, ipaddress.IPv4Address) and address in _CGNAT),
        ("reserved_address", address.is_reserved),
        ("private_address", address.is_private),
        ("reserved_address", not address.is_global),
    )
    return next((rule for rule, hit in checks if hit), None)


def check_address(address: str | Address, port: int, *, purpose: Purpose = "http", target: str = "") -> Address:
    """The parsed address if the policy lets a connection to `address:port` through; EgressDenied if not."""
    policy = current_policy()
    key = (address, port, purpose)
    verdict = policy.verdicts.get(key)
    if verdict is None:
        if len(policy.verdicts) >= VERDICTS_KEPT:
            policy.verdicts.clear()
        verdict = policy.verdicts[key] = _verdict(policy, address, port, purpose)
    if isinstance(verdict, str):
        raise EgressDenied(verdict, target=target)
    return verdict


def _verdict(policy: Policy, address: str | Address, port: int, purpose: Purpose) -> Verdict:
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    except ValueError:
        return "not_an_address"
    inner = _embedded_ipv4(parsed)
    if _matches(policy.deny, parsed, port) or _matches(policy.deny, inner, port):
        return "denied_by_configuration"
    if _matches(policy.allow, parsed, port) or _matches(policy.allow, inner, port):
        return parsed
    if port not in (policy.dns_ports if purpose == "dns" else policy.ports):
        return "port_not_allowed"
    return address_rule(parsed) or parsed


def resolve_checked(host: str, port: int, *, purpose: Purpose = "http") -> list[str]:
    """Every address `host` resolves to, all checked (one denied address denies the host: the resolver
    may hand any of them to the next lookup). An IP literal in any notation (decimal, octal, hex) is
    read by the same resolver the connection would use."""
    host = host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OSError(f"could not resolve {host[:100]!r}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        check_address(address, port, purpose=purpose, target=host)
    return addresses


def default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def check_url(url: str) -> None:
    """Configuration-time check of an http(s) URL: EgressDenied if its host is denied now. A host that
    does not resolve yet passes here; the connection is checked again when it is made."""
    parts = urlsplit(url)
    try:
        port = parts.port or default_port(parts.scheme)
    except ValueError:
        raise EgressDenied("invalid_port", target=url) from None
    if not parts.hostname:
        raise EgressDenied("no_host", target=url)
    try:
        resolve_checked(parts.hostname, port)
    except OSError:
        return


def check_nameserver(server: str) -> None:
    """A DNS persona's `ip` or `ip:port` (IPv6 without a port, as the persona API takes them)."""
    host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
    check_address(host or server, int(port) if port else 53, purpose="dns", target=server)
