"""OpenTelemetry tracing, set up only when an OTLP endpoint is configured."""

from __future__ import annotations

_enabled = False


def enabled() -> bool:
    """True once this process set up tracing (`configure`)."""
    return _enabled
