"""A campaign of N domains end to end (generation → DNS → HTTP → analysis) against the loopback DNS
and HTTP servers, with 1 and then 2 worker processes, plus raw baselines measured in the same run:
a bare asyncio/aiodns resolver loop and a bare aiohttp loop against the same servers with the same
concurrency, and a bare psycopg COPY of the same domain rows into the same table.

A round is: the raw baselines, the campaign on 1 worker, the raw baselines again, the campaign on 2
workers. The figures are medians over the rounds (3 by default), so a noisy neighbour during one phase
of one round does not decide a ratio; every round's figures are in the results file too.

    make bench-campaign                    # N = 100,000, 3 rounds
    BENCH_CAMPAIGN_N=20000 BENCH_CAMPAIGN_ROUNDS=1 make bench-campaign
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import setup_django, write_results

setup_django()

import aiodns  # noqa: E402
import aiohttp  # noqa: E402
import psutil  # noqa: E402
from django.db import DatabaseError, connection  # noqa: E402
from django.db.models import Count  # noqa: E402

from campaigns.loopback.dns_server import ZoneRules, is_nxdomain  # noqa: E402
from campaigns.loopback.process import start_dns_server, start_http_server  # noqa: E402
from campaigns.models import Campaign, CampaignPhase, DnsPersona, DnsResult, HttpPersona, HttpResult  # noqa: E402
from campaigns.phase_configs import spec_from_config  # noqa: E402
from campaigns.phases import PHASES  # noqa: E402
from campaigns.phases import domain_generation as generation  # noqa: E402
from campaigns.services.campaigns import campaign_create, campaign_delete, campaign_set_mode, phase_config_set  # noqa: E402
from campaigns.services.phases import phase_start  # noqa: E402
from devstack.workers import start_worker  # noqa: E402
from tenants.models import Tenant  # noqa: E402

N = int(os.environ.get("BENCH_CAMPAIGN_N", sys.argv[1] if len(sys.argv) > 1 else 100_000))
ROUNDS = int(os.environ.get("BENCH_CAMPAIGN_ROUNDS", "3"))
QUEUE = "bench-campaign"
# ratio name: (our 1-worker rate, the raw baseline's rate)
RATIOS = {
    "generation_ratio": ("generation_domains_per_s", "generation_raw_copy_per_s"),
    "dns_ratio": ("dns_lookups_per_s", "dns_raw_lookups_per_s"),
    "http_ratio": ("http_fetches_per_s", "http_raw_fetches_per_s"),
}
RAW_RATES = tuple(raw for _, raw in RATIOS.values())
DNS_CONCURRENCY = 200
HTTP_CONCURRENCY = 100
GEN = {
    "pattern_type": "prefix",
    "variable_length": 4,
    "character_set": "abcdefghijklmnopqrstuvwxyz",
    "constant_string": "lead",
    "tld": "test",
    "num_domains": N,  # batch_size: the default
}


# --- raw baselines -------------------------------------------------------------------------------


def raw_copy(names: list[str]) -> float:
    campaign = campaign_create(tenant=Tenant.objects.get(slug="bench-campaign"), name="raw copy baseline")
    buffer = io.StringIO("".join(f"{campaign.pk}\t{i}\t{i}\t{name}\n" for i, name in enumerate(names)))
    started = time.perf_counter()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy('COPY campaigns_generateddomain (campaign_id, seq, "offset", name) FROM STDIN') as copy,
    ):
        copy.write(buffer.getvalue())
    elapsed = time.perf_counter() - started
    campaign_delete(campaign=campaign)
    settle_database()
    return len(names) / elapsed


def settle_database() -> None:
    """Clean up after a run before the next measurement starts. Otherwise autovacuum of the deleted rows
    and the checkpoint of the run's writes happen during, and are charged to, whatever runs next."""
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM (ANALYZE) campaigns_generateddomain, campaigns_dnsresult, campaigns_httpresult, "
            "campaigns_domainscore, orchestration_job, orchestration_stage"
        )
        with contextlib.suppress(DatabaseError):  # needs superuser or pg_checkpoint on an external server
            cursor.execute("CHECKPOINT")


