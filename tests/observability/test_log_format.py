"""The log format: JSON lines with DEBUG off (the production default) or RELAY_LOG_FORMAT=json,
key=value with DEBUG on; stdlib loggers (Django's, Celery's, the engine's) and structlog's alike carry
what is bound in the context variables. Each case is a fresh process configured from the settings."""

import json
import os
import subprocess
import sys

from devstack.processes import ROOT

SNIPPET = """
import logging, os
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
import structlog
structlog.contextvars.bind_contextvars(request_id="req-fmt-1", tenant="t-1")
logging.getLogger("orchestration.runner").info("engine.job_end job=%s key=%s", 7, "k:7")
structlog.get_logger("relay.test").warning("structlog.line", attempt=2)
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("django.request").exception("boom")
"""


def log_lines(**env: str) -> list[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("RELAY_LOG_FORMAT", "DJANGO_DEBUG")}
    done = subprocess.run(
        [sys.executable, "-c", SNIPPET],
        cwd=ROOT,
        env={**base, "RELAY_LOG_LEVEL": "INFO", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stderr.splitlines()


def test_with_debug_off_every_line_is_json_with_the_bound_ids():
    lines = [json.loads(line) for line in log_lines(DJANGO_DEBUG="0") if line.strip()]
    assert [line["event"] for line in lines] == ["engine.job_end job=7 key=k:7", "structlog.line", "boom"]
    assert all(line["request_id"] == "req-fmt-1" and line["tenant"] == "t-1" for line in lines)
    assert [line["logger"] for line in lines] == ["orchestration.runner", "relay.test", "django.request"]
    assert [line["level"] for line in lines] == ["info", "warning", "error"]
    assert lines[1]["attempt"] == 2
    assert "ZeroDivisionError" in lines[2]["exception"]


def test_with_debug_on_lines_are_key_value():
    lines = log_lines(DJANGO_DEBUG="1")
    assert lines[0].startswith("timestamp=")
    assert "level='info' logger='orchestration.runner' event='engine.job_end job=7 key=k:7'" in lines[0]
    assert "request_id='req-fmt-1'" in lines[0] and "tenant='t-1'" in lines[0]
    assert "event='structlog.line'" in lines[1] and "attempt=2" in lines[1]


def test_the_format_can_be_chosen_whatever_debug_says():
    lines = log_lines(DJANGO_DEBUG="1", RELAY_LOG_FORMAT="json")
    assert json.loads(lines[0])["request_id"] == "req-fmt-1"


def test_an_unknown_format_is_refused_at_start():
    base = {k: v for k, v in os.environ.items() if k != "RELAY_LOG_FORMAT"}
    done = subprocess.run(
        [sys.executable, "-c", SNIPPET],
        cwd=ROOT,
        env={**base, "RELAY_LOG_FORMAT": "xml"},
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "RELAY_LOG_FORMAT must be one of json, kv" in done.stderr


def test_a_worker_logging_at_warning_still_says_it_is_ready(db):
    """Celery logs through Django's LOGGING at RELAY_LOG_LEVEL; its start and "ready." lines stay at INFO
    so that operators see a worker come up and the launchers (the chaos battery runs at WARNING) can
    wait for it. start_worker raises if the line never comes."""
    from devstack.workers import start_worker

    worker = start_worker(concurrency=1, queues="log-format-ready", env={"RELAY_LOG_LEVEL": "WARNING"})
    try:
        assert " ready." in worker.log()
    finally:
        worker.stop()
