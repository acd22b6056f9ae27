"""`/metrics`: prometheus_client collectors over the cluster's shared counters and histograms (Redis,
`metrics.py`) and the job gauges (PostgreSQL, `job_gauges.py`).

A source that cannot be read does not fail the scrape: its families are left out and
`relay_metrics_source_up{source=...}` is 0, so an alert can tell "no data" from "zero".
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from . import job_gauges, metrics
from .metric_catalog import COUNTERS, HISTOGRAMS

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
TOTAL = "_total"


class RelayCollector:
    """Counters and histograms every process on every host adds to (Redis), and the job gauges
    (PostgreSQL)."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "relay_metrics_source_up",
            "1 when this scrape could read the source, 0 when it could not.",
            labels=["source"],
        )
        families: list[Metric] = []
        try:
            counters, histograms = metrics.snapshot(), metrics.histogram_snapshot()
            families += [*_counter_families(counters), *_histogram_families(histograms)]
            up.add_metric(["redis"], 1)
        except Exception:
            logger.warning("metrics.redis_unreadable", exc_info=True)
            up.add_metric(["redis"], 0)
        try:
            families += _job_gauge_families(job_gauges.job_counts())
            up.add_metric(["postgresql"], 1)
        except Exception:
            logger.warning("metrics.postgresql_unreadable", exc_info=True)
            up.add_metric(["postgresql"], 0)
        yield up
        yield from families


def _counter_families(counters: dict[str, int]) -> Iterator[Metric]:
    families: dict[str, Metric] = {}
    for name, help_text in COUNTERS.items():  # the engine's counters are there from the first scrape
        families[name] = CounterMetricFamily(name, help_text)
    for text, count in counters.items():
        name, labels = metrics.series_parse(text)
        family = families.get(name)
        if family is None:
            help_text = COUNTERS.get(name, f"Counter {name}.")
            # prometheus_client names a counter's samples `<name>_total`; a name without the suffix is
            # exposed as it is, untyped, rather than renamed.
            typed = name.endswith(TOTAL)
            family = CounterMetricFamily(name, help_text) if typed else Metric(name, help_text, "unknown")
            families[name] = family
        family.add_sample(name, labels, count)
    yield from (families[name] for name in sorted(families))


def _histogram_families(histograms: dict[str, dict[str, Any]]) -> Iterator[Metric]:
    families = {name: HistogramMetricFamily(name, histogram.help) for name, histogram in HISTOGRAMS.items()}
    for text, data in histograms.items():
        name, labels = metrics.series_parse(text)
        family = families[name]
        for bound, cumulative in data["buckets"].items():
            family.add_sample(f"{name}_bucket", {**labels, "le": bound}, cumulative)
        family.add_sample(f"{name}_count", labels, data["count"])
        family.add_sample(f"{name}_sum", labels, data["sum"])
    yield from (families[name] for name in sorted(families))


def _job_gauge_families(counts: job_gauges.JobCounts) -> list[Metric]:
    per_queue = GaugeMetricFamily(
        "relay_queue_jobs",
        "Live jobs per queue: queued and due, queued and delayed (a retry's backoff), running; and the "
        "quarantined ones (set aside by an operator; their round waits for them).",
        labels=["queue", "state"],
    )
    for queue, statuses in sorted(counts.per_queue.items()):
        for status, count in statuses.items():
            per_queue.add_metric([queue, status], count)
    per_group = GaugeMetricFamily(
        "relay_group_jobs",
        "Live jobs per fairness group (tenant:<id>) and queue, by the same states as relay_queue_jobs.",
        labels=["group_key", "queue", "state"],
    )
    for (queue, group_key), statuses in sorted(counts.per_group.items()):
        for status, count in statuses.items():
            per_group.add_metric([group_key, queue, status], count)
    oldest = GaugeMetricFamily(
        "relay_queue_oldest_due_age_seconds",
        "How long the oldest due job of a queue has been waiting for a claim (0 when none is due).",
        labels=["queue"],
    )
    for queue, seconds in sorted(counts.oldest_due_seconds.items()):
        oldest.add_metric([queue], seconds)
    capped = GaugeMetricFamily(
        "relay_job_gauges_capped",
        f"1 when there were more than {job_gauges.SCAN_LIMIT} live jobs and the job gauges stopped counting.",
    )
    capped.add_metric([], 1 if counts.capped else 0)
    return [per_queue, per_group, oldest, capped]


registry = CollectorRegistry(auto_describe=False)
registry.register(RelayCollector())


def render() -> bytes:
    return generate_latest(registry)
