"""Search rankings of the page for the scan's keywords, from the configured rank provider."""

from __future__ import annotations

from typing import Any

from .provider import call_provider
from .registry import CheckSettings, ScanService, ScanTarget, register

NAME = "rank_tracker"


def normalise(data: dict[str, Any], keywords: tuple[str, ...]) -> dict[str, Any]:
    """The provider answers `{"rankings": [{"keyword", "position", "url"?}]}`; keywords it does not rank
    are reported with position null."""
    positions: dict[str, Any] = {}
    for row in data.get("rankings") or []:
        if isinstance(row, dict) and "keyword" in row:
            positions[str(row["keyword"])] = {"position": row.get("position"), "url": row.get("url")}
    rankings = [
        {"keyword": keyword, **positions.get(keyword, {"position": None, "url": None})}
        for keyword in (keywords or tuple(positions))
    ]
    ranked = [row["position"] for row in rankings if isinstance(row["position"], int)]
    return {"rankings": rankings, "ranked": len(ranked), "bestPosition": min(ranked) if ranked else None}


def run(target: ScanTarget, settings: CheckSettings) -> dict[str, Any]:
    return normalise(call_provider(NAME, target, settings), target.keywords)


register(ScanService(name=NAME, description="Keyword rankings (needs a rank provider).", run=run, needs_provider=True))
