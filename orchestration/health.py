"""Reachability of the parts the system needs: PostgreSQL, Redis, workers.

The answer is public (load balancers and probes read it), so it says which part is down in our own
words only: an exception's text can carry host names, ports, user names or a server's banner. The
server log has the exception."""

import logging
from typing import Any

from django.db import connection

from .leases import WORKER_KEY_PREFIX
from .redis_client import get_redis

logger = logging.getLogger(__name__)

DATABASE_DOWN = "PostgreSQL cannot be reached."
REDIS_DOWN = "Redis cannot be reached."
WORKERS_UNKNOWN = "Unknown while Redis cannot be reached."


def health_report() -> dict[str, Any]:
    report: dict[str, Any] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        report["database"] = {"ok": True}
    except Exception:
        logger.warning("health.database_unreachable", exc_info=True)
        report["database"] = {"ok": False, "error": DATABASE_DOWN}
    try:
        client = get_redis()
        client.ping()
        workers = sum(1 for _ in client.scan_iter(match=f"{WORKER_KEY_PREFIX}*", count=1000))
        report["redis"] = {"ok": True}
        report["workers"] = {"ok": workers > 0, "processes": workers}
    except Exception:
        logger.warning("health.redis_unreachable", exc_info=True)
        report["redis"] = {"ok": False, "error": REDIS_DOWN}
        report["workers"] = {"ok": False, "processes": None, "error": WORKERS_UNKNOWN}
    report["ok"] = all(part["ok"] for part in (report["database"], report["redis"], report["workers"]))
    return report
