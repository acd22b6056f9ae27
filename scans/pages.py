"""One fetch of the scanned page per scan round, shared by the round's services.

Services are separate engine jobs and may run on different workers, so the page is shared through
PostgreSQL: the first service job of the round to need it inserts the `ScanPage` row (the unique
(scan, round) constraint makes that a claim exactly one job wins) and fetches; the others wait for
the row to turn `ready` (the page) or `failed` (the fetch's error, raised by each of them, so every
service reports what happened to the page). A claim expires (the fetch timeout plus a margin): if the
claimer's worker died, a waiting job takes the claim over with a compare-and-set and fetches. Within a
worker process the page and its parsed tree are kept for the round, so its services parse it once.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models.functions import Now

from orchestration.errors import ErrorKind, JobError

from .checks.fetch import Page, fetch_page
from .checks.registry import CheckSettings
from .models import PageState, ScanPage

FETCHER = "page"  # the user agent's `service=`: the page fetch belongs to no single service
CLAIM_MARGIN_SECONDS = 5.0
_LOCAL_PAGES = 16
_local: OrderedDict[tuple[str, int], Page] = OrderedDict()


def shared_page(*, scan_id: Any, round: int, url: str, settings: CheckSettings) -> Page:
    key = (str(scan_id), round)
    if key in _local:
        return _local[key]
    claim_seconds = settings.fetch_timeout + CLAIM_MARGIN_SECONDS
    deadline = time.monotonic() + 2 * claim_seconds + CLAIM_MARGIN_SECONDS
    token = uuid.uuid4().hex
    pause = 0.02
    while True:
        if _claim(scan_id=scan_id, round=round, token=token, seconds=claim_seconds):
            page = _fetch_and_store(scan_id=scan_id, round=round, token=token, url=url, settings=settings)
            break
        row = ScanPage.objects.filter(scan_id=scan_id, round=round).first()
        if row is not None and row.state == PageState.READY:
            page = Page(url=url, final_url=row.final_url, status=row.status or 0, headers=row.headers, html=row.html)
            break
        if row is not None and row.state == PageState.FAILED:
            kind = ErrorKind.RETRYABLE if row.error_retryable else ErrorKind.FATAL
            raise JobError(row.error_message, code=row.error_code, kind=kind)
        if time.monotonic() > deadline:
            raise JobError.retryable_error("the scan's page fetch did not finish", code="page_timeout")
        time.sleep(pause)  # waiting on another job's fetch: a row to read, nothing to notify us
        pause = min(pause * 2, 0.25)
    _local[key] = page
    while len(_local) > _LOCAL_PAGES:
        _local.popitem(last=False)
    return page


def _claim(*, scan_id: Any, round: int, token: str, seconds: float) -> bool:
    """True when this job now holds the round's fetch: it created the row, or took over an expired claim."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO scans_scanpage (scan_id, round, state, claim_token, claim_expires_at, final_url, status,
                                        headers, html, error_code, error_message, error_retryable)
            VALUES (%s, %s, 'fetching', %s, now() + make_interval(secs => %s), '', NULL, '{}', '', '', '', NULL)
            ON CONFLICT (scan_id, round) DO NOTHING RETURNING id
            """,
            [scan_id, round, token, seconds],
        )
        if cursor.fetchone() is not None:
            return True
    return bool(
        ScanPage.objects.filter(
            scan_id=scan_id, round=round, state=PageState.FETCHING, claim_expires_at__lt=Now()
        ).update(claim_token=token, claim_expires_at=Now() + timedelta(seconds=seconds))
    )


def _fetch_and_store(*, scan_id: Any, round: int, token: str, url: str, settings: CheckSettings) -> Page:
    mine = ScanPage.objects.filter(scan_id=scan_id, round=round, claim_token=token, state=PageState.FETCHING)
    try:
        page = fetch_page(url, service=FETCHER, settings=settings)
    except JobError as exc:
        mine.update(
            state=PageState.FAILED, error_code=exc.code, error_message=exc.message, error_retryable=exc.retryable
        )
        raise
    # Guarded on the claim: if it was taken over meanwhile, the other fetch's row stands (ours is as good).
    mine.update(
        state=PageState.READY, final_url=page.final_url, status=page.status, headers=page.headers, html=page.html
    )
    return page


def pages_discard(*, scan_id: Any) -> None:
    """The round ended: every service has read the page (a retry is a new round with a new fetch)."""
    ScanPage.objects.filter(scan_id=scan_id).delete()