async def _raw_dns(names: list[str], port: int) -> float:
    resolver = aiodns.DNSResolver(nameservers=[f"127.0.0.1:{port}"], timeout=2.0, tries=2)
    semaphore = asyncio.Semaphore(DNS_CONCURRENCY)

    async def one(name: str) -> None:
        async with semaphore:
            with contextlib.suppress(aiodns.error.DNSError):
                await resolver.query_dns(name, "A")

    started = time.perf_counter()
    await asyncio.gather(*(one(name) for name in names))
    elapsed = time.perf_counter() - started
    await resolver.close()
    return len(names) / elapsed


async def _raw_http(names: list[str], port: int) -> float:
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    semaphore = asyncio.Semaphore(HTTP_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(name: str) -> None:
            async with semaphore:
                try:
                    async with session.get(
                        f"http://127.0.0.1:{port}/", headers={"Host": f"{name}:{port}"}, allow_redirects=True
                    ) as response:
                        await response.read()
                except aiohttp.ClientError:
                    pass

        started = time.perf_counter()
        await asyncio.gather(*(one(name) for name in names))
        return len(names) / (time.perf_counter() - started)


# --- the campaign --------------------------------------------------------------------------------


class RssSampler:
    """Peak resident memory of any one worker process (main or pool), sampled every 0.2 s."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = 0
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pids:
                try:
                    process = psutil.Process(pid)
                    for proc in [process, *process.children(recursive=True)]:
                        rss = proc.memory_info().rss
                        self.peak = max(self.peak, rss)
                except psutil.Error:
                    pass
            self._stop.wait(0.2)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 1e6


def run_campaign(workers: int, dns_port: int, http_port: int) -> dict[str, Any]:
    tenant = Tenant.objects.get(slug="bench-campaign")
    dns = DnsPersona.objects.create(
        tenant=tenant,
        name="bench",
        nameservers=[f"127.0.0.1:{dns_port}"],
        query_types=["A"],
        timeout_seconds=2.0,
        retries=1,
        concurrency=DNS_CONCURRENCY,
    )
    http = HttpPersona.objects.create(
        tenant=tenant, name="bench", port=http_port, timeout_seconds=10.0, concurrency=HTTP_CONCURRENCY
    )
    campaign = campaign_create(tenant=tenant, name=f"bench {workers} workers")
    Campaign.objects.filter(pk=campaign.pk).update(queue=QUEUE)
    campaign.refresh_from_db()
    phase_config_set(campaign=campaign, phase="domain_generation", data=GEN)
    phase_config_set(campaign=campaign, phase="dns_validation", data={"personaIds": [str(dns.pk)], "batch_size": 5000})
    phase_config_set(
        campaign=campaign,
        phase="http_keyword_validation",
        data={"personaIds": [str(http.pk)], "keywords": ["pricing", "login"], "batch_size": 1000},
    )
    phase_config_set(campaign=campaign, phase="analysis", data={"keyword": "pricing", "batch_size": 5000})
    campaign_set_mode(campaign=campaign, mode="full_sequence", actor=None)

    procs = [start_worker(concurrency=1, queues=QUEUE) for _ in range(workers)]
    sampler = RssSampler([p.process.pid for p in procs])
    try:
        started = time.perf_counter()
        phase_start(campaign=campaign, phase="domain_generation", actor=None)
        deadline = time.monotonic() + 1800
        while True:
            campaign.refresh_from_db()
            if campaign.status in ("completed", "failed"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("campaign did not finish")
            time.sleep(0.2)
        total = time.perf_counter() - started
    finally:
        peak = sampler.stop()
        for proc in procs:
            proc.stop()
    if campaign.status != "completed":
        raise RuntimeError(f"campaign ended {campaign.status}")
    rows = {row.phase: row for row in CampaignPhase.objects.filter(campaign=campaign)}
    seconds = {p: (rows[p].completed_at - rows[p].started_at).total_seconds() for p in PHASES}  # type: ignore[operator]
    fetched = HttpResult.objects.filter(campaign=campaign).count()
    # Under overload a loopback UDP query can be dropped twice and end `timeout`; then HTTP has less to do.
    dns_outcomes = dict(
        DnsResult.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("pk")).order_by()
    )
    campaign_delete(campaign=campaign)  # the next round starts from tables of the same size
    dns.delete()
    http.delete()
    settle_database()
    return {
        "workers": workers,
        "total_seconds": round(total, 2),
        "phase_seconds": {k: round(v, 2) for k, v in seconds.items()},
        "generation_domains_per_s": N / seconds["domain_generation"],
        "dns_lookups_per_s": N / seconds["dns_validation"],
        "dns_outcomes": dns_outcomes,
        "http_fetches": fetched,
        "http_fetches_per_s": fetched / seconds["http_keyword_validation"],
        "analysis_domains_per_s": N / seconds["analysis"],
        "peak_worker_rss_mb": round(peak, 1),
    }


def raw_baselines(names: list[str], resolved: list[str], dns_port: int, http_port: int) -> dict[str, float]:
    raw = {
        "generation_raw_copy_per_s": raw_copy(names),
        "dns_raw_lookups_per_s": asyncio.run(_raw_dns(names, dns_port)),
        "http_raw_fetches_per_s": asyncio.run(_raw_http(resolved, http_port)),
    }
    print(raw, flush=True)
    return raw


def run_round(names: list[str], resolved: list[str], dns_port: int, http_port: int) -> dict[str, Any]:
    """The 1-worker campaign bracketed by raw baselines (before and after), then the 2-worker campaign.
    The round's baseline is the mean of the two brackets, so a slow spell during the campaign moves both
    sides of the ratio instead of one."""
    before = raw_baselines(names, resolved, dns_port, http_port)
    one = run_campaign(1, dns_port, http_port)
    print(one, flush=True)
    after = raw_baselines(names, resolved, dns_port, http_port)
    two = run_campaign(2, dns_port, http_port)
    print(two, flush=True)
    raw = {key: (before[key] + after[key]) / 2 for key in RAW_RATES}
    ratios = {ratio: one[ours] / raw[base] for ratio, (ours, base) in RATIOS.items()}
    return {
        "raw_before": before,
        "raw_after": after,
        "raw": raw,
        "ratios": ratios,
        "one_worker": one,
        "two_workers": two,
    }


def main() -> None:
    Tenant.objects.get_or_create(slug="bench-campaign", defaults={"name": "bench"})
    dns_server = start_dns_server(args=["--nxdomain-every", "5"])
    http_server = start_http_server()
    spec = spec_from_config(GEN)
    names = [name for _, name in generation.names(spec, 0, N)]
    zone = ZoneRules(nxdomain_every=5)  # as the DNS server was started above
    resolved = [name for name in names if not is_nxdomain(name, zone)]
    rounds = []
    try:
        for index in range(ROUNDS):
            print(f"N={N}: round {index + 1} of {ROUNDS}", flush=True)
            rounds.append(run_round(names, resolved, dns_server.port, http_server.port))
    finally:
        dns_server.stop()
        http_server.stop()

    def median(part: str, key: str) -> float:
        return statistics.median(r[part][key] for r in rounds)

    figures: dict[str, Any] = {"n_domains": N, "rounds": ROUNDS}
    for ratio, (ours, raw) in RATIOS.items():
        figures[ours] = round(median("one_worker", ours))
        figures[raw] = round(median("raw", raw))
        figures[ratio] = round(median("ratios", ratio), 3)
    figures |= {
        "analysis_domains_per_s": round(median("one_worker", "analysis_domains_per_s")),
        "speedup_2_workers": round(median("one_worker", "total_seconds") / median("two_workers", "total_seconds"), 3),
        "peak_worker_rss_mb": max(
            r[part]["peak_worker_rss_mb"] for r in rounds for part in ("one_worker", "two_workers")
        ),
        "runs": rounds,
        "notes": "rates and raw baselines are medians over the rounds; each ratio is the median of the rounds' "
        "ratios (1-worker rate / mean of the raw runs just before and after it); speedup_2_workers compares "
        "median end-to-end campaign times",
    }
    write_results("campaign", figures)


if __name__ == "__main__":
    main()
