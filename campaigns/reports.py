"""The campaign report: counts per outcome, keyword matches, top leads (built by the last finaliser
with SQL aggregates, so its cost does not grow with Python memory), and the CSV of every scored domain."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

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


def report_csv_lines(*, campaign: Campaign, chunk: int = 5000) -> Iterator[str]:
    """Every scored domain, best first, as CSV lines; read in keyset pages so memory stays flat."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(analysis.CSV_COLUMNS)
    yield buffer.getvalue()
    last: tuple[int, int] | None = None
    rank = 0
    while True:
        after = "" if last is None else "AND (s.score, -s.seq) < (%s, %s)"
        params: list[Any] = [campaign.pk] + ([last[0], -last[1]] if last else []) + [chunk]
        rows = _rows(
            f"""
            SELECT s.score, s.seq, d.name, s.keyword_matched, s.reasons, r.status, h.status_code,
                   coalesce(h.title, ''), coalesce(h.final_url, '')
            FROM campaigns_domainscore s JOIN campaigns_generateddomain d ON d.id = s.domain_id
            LEFT JOIN campaigns_dnsresult r ON r.domain_id = s.domain_id
            LEFT JOIN campaigns_httpresult h ON h.domain_id = s.domain_id
            WHERE s.campaign_id = %s {after} ORDER BY s.score DESC, s.seq LIMIT %s
            """,
            params,
        )
        if not rows:
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in rows:
            rank += 1
            writer.writerow(
                [rank, row[2], row[0], row[3], " ".join(row[4]), row[5] or "", row[6] or "", row[7], row[8]]
            )
        yield buffer.getvalue()
        last = (rows[-1][0], rows[-1][1])
