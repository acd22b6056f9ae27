"""Where a job came from, so that an operator can follow a request into the jobs it created.

Jobs are rows, not messages: nothing of the enqueuing request rides to the worker on its own. So an
enqueue stores the creator's log context (`request_id`, `tenant`, `user`, whatever of them the
process bound in structlog's context variables) and, when tracing is on, the W3C `traceparent` of the
current span, as one JSON value per enqueue call (`Job.origin`; NULL when there is nothing to store).
The worker binds it again while it runs the job (`job_context`): the job's log lines carry the
request id, and its span is a child of the request's, so one trace goes web → job → its fetches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:  # imported by the tracing set-up before Django's apps are loaded
    from .models import Job

# The keys of the creator's log context a job inherits (the engine knows their names, not their meaning).
INHERITED = ("request_id", "tenant", "user")
TRACEPARENT = "traceparent"

_tracing = False


def tracing_enable() -> None:
    """Called once by the process's tracing set-up (`config.telemetry`): from then on enqueues store
    the current trace context and jobs run in spans. Until then OpenTelemetry is not imported."""
    global _tracing
    _tracing = True


def origin_capture() -> str | None:
    """The current origin as the JSON text an enqueue stores, or None when there is none."""
    bound = structlog.contextvars.get_contextvars()
    origin: dict[str, Any] = {key: bound[key] for key in INHERITED if key in bound}
    if _tracing:
        from opentelemetry.propagate import inject

        carrier: dict[str, str] = {}
        inject(carrier)
        if TRACEPARENT in carrier:
            origin[TRACEPARENT] = carrier[TRACEPARENT]
    return json.dumps(origin) if origin else None


def _log_context(job: Job) -> dict[str, Any]:
    context: dict[str, Any] = {
        "job": job.pk,
        "key": job.key,
        "kind": job.kind,
        "attempt": job.attempts,
        "stage": job.stage_id,
    }
    if job.group_key:
        context["group"] = job.group_key
    if job.origin:
        context.update((key, job.origin[key]) for key in INHERITED if key in job.origin)
    return context


@contextmanager
def job_context(job: Job) -> Iterator[None]:
    """While a worker runs `job`: its ids (and its creator's) in every log line, and, with tracing on,
    a span that continues the creator's trace."""
    with structlog.contextvars.bound_contextvars(**_log_context(job)):
        if not _tracing:
            yield
            return
        with _job_span(job):
            yield


@contextmanager
def job_log_context(job: Job) -> Iterator[None]:
    """The job's ids in the log lines about it outside its run (its end)."""
    with structlog.contextvars.bound_contextvars(**_log_context(job)):
        yield


@contextmanager
def _job_span(job: Job) -> Iterator[None]:
    from opentelemetry import trace
    from opentelemetry.propagate import extract

    drain = trace.get_current_span()  # the Celery task that claimed it: linked, not the parent
    links = [trace.Link(drain.get_span_context())] if drain.get_span_context().is_valid else []
    parent = extract({TRACEPARENT: job.origin[TRACEPARENT]}) if job.origin and TRACEPARENT in job.origin else None
    tracer = trace.get_tracer("relay.orchestration")
    with tracer.start_as_current_span(
        f"job {job.kind}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        links=links,
        attributes={"relay.job.id": job.pk, "relay.job.key": job.key, "relay.job.attempt": job.attempts},
    ):
        yield
