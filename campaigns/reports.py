"""The campaign report: counts per outcome, keyword matches, top leads (built by the last finaliser
with SQL aggregates, so its cost does not grow with Python memory), and the CSV of every scored domain."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from .models import Campaign, CampaignReport, PhaseConfig
from .phases import Phase, analysis

TOP_LEADS = 25


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def report_build(*, campaign: Campaign) -> CampaignReport:
    cid = campaign.pk
    keyword_row = PhaseConfig.objects.filter(campaign=campaign, phase=Phase.ANALYSIS).first()
    domains = _rows("SELECT count(*) FROM campaigns_generateddomain WHERE campaign_id = %s", [cid])[0][0]
    dns = dict(_rows("SELECT status, count(*) FROM campaigns_dnsresult WHERE campaign_id = %s GROUP BY 1", [cid]))
    http = dict(
        _rows(
            """
        SELECT CASE WHEN status <> 'ok' THEN status ELSE (status_code / 100)::text || 'xx' END, count(*)
        FROM campaigns_httpresult WHERE campaign_id = %s GROUP BY 1
        """,
            [cid],
        )
    )
    scored, matched = _rows(
        "SELECT count(*), count(*) FILTER (WHERE keyword_matched) FROM campaigns_domainscore WHERE campaign_id = %s",
        [cid],
    )[0]
    leads = [
        {
            "domain": name,
            "score": score,
            "keywordMatched": hit,
            "reasons": reasons,
            "title": title,
            "httpStatusCode": code,
        }
        for name, score, hit, reasons, title, code in _rows(
            """
            SELECT d.name, s.score, s.keyword_matched, s.reasons, coalesce(h.title, ''), h.status_code
            FROM campaigns_domainscore s JOIN campaigns_generateddomain d ON d.id = s.domain_id
            LEFT JOIN campaigns_httpresult h ON h.domain_id = s.domain_id
            WHERE s.campaign_id = %s ORDER BY s.score DESC, d.seq LIMIT %s
            """,
            [cid, TOP_LEADS],
        )
    ]
    body = {
        "campaignId": str(cid),
        "name": campaign.name,
        "generatedAt": timezone.now().isoformat(),
        "keyword": keyword_row.config.get("keyword") if keyword_row else None,
        "counts": {"domains": domains, "dns": dns, "http": http, "scored": scored},
        "keywordMatches": matched,
        "topLeads": leads,
    }
    report, _ = CampaignReport.objects.update_or_create(campaign=campaign, defaults={"report": body})
    return report


# A cell a spreadsheet would run as a formula (CSV injection): page titles and redirect targets are
# written by the scanned sites. A leading apostrophe makes it text; the value is otherwise kept whole.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _csv_text(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([spreadsheet_safe(value) for value in row])
    return buffer.getvalue()


# Keyset paging on `domain_score_keyset` (campaign, score * -1, seq; the query must spell the
# expression as the index does to use it): each page starts where the index range does, so a page
# costs the same at any depth (no OFFSET, no filter over earlier rows).
_PAGE_SQL = """
    SELECT s.score * -1, s.seq, d.name, s.keyword_matched, s.reasons, r.status, h.status_code,
           coalesce(h.title, ''), coalesce(h.final_url, '')
    FROM campaigns_domainscore s JOIN campaigns_generateddomain d ON d.id = s.domain_id
    LEFT JOIN campaigns_dnsresult r ON r.domain_id = s.domain_id
    LEFT JOIN campaigns_httpresult h ON h.domain_id = s.domain_id
    WHERE s.campaign_id = %s AND (s.score * -1, s.seq) > (%s, %s) ORDER BY s.score * -1, s.seq LIMIT %s
"""


def report_csv_page(*, campaign_id: Any, after: tuple[int, int], rank: int, chunk: int) -> tuple[str, Any]:
    """One page of CSV lines after the keyset `after` (-score, seq), and the next keyset (None: done)."""
    rows = _rows(_PAGE_SQL, [campaign_id, after[0], after[1], chunk])
    lines = [
        [rank + i + 1, row[2], -row[0], row[3], " ".join(row[4]), row[5] or "", row[6] or "", row[7], row[8]]
        for i, row in enumerate(rows)
    ]
    return _csv_text(lines), ((rows[-1][0], rows[-1][1]) if len(rows) == chunk else None)


async def report_csv_stream(*, campaign: Campaign, chunk: int = 5000) -> AsyncIterator[str]:
    """Every scored domain, best first, as CSV text: an async iterator, so the ASGI server sends each
    page as it is read (a sync iterator is read whole into memory before the first byte is sent)."""
    yield _csv_text([analysis.CSV_COLUMNS])
    after: Any = (-(2**31), -1)  # before every (-score, seq)
    rank = 0
    page = sync_to_async(report_csv_page)
    while after is not None:
        text, after_next = await page(campaign_id=campaign.pk, after=after, rank=rank, chunk=chunk)
        if text:
            yield text
        rank += chunk
        after = after_next
