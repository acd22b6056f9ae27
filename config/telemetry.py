"""OpenTelemetry tracing, set up only when an OTLP endpoint is configured
(`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): a TracerProvider exporting
over OTLP/HTTP (protobuf) in batches, and the maintained instrumentations of Django, Celery, psycopg,
Redis, httpx and the aiohttp client. Without an endpoint nothing is imported and nothing is created:
no SDK, no exporter, no wrapped library.

Each process calls `configure` once: the web process before Django builds its middleware chain
(`config/asgi.py`, `config/wsgi.py`), every Celery pool process after it was forked (the exporter's
thread does not survive a fork; `config/celery.py`). Jobs are rows, not messages, so the engine stores
the enqueuing span's `traceparent` with the job and starts the job's span under it
(`orchestration.origin`): one trace goes web → job → the worker's fetches. The other OTEL_* variables
(`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_SCHEDULE_DELAY`, sampling …) are the
SDK's own.
"""

from __future__ import annotations

import os

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

_enabled = False


def enabled() -> bool:
    """True once this process set up tracing (`configure`)."""
    return _enabled


def endpoint_configured() -> bool:
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def configure(*, service: str) -> bool:
    """Set up tracing for this process (`service`: `relay-web`, `relay-worker`, …, unless
    OTEL_SERVICE_NAME says otherwise). Returns whether tracing is on; a second call changes nothing."""
    global _enabled
    if _enabled or not endpoint_configured():
        return _enabled
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from orchestration.origin import tracing_enable

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # the endpoint from the environment
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument()
    CeleryInstrumentor().instrument()
    PsycopgInstrumentor().instrument()
    RedisInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument()
    AioHttpClientInstrumentor().instrument()
    tracing_enable()
    _enabled = True
    return True


def flush() -> None:
    """Export the spans still buffered (a pool process about to exit: its exit runs no atexit hook)."""
    if _enabled:
        from opentelemetry import trace

        force_flush = getattr(trace.get_tracer_provider(), "force_flush", None)
        if force_flush is not None:
            force_flush()
