"""Scan services are plugins: one module each, registered here by name.

A service takes the scan's target and the check settings and returns a JSON-able result, or raises
`orchestration.errors.JobError` (retryable for passing trouble, fatal for what a retry cannot fix).
Nothing here needs Django, so every check is unit-testable on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .fetch import Page


@dataclass(frozen=True)
class ScanTarget:
    url: str
    keywords: tuple[str, ...] = ()
    # Where the page comes from when the scan shares one fetch between its services (`scans.pages`);
    # None: the check fetches it itself (unit tests, a check run on its own).
    load_page: Callable[[], Page] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class CheckSettings:
    fetch_timeout: float = 10.0
    max_page_bytes: int = 2_000_000
    link_concurrency: int = 8
    max_links: int = 100
    link_timeout: float = 5.0
    # service name → provider endpoint; a provider-backed service without one is "not configured"
    providers: Mapping[str, str] = field(default_factory=dict)
    provider_token: str = ""
    provider_timeout: float = 15.0


@dataclass(frozen=True)
class ScanService:
    name: str
    description: str
    run: Callable[[ScanTarget, CheckSettings], dict[str, Any]]
    needs_provider: bool = False

    def configured(self, settings: CheckSettings) -> bool:
        return not self.needs_provider or bool(settings.providers.get(self.name))


_services: dict[str, ScanService] = {}


def register(service: ScanService) -> ScanService:
    _services[service.name] = service
    return service


def get(name: str) -> ScanService:
    try:
        return _services[name]
    except KeyError:
        raise LookupError(f"no scan service {name!r} is registered") from None


def names() -> list[str]:
    return sorted(_services)


def all_services() -> list[ScanService]:
    return [_services[name] for name in names()]
