"""`report.csv`: cells a spreadsheet would run as formulas are escaped, and the file streams from an
async iterator, page by page on an index (keyset), best first, every scored domain exactly once."""

import csv
import io

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import CampaignReport, DomainScore, GeneratedDomain, HttpResult
from campaigns.reports import _PAGE_SQL, report_csv_page, spreadsheet_safe
from campaigns.services.campaigns import campaign_create

from .factories import streamed_text

pytestmark = pytest.mark.django_db

HOSTILE = ['=HYPERLINK("http://evil.test","x")', "+1+2", "-2+3", "@SUM(A1)", "\tTab", "\rReturn"]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_cell_that_would_run_as_a_formula_becomes_text(value):
    assert spreadsheet_safe(value) == "'" + value


@pytest.mark.parametrize("value", ["Welcome", "", "a=b", "http://x.test/-", 0, -5, 12, None, True])
def test_other_cells_and_numbers_are_left_alone(value):
    assert spreadsheet_safe(value) == value


def scored_campaign(tenant, scores, titles=None):
    campaign = campaign_create(tenant=tenant, name="report")
    now = timezone.now()
    domains = GeneratedDomain.objects.bulk_create(
        [GeneratedDomain(campaign=campaign, seq=i, offset=i, name=f"d{i}.test") for i in range(len(scores))]
    )
    DomainScore.objects.bulk_create(
        [
            DomainScore(domain=d, campaign=campaign, seq=d.seq, score=score, keyword_matched=False, reasons=[])
            for d, score in zip(domains, scores, strict=True)
        ]
    )
    if titles:
        HttpResult.objects.bulk_create(
            [
                HttpResult(
                    domain=d,
                    campaign=campaign,
                    seq=d.seq,
                    status="ok",
                    status_code=200,
                    title=t,
                    final_url=t,
                    checked_at=now,
                )
                for d, t in zip(domains, titles, strict=True)
            ]
        )
    CampaignReport.objects.create(campaign=campaign, report={})
    return campaign


def test_hostile_titles_and_redirect_targets_are_escaped_in_the_download(tenant, admin_client):
    campaign = scored_campaign(tenant, [10] * len(HOSTILE), HOSTILE)
    response = admin_client.get(f"/api/campaigns/{campaign.pk}/report.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(streamed_text(response))))
    assert rows[0][:3] == ["rank", "domain", "score"]
    assert sorted(row[7] for row in rows[1:]) == sorted("'" + value for value in HOSTILE)
    assert sorted(row[8] for row in rows[1:]) == sorted("'" + value for value in HOSTILE)


def test_pages_cover_every_domain_once_best_first_with_ties_in_seq_order(tenant):
    scores = [5, 9, 5, 0, 9, 5, 1, 9, 0, 5, 5]
    campaign = scored_campaign(tenant, scores)
    after, rank, lines = (-(2**31), -1), 0, []
    while after is not None:
        text, after = report_csv_page(campaign_id=campaign.pk, after=after, rank=rank, chunk=3)
        lines += list(csv.reader(io.StringIO(text)))
        rank += 3
    expected = sorted(range(len(scores)), key=lambda seq: (-scores[seq], seq))
    assert [row[1] for row in lines] == [f"d{seq}.test" for seq in expected]
    assert [int(row[0]) for row in lines] == list(range(1, len(scores) + 1))


def test_the_page_query_is_an_index_range_not_a_sort(tenant):
    campaign = scored_campaign(tenant, [1, 2, 3])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a three-row table would be scanned otherwise
        cursor.execute("EXPLAIN " + _PAGE_SQL, [campaign.pk, -3, 0, 5000])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "domain_score_keyset" in plan, plan
    assert "Sort" not in plan.split("domain_score_keyset")[0], plan
