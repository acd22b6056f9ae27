"""Claims: a worker takes due jobs of a queue itself, in fair order, within every group's cap.

A claim is one short transaction:
1. a transaction-scoped advisory lock, so that the running counts read in step 2 stay true until this
   claim commits (a cap holds exactly across all workers; claims are a few milliseconds);
2. the due candidates in `priority DESC, fair_key, id` order (one scan of the `job_claim_order`
   index), skipping rows other transactions hold and groups at their cap;
3. `queued → running` for the chosen ones, guarded on the state, with a fresh claim token each.

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

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from . import job_metrics, leases
from .conf import engine_setting
from .db import bound_cursor
from .errors import WORKER_LOST
from .fairness import default_max_running
from .models import Job

CLAIM_LOCK = 0x52454C4159  # "RELAY": the advisory lock every claim takes

_JOB_FIELDS = list(Job._meta.concrete_fields)
_JOB_COLUMNS = ", ".join(f"j.{field.column}" for field in _JOB_FIELDS)


# Due jobs of one queue in claim order, skipping rows other transactions hold and groups at their cap.
_CANDIDATES = """
    WITH load AS (
        SELECT group_key, count(*) AS running FROM orchestration_job
        WHERE state = 'running' GROUP BY group_key
    ), room AS (
        SELECT load.group_key, coalesce(share.max_running, %(default_cap)s) - load.running AS room
        FROM load LEFT JOIN orchestration_fairshare AS share ON share.group_key = load.group_key
    ), candidates AS (
        SELECT id, group_key, error_code, stage_id FROM orchestration_job AS j
        WHERE queue = %(queue)s AND state = 'queued' AND available_at <= now()
          AND NOT EXISTS (SELECT 1 FROM room WHERE room.group_key = j.group_key AND room.room <= 0)
          AND NOT EXISTS (
              SELECT 1 FROM orchestration_fairshare AS share
              WHERE share.group_key = j.group_key AND share.max_running = 0
          )
        ORDER BY priority DESC, fair_key, id
        LIMIT %(scan)s
        FOR UPDATE SKIP LOCKED
    )
"""

_CLAIM_SET = """
    SET state = 'running', attempts = j.attempts + 1, worker = %(worker)s,
        lease_expires_at = now() + make_interval(secs => %(lease)s), started_at = now(), finished_at = NULL
"""


@dataclass(frozen=True)
class Budget:
    """How much work one claim may take: `seconds` of expected run time, each job priced by
    `expected(stage_id)` (None: not known, so as long as can be)."""

    seconds: float
    expected: Callable[[int], float | None]

    def cost(self, stage_id: int) -> float:
        known = self.expected(stage_id)
        return float("inf") if known is None else known


def jobs_claim(*, queue: str, limit: int = 1, budget: Budget | None = None) -> list[Job]:
    """Claim up to `limit` due jobs of `queue` for this process (within `budget`, when given; the first
    job always). Returns them `running`, leased."""
    params: dict[str, Any] = {
        "queue": queue,
        "scan": limit * 4 if limit > 1 else 1,
        "default_cap": default_max_running(),
        "worker": leases.worker_name(),
        "lease": engine_setting("LEASE_SECONDS"),
    }
    with transaction.atomic(), bound_cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CLAIM_LOCK])
        if limit == 1:
            # One job: the cap filter above is enough, so pick and claim in one statement.
            cursor.execute(
                f"""{_CANDIDATES}
                UPDATE orchestration_job AS j {_CLAIM_SET}, lease_owner = %(token)s
                FROM candidates WHERE j.id = candidates.id AND j.state = 'queued'
                RETURNING {_JOB_COLUMNS}
                """,
                {**params, "token": uuid.uuid4().hex},
            )
            rows = cursor.fetchall()
        else:
            rows = _claim_many(cursor, params=params, limit=limit, budget=budget)
    jobs = [_job_from_row(row) for row in rows]
    jobs.sort(key=lambda job: (-job.priority, job.fair_key, job.pk))
    job_metrics.jobs_claimed(jobs)
    return jobs


def _claim_many(cursor: Any, *, params: dict[str, Any], limit: int, budget: Budget | None) -> list[Any]:
    """Several jobs: take each candidate while its group has room left, then claim them together."""
    cursor.execute(
        f"""{_CANDIDATES}
        SELECT candidates.id, candidates.group_key, candidates.stage_id, candidates.error_code = %(lost)s,
               coalesce(room.room, (SELECT max_running FROM orchestration_fairshare AS share
                                    WHERE share.group_key = candidates.group_key), %(default_cap)s)
        FROM candidates LEFT JOIN room ON room.group_key = candidates.group_key
        """,
        {**params, "lost": WORKER_LOST},
    )
    chosen = _within_caps(cursor.fetchall(), limit=limit, budget=budget)
    if not chosen:
        return []
    cursor.execute(
        f"""
        UPDATE orchestration_job AS j {_CLAIM_SET}, lease_owner = c.token
        FROM unnest(%(ids)s::bigint[], %(tokens)s::text[]) AS c(id, token)
        WHERE j.id = c.id AND j.state = 'queued'
        RETURNING {_JOB_COLUMNS}
        """,
        {**params, "ids": chosen, "tokens": [uuid.uuid4().hex for _ in chosen]},
    )
    return list(cursor.fetchall())


def _within_caps(candidates: list[tuple[int, str, int, bool, int]], *, limit: int, budget: Budget | None) -> list[int]:
    """Candidates come in claim order; take each while its group has room left and the budget lasts
    (the first always). A job lost with its worker last time ends the batch: alone if it comes first,
    else in the next claim. Never skips ahead: the batch ends at the first job that does not fit."""
    taken: Counter[str] = Counter()
    chosen: list[int] = []
    spent = 0.0
    for job_id, group_key, stage_id, lost_last_time, room in candidates:
        if taken[group_key] >= room:
            continue
        cost = budget.cost(stage_id) if budget is not None else 0.0
        if chosen and (lost_last_time or (budget is not None and spent + cost > budget.seconds)):
            break
        taken[group_key] += 1
        chosen.append(job_id)
        spent += cost
        if lost_last_time or len(chosen) == limit:
            break
    return chosen


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
