"""Fetching the scanned page, with the failure kinds the engine needs: a timeout, a network error or a
5xx may pass (retryable); a 4xx of the page itself will not (fatal). A scan fetches its page once and
its services share it, parsed tree included (`target_page`, `Page.tree`; see `scans/pages.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import httpx

from core import egress
from core.egress_transports import http_transport
from orchestration.errors import JobError

from .html import Element, parse_html
from .registry import CheckSettings, ScanTarget

USER_AGENT = "RelayScan/1.0"


@dataclass(frozen=True)
class Page:
    url: str  # as requested
    final_url: str  # after redirects
    status: int
    headers: dict[str, str]  # lower-cased names
    html: str

    @cached_property
    def tree(self) -> Element:
        """The parsed document, built once per page however many checks read it."""
        return parse_html(self.html)


def target_page(target: ScanTarget, *, service: str, settings: CheckSettings) -> Page:
    """The scan's page: the shared one when the scan provides it, else fetched here."""
    if target.load_page is not None:
        return target.load_page()
    return fetch_page(target.url, service=service, settings=settings)


def user_agent(service: str) -> str:
    # The service name in the user agent lets a site owner (and our tests) tell the checks apart.
    return f"{USER_AGENT} (service={service})"


def fetch_page(url: str, *, service: str, settings: CheckSettings) -> Page:
    try:
        with (
            httpx.Client(
                transport=http_transport(),  # every connection, each redirect hop too, passes the egress policy
                timeout=settings.fetch_timeout,
                follow_redirects=True,
                headers={"User-Agent": user_agent(service)},
            ) as client,
            client.stream("GET", url) as response,
        ):
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= settings.max_page_bytes:
                    break  # enough to analyse; a huge page must not exhaust the worker
            status = response.status_code
            headers = {key.lower(): value for key, value in response.headers.items()}
            final_url = str(response.url)
            encoding = response.encoding or "utf-8"
    except egress.EgressDenied as exc:
        raise JobError.fatal(f"the page's address is not allowed ({exc.rule})", code="egress_denied") from exc
    except httpx.InvalidURL as exc:
        raise JobError.fatal("the URL is not valid", code="invalid_url") from exc
    except httpx.TimeoutException as exc:
        raise JobError.retryable_error(
            f"the page did not answer within {settings.fetch_timeout}s", code="page_timeout"
        ) from exc
    except httpx.HTTPError as exc:
        # The exception's type only: its text may quote what the far end sent (a banner, a Redis error).
        raise JobError.retryable_error(
            f"the page could not be fetched ({type(exc).__name__})", code="page_unreachable"
        ) from exc
    if status >= 500 or status == 429:
        raise JobError.retryable_error(f"the page answered HTTP {status}", code="page_server_error")
    if status >= 400:
        raise JobError.fatal(f"the page answered HTTP {status}", code="page_client_error")
    return Page(
        url=url, final_url=final_url, status=status, headers=headers, html=body.decode(encoding, errors="replace")
    )
