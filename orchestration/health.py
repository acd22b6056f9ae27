"""Reachability of the parts the system needs: PostgreSQL, Redis, workers."""

from typing import Any

from django.db import connection

from .leases import WORKER_KEY_PREFIX
from .redis_client import get_redis


def health_report() -> dict[str, Any]:
    report: dict[str, Any] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        report["database"] = {"ok": True}
    except Exception as exc:
        report["database"] = {"ok": False, "error": str(exc)}
    try:
        client = get_redis()
        client.ping()
        workers = sum(1 for _ in client.scan_iter(match=f"{WORKER_KEY_PREFIX}*", count=1000))
        report["redis"] = {"ok": True}
        report["workers"] = {"ok": workers > 0, "processes": workers}
    except Exception as exc:
        report["redis"] = {"ok": False, "error": str(exc)}
        report["workers"] = {"ok": False, "processes": None, "error": "unknown while Redis is unreachable"}
    report["ok"] = all(part["ok"] for part in (report["database"], report["redis"], report["workers"]))
    return report
