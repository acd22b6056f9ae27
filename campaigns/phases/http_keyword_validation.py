"""HTTP keyword validation: fetch each resolved domain from its resolved addresses (no Django here).

The request goes to an address, with the domain in the Host header and, over https, as the TLS server
name (SNI, and the name the certificate is checked against when the persona verifies), so no second
DNS lookup happens. The addresses are tried in the persona's family order (IPv4 first by default); when
one refuses or cannot be reached, the next is tried. Redirects on the same host are followed (up to
the persona's limit) against the same address; a redirect to another host ends the fetch there
(`offsite_redirect`). The body (chunked or not, decompressed from gzip/deflate) is read up to the
persona's byte limit and decoded by its charset. One new connection per domain: a pool would not be
reused across hosts anyway.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from core import egress
from core.egress_transports import AiohttpEgressResolver, aiohttp_socket_factory

from .ratelimit import Limiter, LimiterSource, LocalLimiters

OK, TIMEOUT, ERROR = "ok", "timeout", "error"
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_PARKED = re.compile(r"\b(parked|domain (is )?for sale|buy this domain)\b", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
IPV4_FIRST, IPV6_FIRST, IPV4_ONLY, IPV6_ONLY = "ipv4_first", "ipv6_first", "ipv4_only", "ipv6_only"


@dataclass(frozen=True)
class FetchSettings:
    user_agent: str = "RelayBot/1.0"
    headers: tuple[tuple[str, str], ...] = ()
    scheme: str = "http"
    port: int | None = None
    timeout_seconds: float = 5.0
    max_redirects: int = 5
    max_body_bytes: int = 262_144
    concurrency: int = 50
    rate_limit_per_second: int = 0
    limit_key: str = ""  # the persona's id: its rate limit is shared under this key
    proxy_url: str = ""
    verify_tls: bool = True
    address_family: str = IPV4_FIRST


@dataclass
class Fetch:
    name: str
    status: str
    status_code: int | None = None
    final_url: str = ""
    title: str = ""
    signals: dict[str, Any] = field(default_factory=dict)
    keyword_hits: dict[str, int] = field(default_factory=dict)
    error: str = ""


def page_signals(body: str, *, content_type: str, size: int, truncated: bool, redirects: int) -> dict[str, Any]:
    lowered = body.lower()
    return {
        "bytes": size,
        "truncated": truncated,
        "content_type": content_type,
        "redirects": redirects,
        "has_form": "<form" in lowered,
        "has_password": 'type="password"' in lowered,
        "parked": bool(_PARKED.search(body)),
    }


def keyword_hits(body: str, keywords: Sequence[str]) -> dict[str, int]:
    lowered = body.lower()
    hits = {keyword: lowered.count(keyword.lower()) for keyword in keywords if keyword}
    return {keyword: count for keyword, count in hits.items() if count}


def extract_title(body: str) -> str:
    match = _TITLE.search(body)
    return " ".join(match.group(1).split())[:500] if match else ""


def ordered_addresses(addresses: Sequence[str], family: str) -> list[str]:
    """The addresses to try, in order: the persona's family first (or only), each family in the order
    the resolver gave it. Unparsable entries are dropped."""
    if isinstance(addresses, str):  # a str is a Sequence[str] too: one address would become its characters
        raise TypeError("addresses must be a list of addresses, not one string")
    parsed = []
    for address in addresses:
        try:
            parsed.append((ipaddress.ip_address(address).version, address))
        except ValueError:
            continue
    v4 = [address for version, address in parsed if version == 4]
    v6 = [address for version, address in parsed if version == 6]
    return {IPV4_ONLY: v4, IPV6_ONLY: v6, IPV6_FIRST: v6 + v4}.get(family, v4 + v6)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def tls_context(settings: FetchSettings) -> ssl.SSLContext | bool:
    """False (plain http), a verifying context, or one that accepts any certificate (SNI is still sent)."""
    if settings.scheme != "https":
        return False
    if settings.verify_tls:
        return ssl.create_default_context()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def read_body(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """Up to `limit` bytes of the (decoded-transfer, decompressed) body, and whether there was more.
    `content.read(n)` returns what is buffered, not n bytes: read until the limit or the end."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await response.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    raw = b"".join(chunks)
    return raw[:limit], size > limit


