"""Fair shares between tenants, decided when jobs are written (start-time fair queuing).

Every job carries a `fair_key`; claims take due jobs in `priority DESC, fair_key, id` order. A group's
(a tenant's) next jobs get the keys after `max(the group's last key, the lane's virtual time)`, where a
lane is one (queue, priority) and its virtual time is the key at the head of its due jobs. So:

- two tenants with backlogs alternate, one job each, whatever their sizes;
- a tenant that arrives while another has 20,000 jobs waiting starts at the head, not behind them;
- a tenant that was idle gets no credit for it (its keys start at the virtual time, not at its old
  last key), so nobody can save up a burst and starve the others;
- a job that is retried or taken back from a lost worker keeps its key, and so its place.

This is Hatchet's `GROUP_ROUND_ROBIN` decided at write time: the claim is one index scan with
`SKIP LOCKED`, never a window function over the queue. Priorities are strict lanes: interactive work
is claimed before bulk work of any tenant; within a lane tenants share as above.

Caps: a group never has more than its `max_running` jobs running across all workers (a `FairShare`
row set by a platform admin, else the `DEFAULT_MAX_RUNNING` setting); `claims.py` enforces it.
"""

from __future__ import annotations

from typing import Any

from .conf import engine_setting
from .models import FairShare, Priority, Stage


def fair_keys_reserve(cursor: Any, *, queue: str, priority: int, group_key: str, count: int) -> int:
    """Reserve `count` consecutive fair keys for a group in a lane; returns the first one.

    The group's row stays locked until the caller's transaction commits, so concurrent enqueues of one
    group take consecutive ranges; other groups are not blocked.
    """
    cursor.execute(
        """
        WITH head AS (
            SELECT fair_key FROM orchestration_job
            WHERE queue = %(queue)s AND priority = %(priority)s AND state = 'queued' AND available_at <= now()
            ORDER BY fair_key LIMIT 1
        ), vtime AS (
            SELECT coalesce(
                (SELECT fair_key - 1 FROM head),
                (SELECT max(last_key) FROM orchestration_fairgroup WHERE queue = %(queue)s AND priority = %(priority)s),
                0
            ) AS v
        )
        INSERT INTO orchestration_fairgroup (queue, priority, group_key, last_key)
        SELECT %(queue)s, %(priority)s, %(group)s, vtime.v + %(count)s FROM vtime
        ON CONFLICT (queue, priority, group_key) DO UPDATE
            SET last_key = greatest(orchestration_fairgroup.last_key, (SELECT v FROM vtime)) + %(count)s
        RETURNING last_key
        """,
        {"queue": queue, "priority": priority, "group": group_key, "count": count},
    )
    (last_key,) = cursor.fetchone()
    return int(last_key) - count + 1


def priority_label(stage: Stage | None) -> str | None:
    """What a domain shows of a stage's claim lane: `interactive` or `bulk` (None before a stage exists)."""
    return None if stage is None else lane_label(stage.priority)


def lane_label(priority: int | None) -> str | None:
    """`priority_label` from a stage's `priority` column alone (a `values()` row's `stage__priority`)."""
    return None if priority is None else Priority(priority).label


def default_max_running() -> int:
    return int(engine_setting("DEFAULT_MAX_RUNNING"))


def max_running_of(group_key: str) -> int:
    share = FairShare.objects.filter(group_key=group_key).first()
    return share.max_running if share is not None else default_max_running()


def max_running_set(*, group_key: str, max_running: int | None) -> int:
    """Set a group's cap (None: back to the default). Returns the cap now in force."""
    if max_running is None:
        FairShare.objects.filter(group_key=group_key).delete()
        return default_max_running()
    if max_running < 0:
        raise ValueError("max_running must be 0 or more")
    FairShare.objects.update_or_create(group_key=group_key, defaults={"max_running": max_running})
    return max_running
