import os
from typing import Any

from celery import Celery
from celery.signals import beat_init, setup_logging, worker_process_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("relay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _logging_from_django_settings(**_: Any) -> None:
    """With a receiver here Celery leaves the root logger alone: workers and beat log through Django's
    LOGGING (structlog's formatter, config/structured_logs.py) like every other process, at
    RELAY_LOG_LEVEL rather than the command line's --loglevel."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@worker_process_init.connect
def _tracing_in_pool_process(**_: Any) -> None:
    # After the fork: the exporter's thread and connections of the parent do not survive it.
    from .telemetry import configure

    configure(service="relay-worker")


@worker_process_shutdown.connect
def _tracing_flush(**_: Any) -> None:
    from .telemetry import flush

    flush()


@beat_init.connect
def _tracing_in_beat(**_: Any) -> None:
    from .telemetry import configure

    configure(service="relay-beat")
