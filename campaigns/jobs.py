"""The engine's job handlers: one job is one batch of a phase, a `seq` range
(`campaign:<id>:<phase>:<first>-<stop>`, see `batches.py`).

A handler reads its slice of rows by `seq` range and does the network work outside any transaction.
Generation writes its rows with one COPY in one transaction; DNS and HTTP stream their results into
upserts keyed by the domain while the rest of the batch is still on the network (`BatchWriter`). A write is
idempotent, so a batch that runs again (a lost worker, a retry, a duplicate delivery) rewrites the
same rows instead of adding new ones. Results are not passed through `on_end`: a batch's results are
far too large for the job row, and the upsert makes ordering against the job's end harmless.

Every write is fenced by the batch's claim (`orchestration.fencing`): the COPY and the score upsert
check the claim inside their transaction, each streamed upsert carries it as a condition, so a worker
whose batch was taken away (a zombie) writes nothing.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg
from django.db import connection
from django.db.backends.utils import CursorWrapper

from core import egress
from core.egress_transports import checked_nameservers
from core.shared_rate_limit import SharedLimiters
from orchestration import fencing
from orchestration.errors import JobError
from orchestration.models import Job

from .batch_writer import BatchWriter
from .models import DnsPersona, HttpPersona, Proxy
from .phase_configs import spec_from_config
from .phases import Phase, analysis, dns_validation, http_keyword_validation
from .phases import domain_generation as generation

logger = logging.getLogger(__name__)

JOB_KIND = "campaign.batch"


def run_batch(job: Job) -> dict[str, Any]:
    payload = job.payload
    handler = _HANDLERS[Phase(payload["phase"])]
    result = handler(payload, job)
    logger.info(
        "campaign.batch_done campaign=%s phase=%s batch=%s key=%s attempt=%s result=%s",
        payload["campaign"],
        payload["phase"],
        payload["batch"],
        job.key,
        job.attempts,
        result,
    )
    return result


# --- domain generation ---------------------------------------------------------------------------


def generate_batch(payload: dict[str, Any], job: Job) -> dict[str, Any]:
    config = payload["config"]
    spec = spec_from_config(config)
    first, stop, offset = payload["first"], payload["stop"], int(config.get("offset_start", 0))
    campaign_id = payload["campaign"]
    with fencing.fenced(job), connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM campaigns_generateddomain WHERE campaign_id = %s AND seq >= %s AND seq < %s",
            [campaign_id, first, stop],
        )
        (existing,) = cursor.fetchone()
        if existing == stop - first:
            return {"generated": 0, "existing": existing}
        rows = generation.names(spec, offset + first, offset + stop)
        if existing == 0:  # the usual case: nothing of the range yet, so a plain COPY
            _copy_domains(cursor, campaign_id=campaign_id, offset=offset, rows=rows)
        else:
            # Part of the range is there (an earlier run cut its batches differently): add what is
            # missing, through a scratch table, since COPY cannot skip the rows that already exist.
            cursor.execute(
                'CREATE TEMP TABLE generated_batch (campaign_id uuid, seq integer, "offset" bigint, name text) '
                "ON COMMIT DROP"
            )
            _copy_domains(cursor, campaign_id=campaign_id, offset=offset, rows=rows, table="generated_batch")
            cursor.execute(
                'INSERT INTO campaigns_generateddomain (campaign_id, seq, "offset", name) '
                'SELECT campaign_id, seq, "offset", name FROM generated_batch ON CONFLICT DO NOTHING'
            )
    return {"generated": stop - first - existing, "existing": existing}


def _copy_domains(
    cursor: CursorWrapper, *, campaign_id: str, offset: int, rows: Any, table: str = "campaigns_generateddomain"
) -> None:
    # Streamed in chunks: PostgreSQL ingests one chunk while Python formats the next.
    with cursor.cursor.copy(f'COPY {table} (campaign_id, seq, "offset", name) FROM STDIN') as copy:
        chunk: list[str] = []
        for index, name in rows:
            chunk.append(f"{campaign_id}\t{index - offset}\t{index}\t{name}\n")
            if len(chunk) == 2000:
                copy.write("".join(chunk))
                chunk = []
        if chunk:
            copy.write("".join(chunk))


# --- DNS validation ------------------------------------------------------------------------------


def _domains(campaign_id: str, first: int, stop: int) -> list[tuple[int, int, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, seq, name FROM campaigns_generateddomain WHERE campaign_id = %s AND seq >= %s AND seq < %s "
            "ORDER BY seq",
            [campaign_id, first, stop],
        )
        return list(cursor.fetchall())


def dns_personas(ids: list[str]) -> list[dns_validation.ResolverSettings]:
    personas = list(DnsPersona.objects.filter(pk__in=ids).order_by("pk"))
    if not personas:
        raise JobError.fatal("none of the phase's DNS personas exists any more", code="persona_missing")
    try:
        for persona in personas:
            checked_nameservers(persona.nameservers)
    except egress.EgressDenied as exc:
        raise JobError.fatal(f"a DNS persona's nameserver is not allowed ({exc.rule})", code="egress_denied") from exc
    return [
        dns_validation.ResolverSettings(
            nameservers=tuple(p.nameservers),
            query_types=tuple(p.query_types or ["A"]),
            timeout_seconds=p.timeout_seconds,
            retries=p.retries,
            concurrency=p.concurrency,
            rate_limit_per_second=p.rate_limit_per_second,
            limit_key=f"dns:{p.pk}",
        )
        for p in personas
    ]


def resolve_batch(payload: dict[str, Any], job: Job) -> dict[str, Any]:
    campaign_id = payload["campaign"]
    domains = _domains(campaign_id, payload["first"], payload["stop"])
    personas = dns_personas(payload["config"]["personaIds"])
    held, held_params = fencing.held_condition(job)

    def write(cursor: psycopg.Cursor[Any], chunk: list[tuple[tuple[int, int, str], dns_validation.Lookup]]) -> None:
        cursor.execute(
            f"""
            INSERT INTO campaigns_dnsresult (domain_id, campaign_id, seq, status, addresses, error, checked_at)
            SELECT d, %s, s, st, coalesce(string_to_array(NULLIF(a, ''), ','), '{{}}'), e, now()
            FROM unnest(%b::bigint[], %b::int[], %b::text[], %b::text[], %b::text[]) AS r(d, s, st, a, e)
            WHERE {held}
            ON CONFLICT (domain_id) DO UPDATE SET status = EXCLUDED.status, addresses = EXCLUDED.addresses,
                error = EXCLUDED.error, checked_at = EXCLUDED.checked_at
            """,
            [
                campaign_id,
                [domain[0] for domain, _ in chunk],
                [domain[1] for domain, _ in chunk],
                [lookup.status for _, lookup in chunk],
                [",".join(lookup.addresses) for _, lookup in chunk],
                [lookup.error for _, lookup in chunk],
                *held_params,
            ],
        )

    # Network I/O outside any transaction: a slow resolver must not hold locks or a connection in a txn.
    with BatchWriter(write=write, usable=lambda item: dns_validation.answered(item[1])) as writer:
        lookups = dns_validation.resolve_batch(
            [name for _, _, name in domains],
            personas,
            on_result=lambda i, lookup: writer.add((domains[i], lookup)),
            limiters=SharedLimiters(),  # each persona's rate holds across every worker process
        )
        if dns_validation.resolvers_unusable(lookups):
            raise JobError.retryable_error(
                f"no lookup of {len(lookups)} got an answer ({lookups[0].error or lookups[0].status})",
                code="resolvers_unreachable",
            )
    counts: dict[str, Any] = {}
    for lookup in lookups:
        counts[lookup.status] = counts.get(lookup.status, 0) + 1
    return {"lookups": len(lookups), **counts}


# --- HTTP keyword validation ---------------------------------------------------------------------


def http_personas(ids: list[str], proxy_id: str | None) -> list[http_keyword_validation.FetchSettings]:
    personas = list(HttpPersona.objects.filter(pk__in=ids).order_by("pk"))
    if not personas:
        raise JobError.fatal("none of the phase's HTTP personas exists any more", code="persona_missing")
    proxy_url = ""
    if proxy_id:
        proxy = Proxy.objects.filter(pk=proxy_id).first()
        if proxy is None:
            raise JobError.fatal("the phase's proxy does not exist any more", code="proxy_missing")
        try:
            egress.check_url(proxy.url)
        except egress.EgressDenied as exc:
            raise JobError.fatal(f"the phase's proxy is not allowed ({exc.rule})", code="egress_denied") from exc
        proxy_url = proxy.url
    return [
        http_keyword_validation.FetchSettings(
            user_agent=p.user_agent,
            headers=tuple((str(k), str(v)) for k, v in (p.headers or {}).items()),
            scheme=p.scheme,
            port=p.port,
            timeout_seconds=p.timeout_seconds,
            max_redirects=p.max_redirects,
            max_body_bytes=p.max_body_bytes,
            concurrency=p.concurrency,
            rate_limit_per_second=p.rate_limit_per_second,
            limit_key=f"http:{p.pk}",
            proxy_url=proxy_url,
            verify_tls=p.verify_tls,
            address_family=p.address_family,
        )
        for p in personas
    ]


def fetch_batch(payload: dict[str, Any], job: Job) -> dict[str, Any]:
    campaign_id, config = payload["campaign"], payload["config"]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT d.id, d.seq, d.name, r.addresses FROM campaigns_generateddomain d
            JOIN campaigns_dnsresult r ON r.domain_id = d.id
            WHERE d.campaign_id = %s AND d.seq >= %s AND d.seq < %s AND r.status = 'resolved'
              AND cardinality(r.addresses) > 0
            ORDER BY d.seq
            """,
            [campaign_id, payload["first"], payload["stop"]],
        )
        rows = cursor.fetchall()
    if not rows:
        return {"fetches": 0}
    personas = http_personas(config["personaIds"], config.get("proxyId"))
    held, held_params = fencing.held_condition(job)

    def write(cursor: psycopg.Cursor[Any], chunk: list[tuple[tuple[Any, ...], http_keyword_validation.Fetch]]) -> None:
        cursor.execute(
            f"""
            INSERT INTO campaigns_httpresult (domain_id, campaign_id, seq, status, status_code, final_url, title,
                signals, keyword_hits, error, checked_at)
            SELECT d, %s, s, st, c, u, t, sg::jsonb, k::jsonb, e, now()
            FROM unnest(%b::bigint[], %b::int[], %b::text[], %b::int[], %b::text[], %b::text[], %b::text[],
                        %b::text[], %b::text[]) AS r(d, s, st, c, u, t, sg, k, e)
            WHERE {held}
            ON CONFLICT (domain_id) DO UPDATE SET status = EXCLUDED.status, status_code = EXCLUDED.status_code,
                final_url = EXCLUDED.final_url, title = EXCLUDED.title, signals = EXCLUDED.signals,
                keyword_hits = EXCLUDED.keyword_hits, error = EXCLUDED.error, checked_at = EXCLUDED.checked_at
            """,
            [
                campaign_id,
                [row[0] for row, _ in chunk],
                [row[1] for row, _ in chunk],
                [f.status for _, f in chunk],
                [f.status_code for _, f in chunk],
                [f.final_url[:2000] for _, f in chunk],
                [f.title for _, f in chunk],
                [json.dumps(f.signals) for _, f in chunk],
                [json.dumps(f.keyword_hits) for _, f in chunk],
                [f.error for _, f in chunk],
                *held_params,
            ],
        )

    # Network I/O outside any transaction; results stream into the table meanwhile.
    with BatchWriter(write=write, usable=lambda item: http_keyword_validation.answered(item[1])) as writer:
        fetches = http_keyword_validation.fetch_batch(
            [(row[2], row[3]) for row in rows],
            personas,
            payload.get("keywords", []),
            on_result=lambda i, fetch: writer.add((rows[i], fetch)),
            limiters=SharedLimiters(),  # each persona's rate holds across every worker process
        )
        if http_keyword_validation.fetches_unusable(fetches):
            if all(fetch.error.startswith(egress.EgressDenied.code) for fetch in fetches):
                raise JobError.fatal(f"every address of the batch is denied ({fetches[0].error})", code="egress_denied")
            raise JobError.retryable_error(
                f"not one of {len(fetches)} fetches got an HTTP answer ({fetches[0].error})", code="http_unreachable"
            )
    ok = sum(1 for f in fetches if f.status == http_keyword_validation.OK)
    return {"fetches": len(fetches), "ok": ok}


