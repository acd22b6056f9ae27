"""`report.csv` of a campaign with N scored domains (1,000,000 by default) through the real ASGI
server (uvicorn, as the Procfile runs it): how long the download takes and the web process's resident
memory before and at its highest while streaming. Flat memory means the file is sent page by page
(an async iterator, keyset paging), not built in memory first.

    make bench-report_csv                     # N = 1,000,000
    BENCH_REPORT_N=100000 make bench-report_csv
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, setup_django, write_results

setup_django()

import httpx  # noqa: E402
import psutil  # noqa: E402
from django.db import connection  # noqa: E402
from knox.models import AuthToken  # noqa: E402

from campaigns.loopback.process import free_port  # noqa: E402
from campaigns.models import CampaignReport  # noqa: E402
from campaigns.services.campaigns import campaign_create  # noqa: E402
from tenants.models import Role, Tenant  # noqa: E402
from tenants.services import user_create  # noqa: E402

N = int(os.environ.get("BENCH_REPORT_N", "1000000"))
HOSTILE = '=HYPERLINK("http://evil.test","x")'


def seed(campaign_id: uuid.UUID) -> None:
    """N domains with a score and an HTTP result each (one in a thousand with a hostile title), by SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO campaigns_generateddomain (campaign_id, seq, "offset", name)
            SELECT %s, i, i, 'lead' || i || '.test' FROM generate_series(0, %s - 1) AS i
            """,
            [campaign_id, N],
        )
        cursor.execute(
            """
            INSERT INTO campaigns_domainscore (domain_id, campaign_id, seq, score, keyword_matched, reasons)
            SELECT id, campaign_id, seq, (seq::bigint * 7919) %% 101, seq %% 3 = 0, '{has_keyword}'
            FROM campaigns_generateddomain WHERE campaign_id = %s
            """,
            [campaign_id],
        )
        cursor.execute(
            """
            INSERT INTO campaigns_httpresult (domain_id, campaign_id, seq, status, status_code, final_url, title,
                                              signals, keyword_hits, error, checked_at)
            SELECT id, campaign_id, seq, 'ok', 200, 'http://' || name || '/',
                   CASE WHEN seq %% 1000 = 0 THEN %s ELSE 'Welcome to ' || name END, '{}', '{}', '', now()
            FROM campaigns_generateddomain WHERE campaign_id = %s
            """,
            [HOSTILE, campaign_id],
        )
        cursor.execute("ANALYZE campaigns_domainscore")


def main() -> None:
    tenant = Tenant.objects.create(name="bench report", slug=f"bench-report-{time.monotonic_ns()}")
    user = user_create(
        username=f"bench{time.monotonic_ns()}",
        password=secrets.token_urlsafe(16),
        tenant=tenant,
        role=Role.TENANT_ADMIN,
    )
    _, token = AuthToken.objects.create(user)
    campaign = campaign_create(tenant=tenant, name="bench report")
    started = time.perf_counter()
    seed(campaign.pk)
    CampaignReport.objects.create(campaign=campaign, report={})
    seeded_s = time.perf_counter() - started

    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/api/health", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        process = psutil.Process(web.pid)
        rss_before = process.memory_info().rss
        peak = [rss_before]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], process.memory_info().rss)
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        lines = size = hostile_escaped = 0
        first_byte_s = None
        began = time.perf_counter()
        headers = {"Authorization": f"Token {token}"}
        with httpx.stream("GET", f"{base}/api/campaigns/{campaign.pk}/report.csv", headers=headers, timeout=600) as r:
            r.raise_for_status()
            tail = b""
            for chunk in r.iter_bytes():
                if first_byte_s is None:
                    first_byte_s = time.perf_counter() - began
                size += len(chunk)
                data = tail + chunk
                lines += chunk.count(b"\n")
                hostile_escaped += data.count(b"'=HYPERLINK(") - tail.count(b"'=HYPERLINK(")
                tail = data[-64:]
        elapsed = time.perf_counter() - began
        done.set()
        sampler.join()
        rss_after = process.memory_info().rss
    finally:
        web.terminate()
        web.wait(timeout=20)
    mib = 1024 * 1024
    write_results(
        "report_csv",
        {
            "domains": N,
            "seed_seconds": round(seeded_s, 1),
            "csv_lines": lines,
            "csv_mib": round(size / mib, 1),
            "download_seconds": round(elapsed, 2),
            "first_byte_seconds": round(first_byte_s or 0, 3),
            "rows_per_s": round((lines - 1) / elapsed),
            "hostile_titles_escaped": hostile_escaped,
            "web_rss_mib_before": round(rss_before / mib, 1),
            "web_rss_mib_peak": round(peak[0] / mib, 1),
            "web_rss_mib_after": round(rss_after / mib, 1),
        },
    )


if __name__ == "__main__":
    main()
