"""Links: internal and external links of the page, and which of them are broken.

Extraction and the summary are pure; checking is network I/O with bounded concurrency (a semaphore)
and a cap on how many links one scan checks, so a page with 10,000 links cannot flood anyone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx

from core import egress
from core.egress_transports import async_http_transport

from .fetch import Page, target_page, user_agent
from .registry import CheckSettings, ScanService, ScanTarget, register

NAME = "links"


@dataclass(frozen=True)
class Link:
    url: str
    text: str
    internal: bool
    nofollow: bool


@dataclass(frozen=True)
class LinkStatus:
    status: int | None  # None: no answer
    error: str = ""

    @property
    def broken(self) -> bool:
        return self.status is None or self.status >= 400


def extract_links(page: Page) -> list[Link]:
    root = page.tree
    host = urlsplit(page.final_url).netloc.lower()
    links = []
    for anchor in root.iter("a"):
        href = anchor.get("href").strip()
        if not href or href.startswith("#"):
            continue
        url, _ = urldefrag(urljoin(page.final_url, href))
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            continue  # mailto:, tel:, javascript: are not fetchable links
        links.append(
            Link(
                url=url,
                text=anchor.text()[:100],
                internal=parts.netloc.lower() == host,
                nofollow="nofollow" in anchor.get("rel").lower().split(),
            )
        )
    return links


async def _check_all(urls: list[str], settings: CheckSettings) -> dict[str, LinkStatus]:
    semaphore = asyncio.Semaphore(max(settings.link_concurrency, 1))
    limits = httpx.Limits(max_connections=max(settings.link_concurrency, 1))
    async with httpx.AsyncClient(
        transport=async_http_transport(limits=limits),  # each link and redirect hop passes the egress policy
        timeout=settings.link_timeout,
        follow_redirects=True,
        headers={"User-Agent": user_agent(NAME)},
    ) as client:

        async def check(url: str) -> tuple[str, LinkStatus]:
            async with semaphore:
                try:
                    response = await client.head(url)
                    if response.status_code in (405, 501):  # HEAD not supported: ask properly
                        response = await client.get(url)
                    return url, LinkStatus(status=response.status_code)
                except egress.EgressDenied:
                    return url, LinkStatus(status=None, error=egress.EgressDenied.code)
                except httpx.InvalidURL:
                    return url, LinkStatus(status=None, error="invalid_url")
                except httpx.TimeoutException:
                    return url, LinkStatus(status=None, error="timeout")
                except httpx.HTTPError as exc:
                    return url, LinkStatus(status=None, error=type(exc).__name__)

        return dict(await asyncio.gather(*(check(url) for url in urls)))


def check_urls(urls: list[str], settings: CheckSettings) -> dict[str, LinkStatus]:
    return asyncio.run(_check_all(urls, settings)) if urls else {}


def summarise(links: list[Link], statuses: dict[str, LinkStatus], *, max_links: int) -> dict[str, Any]:
    unique = list(dict.fromkeys(link.url for link in links))
    broken = [
        {"url": url, "status": statuses[url].status, "error": statuses[url].error}
        for url in unique
        if url in statuses and statuses[url].broken
    ]
    return {
        "total": len(links),
        "unique": len(unique),
        "internal": sum(1 for link in links if link.internal),
        "external": sum(1 for link in links if not link.internal),
        "nofollow": sum(1 for link in links if link.nofollow),
        "checked": len(statuses),
        "unchecked": max(len(unique) - max_links, 0),
        "brokenCount": len(broken),
        "broken": broken,
    }


def run(target: ScanTarget, settings: CheckSettings) -> dict[str, Any]:
    page = target_page(target, service=NAME, settings=settings)
    links = extract_links(page)
    to_check = list(dict.fromkeys(link.url for link in links))[: settings.max_links]
    return summarise(links, check_urls(to_check, settings), max_links=settings.max_links)


register(ScanService(name=NAME, description="Internal and external links; broken ones (bounded, concurrent).", run=run))
