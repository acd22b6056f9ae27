"""`manage.py prune_history [--days N] [--batch N]`: retention now, to the end, with its progress.

The control lane prunes a few seconds' worth every hour (`orchestration.prune`); an operator who wants
the backlog gone now (after lowering `RELAY_RETENTION_DAYS`, or a first run on an old database) runs
this: the same pruners, batch by batch, without a time budget, one line per batch.
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from orchestration import retention


class Command(BaseCommand):
    help = "Delete finished history older than the retention age now, printing each batch."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=float, default=None, help="retention age (default RELAY_RETENTION_DAYS)")
        parser.add_argument("--batch", type=int, default=None, help="rows a statement (RELAY_RETENTION_BATCH)")

    def handle(self, *args: Any, days: float | None, batch: int | None, **options: Any) -> None:
        days = retention.retention_days() if days is None else days
        batch = retention.retention_batch() if batch is None else batch
        cutoff = retention.retention_cutoff(days=days)
        names = list(retention.pruners())
        self.stdout.write(
            f"Pruning what finished before {cutoff.isoformat(timespec='seconds')} ({days:g} days), "
            f"{batch} rows a batch: {', '.join(names)}"
        )
        started = time.monotonic()
        batches = 0

        so_far: dict[str, int] = {}

        def on_batch(name: str, deleted: int, _in_this_pass: int) -> None:
            nonlocal batches
            batches += 1
            so_far[name] = so_far.get(name, 0) + deleted
            elapsed = time.monotonic() - started
            self.stdout.write(f"  batch {batches}: {name} -{deleted} ({so_far[name]} so far, {elapsed:.1f}s)")

        # A pass goes on until each pruner has found less than a batch; a stage whose jobs went in this
        # pass goes in the next (its pruner had found it still holding jobs): pass until one deletes nothing.
        counts = dict.fromkeys(names, 0)
        while True:
            deleted = retention.prune(budget_seconds=math.inf, limit=batch, cutoff=cutoff, on_batch=on_batch)
            for name, count in deleted.items():
                counts[name] = counts.get(name, 0) + count
            if not any(deleted.values()):
                break
        summary = " ".join(f"{name}={deleted}" for name, deleted in counts.items())
        self.stdout.write(f"Done in {time.monotonic() - started:.1f}s, {batches} batches: {summary}")