def decode_body(raw: bytes, header_charset: str | None) -> str:
    """By the Content-Type charset, else a `<meta charset>` near the top, else UTF-8 (bad bytes replaced)."""
    candidates = [header_charset] if header_charset else []
    meta = _META_CHARSET.search(raw[:4096])
    if meta:
        candidates.append(meta.group(1).decode("ascii"))
    for charset in candidates:
        try:
            return raw.decode(charset, errors="replace")
        except LookupError:  # a charset Python does not know
            continue
    return raw.decode("utf-8", errors="replace")


def _connect(
    session: aiohttp.ClientSession, *, url: str, name: str, headers: dict[str, str], settings: FetchSettings
) -> Any:
    """The one place a connection is opened: `url` names the address, `name` is the TLS server name."""
    return session.get(
        url,
        headers=headers,
        allow_redirects=False,
        timeout=aiohttp.ClientTimeout(total=settings.timeout_seconds),
        proxy=settings.proxy_url or None,
        ssl=tls_context(settings),
        server_hostname=name if settings.scheme == "https" else None,
    )


async def fetch_one(
    session: aiohttp.ClientSession,
    *,
    name: str,
    addresses: Sequence[str],
    settings: FetchSettings,
    keywords: Sequence[str],
    limiter: Limiter | None = None,
) -> Fetch:
    """Fetch `name` from the first of its addresses that accepts a connection. An address the egress
    policy refuses is skipped (never connected to); the outcome is `egress_denied` only when every
    address was refused. An entry that is not an IP address is never resolved: it is refused as
    `not_an_address` (the DNS phase stores addresses only; anything else came from elsewhere)."""
    failure = Fetch(name=name, status=ERROR, error="no_usable_address")
    if not isinstance(addresses, str) and not all(_is_address(address) for address in addresses):
        failure = Fetch(name=name, status=ERROR, error=f"{egress.EgressDenied.code}:not_an_address")
    for address in ordered_addresses(addresses, settings.address_family):
        try:
            return await fetch_from(
                session, name=name, address=address, settings=settings, keywords=keywords, limiter=limiter
            )
        except egress.EgressDenied as exc:
            if failure.error == "no_usable_address" or failure.error.startswith(egress.EgressDenied.code):
                failure = Fetch(name=name, status=ERROR, error=f"{exc.code}:{exc.rule}")
        except aiohttp.ClientConnectorCertificateError:
            return Fetch(name=name, status=ERROR, error="tls_certificate")
        except aiohttp.ClientConnectorSSLError:
            return Fetch(name=name, status=ERROR, error="tls_error")
        except aiohttp.ClientConnectorError:  # refused or unreachable: the next address may answer
            failure = Fetch(name=name, status=ERROR, error="connection_failed")
        except TimeoutError:
            return Fetch(name=name, status=TIMEOUT, error="timeout")
        except aiohttp.InvalidURL:  # the proxy URL: refused before any connection
            return Fetch(name=name, status=ERROR, error="invalid_url")
        except (aiohttp.ClientError, UnicodeError, LookupError) as exc:
            return Fetch(name=name, status=ERROR, error=type(exc).__name__[:200])
    return failure


