"""Flower as the Procfile starts it: `python -m config.flower [Flower's options]` is
`celery -A config flower [Flower's options]` with every page behind Flower's authentication.

Flower 2.2 asks for credentials on every page and API call but `/metrics` (its handler lacks
`@authenticated`), so with `--basic-auth` set its Prometheus metrics (task names, workers, queue
lengths) still answer anyone. Here that handler is wrapped like the others before Flower starts:
without credentials it answers 401 as well. `/healthcheck` stays open (it says "OK" and nothing else,
for a process manager). Flower refuses to start here without credentials (`FLOWER_BASIC_AUTH` or
`--basic-auth` / `--auth`): it shows every task's arguments and results.
"""

from __future__ import annotations

import os
import sys

from flower.views import monitor
from tornado import web


def metrics_require_authentication() -> None:
    handler = monitor.Metrics
    if not getattr(handler.get, "relay_authenticated", False):
        wrapped = web.authenticated(handler.get)
        wrapped.relay_authenticated = True  # type: ignore[attr-defined]
        handler.get = wrapped


def has_credentials(argv: list[str]) -> bool:
    given = ("--basic-auth", "--basic_auth", "--auth")
    return bool(os.environ.get("FLOWER_BASIC_AUTH")) or any(arg.split("=")[0] in given for arg in argv)


def main(argv: list[str]) -> int:
    if not has_credentials(argv):
        print("Flower needs credentials: set FLOWER_BASIC_AUTH=user:password (or pass --basic-auth)", file=sys.stderr)
        return 2
    metrics_require_authentication()
    from celery.bin.celery import main as celery_main

    sys.argv = ["celery", "-A", "config", "flower", *argv]
    return int(celery_main() or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
