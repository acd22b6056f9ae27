"""Structured logs: every line of every process (Django, Celery, the engine, structlog loggers) leaves
through one structlog `ProcessorFormatter`, as JSON (`RELAY_LOG_FORMAT=json`, the default with DEBUG
off) or as `key=value` (`kv`, the default with DEBUG on).

Each line carries what is bound in structlog's context variables where it was logged: the request id,
tenant and user of a request (`core.request_context`), the job, key, attempt and stage of a job a
worker runs (`orchestration.origin`), and the trace and span ids when tracing is on.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

FORMATS = ("json", "kv")


def _trace_ids(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """The current span's ids, so that a line can be found from its trace and back. Costs nothing
    when tracing is off: OpenTelemetry is not even imported then (`config.telemetry`)."""
    from . import telemetry

    if telemetry.enabled():
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
            event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def _shared_processors() -> list[Processor]:
    """What both structlog's loggers and stdlib records (`foreign_pre_chain`) go through."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _trace_ids,
    ]


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of Django's LOGGING (`"()": "config.structured_logs.formatter"`). Logging is
    configured once per process, here, so structlog's own loggers are set up here too."""
    if log_format not in FORMATS:
        raise ValueError(f"RELAY_LOG_FORMAT must be one of {', '.join(FORMATS)}, got {log_format!r}")
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer: Processor
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer(default=str)
    else:
        renderer = structlog.processors.KeyValueRenderer(
            key_order=["timestamp", "level", "logger", "event"], drop_missing=True
        )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
