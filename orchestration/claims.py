"""Claims: a worker takes due jobs of a queue itself, in fair order, within every group's cap.

A claim is one short transaction, sent to PostgreSQL in one flight (pipeline mode) by a drain:
1. a transaction-scoped advisory lock, so that the running counts read in step 2 stay true until this
   claim commits (a cap holds exactly across all workers); held for the server's work only, a fraction
   of a millisecond, never across a round trip to the worker;
2. one statement: the due candidates in `priority DESC, fair_key, id` order (one scan of the
   `job_claim_order` index), skipping rows other transactions hold and groups at their cap, the ones
   that fit (below), and `queued → running` for those, each with a fresh claim token.

Several at once only as far as they fit a time budget (`Budget`: the drain's flush window, priced
with the durations this process measured per stage — the jobs of one stage do the same work, while one
kind may serve fast and slow stages, like a campaign's generation and DNS batches): short jobs come
many per claim, a long one or one of a stage not measured yet comes alone, so no claimed job waits
long behind another. A job whose
last attempt was lost with its worker (`worker_lost`) is claimed alone too: if it is what kills
workers, it takes no batch-mates down with it a second time (they would lose an attempt each).

Messages play no part: whatever the broker lost, duplicated or delivered late, a job runs only when a
claim moved it to `running`, and only the holder of its token can end it.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from psycopg.pq import TransactionStatus

from . import job_metrics, leases
from .conf import engine_setting
from .db import bound_cursor
from .errors import WORKER_LOST
from .fairness import default_max_running
from .models import Job

CLAIM_LOCK = 0x52454C4159  # "RELAY": the advisory lock every claim takes

_JOB_FIELDS = list(Job._meta.concrete_fields)
_JOB_COLUMNS = ", ".join(f"j.{field.column}" for field in _JOB_FIELDS)


# Due jobs of one queue in claim order, skipping rows other transactions hold and groups at their cap;
# then the ones this claim takes: each group's first `room` candidates, in claim order, as long as the
# budget lasts (the first always), ending before a job that was lost with its worker unless it comes
# first (then alone). Every condition only gets worse down the order, so what is taken is a prefix.
_CLAIM = f"""
    WITH load AS (
        SELECT group_key, count(*) AS running FROM orchestration_job
        WHERE state = 'running' GROUP BY group_key
    ), room AS (
        SELECT load.group_key, coalesce(share.max_running, %(default_cap)s) - load.running AS room
        FROM load LEFT JOIN orchestration_fairshare AS share ON share.group_key = load.group_key
    ), candidates AS (
        SELECT id, group_key, error_code, stage_id, priority, fair_key FROM orchestration_job AS j
        WHERE queue = %(queue)s AND state = 'queued' AND available_at <= now()
          -- Groups at their cap, as one array computed once, compared with an expression the planner
          -- keeps no statistics of: when one tenant owns nearly the whole backlog, its statistics say
          -- "any other key matches no row", the planner expects a handful of candidates and sorts the
          -- whole backlog (100 ms behind 100,000 jobs) instead of reading the claim-order index from
          -- its front (a fraction of a millisecond).
          AND (j.group_key || '') <> ALL (ARRAY(
              SELECT group_key FROM room WHERE room <= 0
              UNION ALL SELECT group_key FROM orchestration_fairshare WHERE max_running = 0
          ))
        ORDER BY priority DESC, fair_key, id
        LIMIT __SCAN__
        FOR UPDATE SKIP LOCKED
    ), ranked AS (
        SELECT c.id, c.priority, c.fair_key, c.error_code = %(lost)s AS lost,
               coalesce(priced.seconds, %(unknown_cost)s) AS cost,
               row_number() OVER (PARTITION BY c.group_key ORDER BY c.priority DESC, c.fair_key, c.id) AS nth,
               coalesce(room.room, (SELECT max_running FROM orchestration_fairshare AS share
                                    WHERE share.group_key = c.group_key), %(default_cap)s) AS room
        FROM candidates AS c
        LEFT JOIN room ON room.group_key = c.group_key
        LEFT JOIN unnest(%(priced_stages)s::bigint[], %(priced_seconds)s::float8[]) AS priced(stage_id, seconds)
            ON priced.stage_id = c.stage_id
    ), ordered AS (
        SELECT id, row_number() OVER w AS position, sum(cost) OVER w AS spent, bool_or(lost) OVER w AS lost_so_far
        FROM ranked WHERE nth <= room
        WINDOW w AS (ORDER BY priority DESC, fair_key, id ROWS UNBOUNDED PRECEDING)
    ), chosen AS (
        SELECT id FROM ordered
        WHERE position = 1 OR (position <= %(limit)s AND spent <= %(budget)s AND NOT lost_so_far)
    )
    UPDATE orchestration_job AS j
    SET state = 'running', attempts = j.attempts + 1, worker = %(worker)s,
        lease_owner = replace(gen_random_uuid()::text, '-', ''),
        lease_expires_at = now() + make_interval(secs => %(lease)s), started_at = now(), finished_at = NULL
    FROM chosen WHERE j.id = chosen.id  -- queued: `candidates` row-locked them in this statement
    RETURNING {_JOB_COLUMNS}
