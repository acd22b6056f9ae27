"""Retention of stored pages: a scan's `ScanPage` rows go once it finished longer ago than the retention
age (a round's page is normally deleted when the round is finalised; this removes what was left)."""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction

from orchestration.retention import register_pruner

from .models import FINAL_STATUSES, Scan, ScanPage

PRUNER = "scans.pages"


def scan_pages_prune(cutoff: datetime, limit: int) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            DELETE FROM {ScanPage._meta.db_table} WHERE id IN (
                SELECT p.id FROM {ScanPage._meta.db_table} p JOIN {Scan._meta.db_table} s ON s.id = p.scan_id
                WHERE s.status = ANY(%s) AND s.finished_at < %s
                LIMIT %s
            )
            """,
            [[str(status) for status in FINAL_STATUSES], cutoff, limit],
        )
        return cursor.rowcount


def register() -> None:
    register_pruner(PRUNER, scan_pages_prune)
