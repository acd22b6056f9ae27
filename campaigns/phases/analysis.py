"""Analysis: score and rank domains from their DNS and HTTP outcomes (no Django here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CSV_COLUMNS = [
    "rank",
    "domain",
    "score",
    "keyword_matched",
    "reasons",
    "dns_status",
    "http_status_code",
    "title",
    "final_url",
]


@dataclass(frozen=True)
class Evidence:
    name: str
    dns_status: str | None
    http_status_code: int | None
    title: str
    keyword_hits: Mapping[str, int]
    signals: Mapping[str, Any]


@dataclass(frozen=True)
class Score:
    score: int
    keyword_matched: bool
    reasons: tuple[str, ...]


def score_domain(evidence: Evidence, *, keyword: str) -> Score:
    """A lead score in 0…100: reachable, answering, on topic; parked pages are pushed down."""
    keyword = keyword.lower()
    reasons: list[str] = []
    score = 0
    if evidence.dns_status == "resolved":
        score += 10
        reasons.append("resolves")
    code = evidence.http_status_code
    if code is not None and 200 <= code < 300:
        score += 30
        reasons.append("http_ok")
    hits = sum(count for word, count in evidence.keyword_hits.items() if word.lower() == keyword)
    if hits:
        score += 30 + min(hits, 5) * 2
        reasons.append("keyword_in_page")
    if keyword in evidence.title.lower():
        score += 10
        reasons.append("keyword_in_title")
    if keyword in evidence.name.lower():
        score += 5
        reasons.append("keyword_in_name")
    if evidence.signals.get("has_form"):
        score += 5
        reasons.append("form")
    if evidence.signals.get("parked"):
        score -= 30
        reasons.append("parked")
    matched = any(reason.startswith("keyword") for reason in reasons)
    return Score(score=max(0, min(score, 100)), keyword_matched=matched, reasons=tuple(reasons))