# --- analysis ------------------------------------------------------------------------------------


def score_batch(payload: dict[str, Any], job: Job) -> dict[str, Any]:
    campaign_id, keyword = payload["campaign"], payload["config"]["keyword"]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT d.id, d.seq, d.name, r.status, h.status_code, coalesce(h.title, ''),
                   coalesce(h.keyword_hits, '{}'::jsonb)::text,
                   coalesce(h.signals, '{}'::jsonb)::text
            FROM campaigns_generateddomain d
            LEFT JOIN campaigns_dnsresult r ON r.domain_id = d.id
            LEFT JOIN campaigns_httpresult h ON h.domain_id = d.id
            WHERE d.campaign_id = %s AND d.seq >= %s AND d.seq < %s ORDER BY d.seq
            """,
            [campaign_id, payload["first"], payload["stop"]],
        )
        rows = cursor.fetchall()
    scores = [
        analysis.score_domain(
            analysis.Evidence(
                name=r[2],
                dns_status=r[3],
                http_status_code=r[4],
                title=r[5],
                keyword_hits=json.loads(r[6]),
                signals=json.loads(r[7]),
            ),
            keyword=keyword,
        )
        for r in rows
    ]
    with fencing.fenced(job), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO campaigns_domainscore (domain_id, campaign_id, seq, score, keyword_matched, reasons)
            SELECT d, %s, s, sc, m, coalesce(string_to_array(NULLIF(rs, ''), ','), '{}')
            FROM unnest(%s::bigint[], %s::int[], %s::int[], %s::bool[], %s::text[]) AS r(d, s, sc, m, rs)
            ON CONFLICT (domain_id) DO UPDATE SET score = EXCLUDED.score, keyword_matched = EXCLUDED.keyword_matched,
                reasons = EXCLUDED.reasons
            """,
            [
                campaign_id,
                [r[0] for r in rows],
                [r[1] for r in rows],
                [s.score for s in scores],
                [s.keyword_matched for s in scores],
                [",".join(s.reasons) for s in scores],
            ],
        )
    return {"scored": len(rows), "matched": sum(1 for s in scores if s.keyword_matched)}


_HANDLERS = {
    Phase.DOMAIN_GENERATION: generate_batch,
    Phase.DNS_VALIDATION: resolve_batch,
    Phase.HTTP_KEYWORD_VALIDATION: fetch_batch,
    Phase.ANALYSIS: score_batch,
}
