"""Traces across web → engine → worker: with an OTLP endpoint, the web process's request span, the
job spans the worker starts under the `traceparent` the enqueue stored, and the worker's page fetch
inside the job arrive at the collector in one trace. Without an endpoint no exporter is created."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import psutil
import pytest
from knox.models import AuthToken
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from devstack.processes import ROOT
from devstack.web import start_web
from orchestration.models import Job
from scans.models import FINAL_STATUSES, Scan

from ..helpers import wait_until
from .otlp_collector import Collector, ReceivedSpan

pytestmark = pytest.mark.django_db(transaction=True)


def tracing_env(collector: Collector, service: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_SERVICE_NAME": service,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: export soon, the test waits for it
    }


def test_one_trace_goes_from_the_request_through_the_job_to_the_workers_fetch(
    collector, session_worker_held, worker_factory, site, tenant_admin
):
    worker = worker_factory(concurrency=1, queues="jobs", env=tracing_env(collector, "relay-worker-test"))
    web = start_web(env=tracing_env(collector, "relay-web-test"))
    try:
        _, token = AuthToken.objects.create(tenant_admin)
        response = httpx.post(
            f"{web.url}/api/scans",
            json={"url": site.url("/good"), "services": ["meta", "security_headers"]},
            headers={"Authorization": f"Token {token}", "X-Request-ID": "req-trace-1"},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        assert response.headers["X-Request-ID"] == "req-trace-1"
        scan_id = response.json()["id"]
        wait_until(lambda: Scan.objects.get(pk=scan_id).status in FINAL_STATUSES, timeout=60, message="scan done")
    finally:
        web.stop()
    jobs = list(Job.objects.filter(stage__scan__pk=scan_id))
    pool = {str(child.pid) for child in psutil.Process(worker.process.pid).children(recursive=True)}
    assert {job.worker.rsplit(":", 1)[-1] for job in jobs} <= pool  # they ran on the traced worker
    origins = [job.origin or {} for job in jobs]
    assert all(origin["request_id"] == "req-trace-1" for origin in origins)
    traceparents = {origin["traceparent"] for origin in origins}
    assert len(traceparents) == 1  # one value for the whole enqueue
    trace_id = next(iter(traceparents)).split("-")[1]

    def job_spans() -> list[ReceivedSpan] | None:
        found = [s for s in collector.received() if s.name == "job scan.service" and s.trace_id == trace_id]
        return found if len(found) == 2 else None

    spans_of_jobs = wait_until(job_spans, timeout=30, message="both job spans exported")
    wait_until(
        lambda: any(s.service == "relay-web-test" and s.kind == Span.SPAN_KIND_SERVER for s in collector.received()),
        timeout=30,
        message="the web's request span exported",
    )
    in_trace = [s for s in collector.received() if s.trace_id == trace_id]
    web_spans = [s for s in in_trace if s.service == "relay-web-test"]
    request_span = next(s for s in web_spans if s.kind == Span.SPAN_KIND_SERVER)
    assert request_span.parent_span_id == ""  # the trace starts at the request
    assert any(s.name.startswith(("INSERT", "SELECT", "UPDATE")) for s in web_spans)  # psycopg, in the web
    web_span_ids = {s.span_id for s in web_spans}
    assert {s.service for s in spans_of_jobs} == {"relay-worker-test"}
    assert all(s.parent_span_id in web_span_ids for s in spans_of_jobs)  # the enqueue's span is the parent
    assert {s.attributes["relay.job.key"] for s in spans_of_jobs} == {job.key for job in jobs}
    job_span_ids = {s.span_id for s in spans_of_jobs}

    def page_fetch_in_a_job() -> ReceivedSpan | None:
        return next(
            (
                s
                for s in collector.received()
                if s.trace_id == trace_id
                and s.kind == Span.SPAN_KIND_CLIENT
                and s.name == "GET"
                and str(s.attributes.get("http.url", s.attributes.get("url.full", ""))).endswith("/good")
            ),
            None,
        )

    fetch = wait_until(page_fetch_in_a_job, timeout=30, message="the worker's page fetch in the trace")
    assert fetch.service == "relay-worker-test"
    assert fetch.parent_span_id in job_span_ids  # httpx, inside the job's span


PROBE = """
import os, sys
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from config import telemetry
on = telemetry.configure(service="relay-probe")
from opentelemetry import trace
provider = trace.get_tracer_provider()
processors = provider._active_span_processor._span_processors if on else ()
exporters = [type(p.span_exporter).__name__ for p in processors]
print(on, "opentelemetry.sdk.trace" in sys.modules, type(provider).__name__, exporters)
"""


def run_probe(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_without_an_otlp_endpoint_no_sdk_and_no_exporter_is_created():
    assert run_probe() == "False False ProxyTracerProvider []"


def test_with_an_otlp_endpoint_spans_are_exported_over_otlp_http():
    assert (
        run_probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9") == "True True TracerProvider ['OTLPSpanExporter']"
    )
