"""HTTP keyword validation: fetch each resolved domain from its resolved address (no Django here).

The request goes to the address, with the domain in the Host header, so no second DNS lookup happens.
Redirects on the same host are followed (up to the persona's limit) against the same address; a
redirect to another host ends the fetch there (`offsite_redirect`). The body is read up to the
persona's byte limit. One new connection per domain: a pool would not be reused across hosts anyway.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from core import egress
from core.egress_transports import aiohttp_socket_factory

from .ratelimit import RateLimiter

OK, TIMEOUT, ERROR = "ok", "timeout", "error"
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_PARKED = re.compile(r"\b(parked|domain (is )?for sale|buy this domain)\b", re.IGNORECASE)


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
    proxy_url: str = ""


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


async def fetch_one(
    session: aiohttp.ClientSession, *, name: str, address: str, settings: FetchSettings, keywords: Sequence[str]
) -> Fetch:
    port = settings.port or (443 if settings.scheme == "https" else 80)
    host_header = name if port in (80, 443) else f"{name}:{port}"
    ip_host = f"[{address}]" if ":" in address else address
    headers = {**dict(settings.headers), "User-Agent": settings.user_agent, "Host": host_header}
    path = "/"
    timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds)
    try:
        # Through a proxy the connection goes to the proxy (checked by the connector); the address the
        # proxy is asked for is checked here. Redirects stay on this address.
        egress.check_address(address, port)
        for redirects in range(settings.max_redirects + 1):
            url = f"{settings.scheme}://{ip_host}:{port}{path}"
            async with session.get(
                url,
                headers=headers,
                allow_redirects=False,
                timeout=timeout,
                proxy=settings.proxy_url or None,
                ssl=False,
            ) as response:
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
                raw = await response.content.read(settings.max_body_bytes + 1)
                truncated = len(raw) > settings.max_body_bytes
                body = raw[: settings.max_body_bytes].decode(response.charset or "utf-8", errors="replace")
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
    except egress.EgressDenied as exc:
        return Fetch(name=name, status=ERROR, error=f"{exc.code}:{exc.rule}")
    except TimeoutError:
        return Fetch(name=name, status=TIMEOUT, error="timeout")
    except aiohttp.ClientConnectorError:
        return Fetch(name=name, status=ERROR, error="connection_failed")
    except (aiohttp.ClientError, UnicodeError, LookupError) as exc:
        return Fetch(name=name, status=ERROR, error=type(exc).__name__[:200])


OnResult = Callable[[int, Fetch], None]


async def fetch_all(
    items: Sequence[tuple[str, str]],
    personas: Sequence[FetchSettings],
    keywords: Sequence[str],
    on_result: OnResult | None = None,
) -> list[Fetch]:
    """Fetch `(name, address)` pairs, spread round-robin over the personas (results in the same order);
    `on_result(index, fetch)` hears each one as it ends."""
    if not personas:
        raise ValueError("at least one HTTP persona is needed")
    connector = aiohttp.TCPConnector(
        force_close=True, limit=0, use_dns_cache=False, socket_factory=aiohttp_socket_factory
    )
    async with aiohttp.ClientSession(connector=connector, auto_decompress=True) as session:
        lanes = [(p, asyncio.Semaphore(max(p.concurrency, 1)), RateLimiter(p.rate_limit_per_second)) for p in personas]

        async def one(index: int, name: str, address: str) -> Fetch:
            persona, semaphore, limiter = lanes[index % len(lanes)]
            async with semaphore:
                await limiter.acquire()
                fetch = await fetch_one(session, name=name, address=address, settings=persona, keywords=keywords)
            if on_result is not None:
                on_result(index, fetch)
            return fetch

        return list(await asyncio.gather(*(one(i, name, address) for i, (name, address) in enumerate(items))))


def fetch_batch(
    items: Sequence[tuple[str, str]],
    personas: Sequence[FetchSettings],
    keywords: Sequence[str],
    on_result: OnResult | None = None,
) -> list[Fetch]:
    return asyncio.run(fetch_all(items, personas, keywords, on_result))


def answered(fetch: Fetch) -> bool:
    """The server gave an HTTP answer (any status), so persona, proxy and network work."""
    return fetch.status == OK


def fetches_unusable(fetches: Sequence[Fetch]) -> bool:
    """True when not one fetch got an HTTP answer: the persona, proxy or network is broken."""
    return bool(fetches) and not any(answered(fetch) for fetch in fetches)