async def fetch_from(
    session: aiohttp.ClientSession,
    *,
    name: str,
    address: str,
    settings: FetchSettings,
    keywords: Sequence[str],
    limiter: Limiter | None = None,
) -> Fetch:
    """One address: follow same-host redirects, read and digest the page. Connection errors propagate.
    Every request (each redirect hop too) is admitted by the persona's rate limit first."""
    port = settings.port or (443 if settings.scheme == "https" else 80)
    host_header = name if port in (80, 443) else f"{name}:{port}"
    ip_host = f"[{address}]" if ":" in address else address
    headers = {**dict(settings.headers), "User-Agent": settings.user_agent, "Host": host_header}
    path = "/"
    # Through a proxy the connection goes to the proxy (checked by the connector); the address the
    # proxy is asked for is checked here. Redirects stay on this address.
    egress.check_address(address, port)
    for redirects in range(settings.max_redirects + 1):
        url = f"{settings.scheme}://{ip_host}:{port}{path}"
        if limiter is not None:
            await limiter.acquire()
        async with _connect(session, url=url, name=name, headers=headers, settings=settings) as response:
            final_url = f"{settings.scheme}://{name}{path}"
            location = response.headers.get("Location", "")
            if response.status in (301, 302, 303, 307, 308) and location:
                target = urlsplit(urljoin(final_url, location))
                if (target.hostname or "").lower() != name.lower():
                    return Fetch(
                        name=name,
                        status=OK,
                        status_code=response.status,
                        final_url=target.geturl(),
                        signals={"offsite_redirect": True, "redirects": redirects + 1},
                    )
                path = (target.path or "/") + (f"?{target.query}" if target.query else "")
                continue
            raw, truncated = await read_body(response, settings.max_body_bytes)
            body = decode_body(raw, response.charset)
            return Fetch(
                name=name,
                status=OK,
                status_code=response.status,
                final_url=final_url,
                title=extract_title(body),
                keyword_hits=keyword_hits(body, keywords),
                signals=page_signals(
                    body,
                    content_type=response.content_type,
                    size=len(raw),
                    truncated=truncated,
                    redirects=redirects,
                ),
            )
    return Fetch(name=name, status=ERROR, final_url=f"{settings.scheme}://{name}{path}", error="too_many_redirects")


OnResult = Callable[[int, Fetch], None]


async def fetch_all(
    items: Sequence[tuple[str, Sequence[str]]],
    personas: Sequence[FetchSettings],
    keywords: Sequence[str],
    on_result: OnResult | None = None,
    limiters: LimiterSource | None = None,
) -> list[Fetch]:
    """Fetch `(name, addresses)` pairs, spread round-robin over the personas (results in the same order);
    `on_result(index, fetch)` hears each one as it ends. Each persona's rate limit comes from `limiters`
    (closed at the end; default: this process only)."""
    if not personas:
        raise ValueError("at least one HTTP persona is needed")
    limiters = limiters or LocalLimiters()
    connector = aiohttp.TCPConnector(
        force_close=True,
        limit=0,
        use_dns_cache=False,
        resolver=AiohttpEgressResolver(),  # a proxy's name: resolved once, every address checked
        socket_factory=aiohttp_socket_factory,  # the address connected to: checked again
    )
    async with aiohttp.ClientSession(connector=connector, auto_decompress=True) as session:
        lanes = [
            (p, asyncio.Semaphore(max(p.concurrency, 1)), limiters.limiter(p.limit_key, p.rate_limit_per_second))
            for p in personas
        ]

        async def one(index: int, name: str, addresses: Sequence[str]) -> Fetch:
            persona, semaphore, limiter = lanes[index % len(lanes)]
            async with semaphore:
                fetch = await fetch_one(
                    session, name=name, addresses=addresses, settings=persona, keywords=keywords, limiter=limiter
                )
            if on_result is not None:
                on_result(index, fetch)
            return fetch

        try:
            return list(await asyncio.gather(*(one(i, name, addresses) for i, (name, addresses) in enumerate(items))))
        finally:
            await limiters.close()


def fetch_batch(
    items: Sequence[tuple[str, Sequence[str]]],
    personas: Sequence[FetchSettings],
    keywords: Sequence[str],
    on_result: OnResult | None = None,
    limiters: LimiterSource | None = None,
) -> list[Fetch]:
    return asyncio.run(fetch_all(items, personas, keywords, on_result, limiters))


def answered(fetch: Fetch) -> bool:
    """The server gave an HTTP answer (any status), so persona, proxy and network work."""
    return fetch.status == OK


def fetches_unusable(fetches: Sequence[Fetch]) -> bool:
    """True when not one fetch got an HTTP answer: the persona, proxy or network is broken."""
    return bool(fetches) and not any(answered(fetch) for fetch in fetches)
