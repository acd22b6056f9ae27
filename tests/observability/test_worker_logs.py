"""A request's id follows it into the jobs it created: the session worker's log lines about those jobs
carry the same request id, tenant, job key and attempt, as JSON lines (DEBUG is off in tests, so the
production format)."""

import json
from typing import Any

import pytest

from ..helpers import wait_until
from ..scans.scanning import start_scan, wait_final

pytestmark = pytest.mark.django_db(transaction=True)


def json_lines(log: str) -> list[dict[str, Any]]:
    """The log's structured lines (the Celery banner, printed before logging is set up, is not one)."""
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def test_the_workers_lines_for_a_requests_jobs_carry_its_request_id(celery_worker, site, admin_client, tenant_admin):
    request_id = "abc-obs-7f3e9c"
    created = start_scan(admin_client, site.url("/good"), ["meta", "rank_tracker"], HTTP_X_REQUEST_ID=request_id)
    scan = wait_final(admin_client, created["id"])
    assert scan["services"]["rank_tracker"]["error"]["code"] == "provider_not_configured"
    key = f"scan:{created['id']}:rank_tracker"

    def end_line() -> dict[str, Any] | None:
        return next((line for line in lines_about(key) if line["event"].startswith("engine.job_end ")), None)

    def lines_about(job_key: str) -> list[dict[str, Any]]:
        return [line for line in json_lines(celery_worker.log()) if line.get("key") == job_key]

    line = wait_until(end_line, message=f"the worker's engine.job_end line about {key}")
    assert line["request_id"] == request_id
    assert (line["tenant"], line["user"]) == (str(tenant_admin.tenant_id), str(tenant_admin.pk))
    assert (line["attempt"], line["kind"], line["group"]) == (1, "scan.service", f"tenant:{tenant_admin.tenant_id}")
    assert line["logger"] == "orchestration.runner" and line["level"] == "info"
    # The handler's own lines (its start, the page fetch of the other service) carry the same ids.
    handler_lines = lines_about(key) + lines_about(f"scan:{created['id']}:meta")
    assert {entry["logger"] for entry in handler_lines} >= {"scans.jobs", "orchestration.runner"}
    assert {entry["request_id"] for entry in handler_lines} == {request_id}
    assert {entry["attempt"] for entry in handler_lines} == {1}
