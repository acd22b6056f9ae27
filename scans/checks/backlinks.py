"""Backlinks of the page, from the configured backlink provider."""

from __future__ import annotations

from typing import Any

from .provider import call_provider
from .registry import CheckSettings, ScanService, ScanTarget, register

NAME = "backlinks"


def normalise(data: dict[str, Any]) -> dict[str, Any]:
    """The provider answers `{"backlinks": [{"source", "anchor"?}], "total"?}`."""
    rows = [row for row in data.get("backlinks") or [] if isinstance(row, dict) and row.get("source")]
    domains = {str(row["source"]).split("/")[2] if "://" in str(row["source"]) else str(row["source"]) for row in rows}
    total = data.get("total")
    return {
        "total": total if isinstance(total, int) else len(rows),
        "referringDomains": len(domains),
        "backlinks": rows[:100],
    }


def run(target: ScanTarget, settings: CheckSettings) -> dict[str, Any]:
    return normalise(call_provider(NAME, target, settings))


register(
    ScanService(
        name=NAME,
        description="Backlinks and referring domains (needs a backlink provider).",
        run=run,
        needs_provider=True,
    )
)
