"""bench-engine's PostgreSQL-queue baseline: procrastinate, the Python queue on PostgreSQL that users
would otherwise pick, with one no-op task. Its workers run as `procrastinate --app=bench.procrastinate_app.app
worker` processes on the benchmark's own database (`BENCH_PROCRASTINATE_DSN`)."""

from __future__ import annotations

import os

import procrastinate

app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=os.environ["BENCH_PROCRASTINATE_DSN"]))


@app.task(name="bench.noop", queue="bench")
def noop() -> None:
    """Does nothing: what is measured is the queue's own cost per job."""