"""

PRICED_STAGES = 128  # the stages a claim knows the price of: the ones this process measured last


@dataclass(frozen=True)
class Budget:
    """How much work one claim may take: `seconds` of expected run time, each job priced by the
    seconds measured for its stage (`known`); a stage not in `known` is priced as long as can be."""

    seconds: float
    known: Mapping[int, float]


def jobs_claim(*, queue: str, limit: int = 1, budget: Budget | None = None) -> list[Job]:
    """Claim up to `limit` due jobs of `queue` for this process (within `budget`, when given; the first
    job always). Returns them `running`, leased."""
    known = list(budget.known.items())[-PRICED_STAGES:] if budget is not None else []
    params: dict[str, Any] = {
        "queue": queue,
        "scan": limit * 4 if limit > 1 else 1,  # (written into the text: see below)
        "limit": limit,
        "budget": budget.seconds if budget is not None else math.inf,
        "unknown_cost": math.inf if budget is not None else 0.0,
        "priced_stages": [stage_id for stage_id, _ in known],
        "priced_seconds": [seconds for _, seconds in known],
        "lost": WORKER_LOST,
        "default_cap": default_max_running(),
        "worker": leases.worker_name(),
        "lease": engine_setting("LEASE_SECONDS"),
    }
    # The scan depth goes into the text, not as a parameter: this statement is prepared (server-side
    # binding), and a generic plan that does not know the LIMIT sorts the whole backlog instead of
    # reading the claim-order index from its front (100 ms a claim behind 100,000 due jobs, not 0.3).
    rows = _locked_claim(_CLAIM.replace("__SCAN__", str(int(params["scan"]))), params)
    jobs = [_job_from_row(row) for row in rows]
    jobs.sort(key=lambda job: (-job.priority, job.fair_key, job.pk))
    job_metrics.jobs_claimed(jobs)
    return jobs


def _locked_claim(sql: str, params: dict[str, Any]) -> list[Any]:
    """The claim statement after the claim lock, in a transaction of its own. Outside a transaction
    (a drain), BEGIN, the lock, the claim and COMMIT go to PostgreSQL in one flight (psycopg pipeline
    mode): the lock, which every claim of every worker takes, is held for the server's work only and
    never while a busy or descheduled worker process gets round to its next statement."""
    if connection.in_atomic_block:  # a caller's transaction (tests, a named claim): keep to it
        with transaction.atomic(), bound_cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CLAIM_LOCK])
            cursor.execute(sql, params)
            return list(cursor.fetchall())
    connection.ensure_connection()
    raw = connection.connection
    with connection.wrap_database_errors:
        try:
            with raw.pipeline(), raw.cursor() as control, raw.cursor() as claim:
                control.execute("BEGIN")
                control.execute("SELECT pg_advisory_xact_lock(%s)", [CLAIM_LOCK])
                claim.execute(sql, params)
                control.execute("COMMIT")
                rows = claim.fetchall()
        except BaseException:
            if raw.info.transaction_status != TransactionStatus.IDLE:
                raw.execute("ROLLBACK")  # the statements after a failed one were skipped, COMMIT too
            raise
    return list(rows)


def _job_from_row(row: Any) -> Job:
    values = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(_JOB_FIELDS, row, strict=True)
    ]
    return Job.from_db(connection.alias, [field.attname for field in _JOB_FIELDS], values)


def job_claim_named(job_id: int) -> Job | None:
    """`queued → running` for one named job, if and only if it is still queued and due (an operator's
    "run now", tests that play a worker). Caps and fair order do not apply."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE orchestration_job AS j
            SET state = 'running', attempts = j.attempts + 1, lease_owner = %s, worker = %s,
                lease_expires_at = now() + make_interval(secs => %s), started_at = now(), finished_at = NULL
            WHERE j.id = %s AND j.state = 'queued' AND j.available_at <= now() + interval '1 second'
            RETURNING {_JOB_COLUMNS}
            """,
            [uuid.uuid4().hex, leases.worker_name(), engine_setting("LEASE_SECONDS"), job_id],
        )
        row = cursor.fetchone()
    return None if row is None else _job_from_row(row)
