"""What must hold once the stack has converged after the faults. Each check reads PostgreSQL (SQL or
the ORM) and returns its counts and the ids that break it; `check_all` prints every one.

A check that found nothing to look at is reported with its zero counts, so a run whose workload did
not reach a state (no campaign completed, say) is visible as such rather than silently green.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

MAX_SHOWN = 20


@dataclass
class Result:
    name: str
    counts: dict[str, int] = field(default_factory=dict)
    offenders: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.offenders


def rows(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return list(cursor.fetchall())


# --- final states ------------------------------------------------------------------------------------
def final_states() -> Result:
    result = Result("every campaign, run and scan is final")
    for table, final in (
        ("campaigns_campaign", ("completed", "cancelled", "failed")),
        ("workflow_runs_workflowrun", ("COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "CANCELLED")),
        ("scans_scan", ("completed", "partial", "failed", "cancelled")),
    ):
        for status, count in rows(f"SELECT status, count(*) FROM {table} GROUP BY status"):
            result.counts[f"{table.split('_')[-1]}:{status}"] = count
        result.offenders += [
            f"{table} {pk} {status}"
            for pk, status in rows(
                f"SELECT id, status FROM {table} WHERE NOT status = ANY(%s)",
                [list(final)],
            )
        ]
    # A campaign that failed is final only when the person gave up after retries; and none of its
    # phases may still be in progress or paused.
    result.offenders += [
        f"campaign {cid} phase {phase} {status}"
        for cid, phase, status in rows(
            "SELECT campaign_id, phase, status FROM campaigns_campaignphase WHERE status IN ('in_progress', 'paused')"
        )
    ]
    result.offenders += [
        f"run {run} file {index} running"
        for run, index in rows("SELECT run_id, index FROM workflow_runs_runfile WHERE status = 'running'")
    ]
    result.offenders += [
        f"scan {scan} service {service} {status}"
        for scan, service, status in rows(
            "SELECT scan_id, service, status FROM scans_serviceexecution WHERE status IN ('pending', 'running')"
        )
    ]
    return result


def no_stuck_jobs() -> Result:
    result = Result("no job queued, running or pending; no stage complete-but-unfinalised")
    for state, count in rows("SELECT state, count(*) FROM orchestration_job GROUP BY state"):
        result.counts[f"jobs:{state}"] = count
    result.offenders += [
        f"job {pk} {key} {state}"
        for pk, key, state in rows(
            "SELECT id, key, state FROM orchestration_job WHERE state IN ('queued', 'running', 'pending')"
        )
    ]
    unfinalised = rows(
        "SELECT id, kind, ref, status FROM orchestration_stage WHERE finalised_at IS NULL AND status <> 'idle' "
        "AND (status = 'running' OR total = succeeded + failed + errored + cancelled)"
    )
    result.counts["stages"] = rows("SELECT count(*) FROM orchestration_stage")[0][0]
    result.offenders += [f"stage {pk} {kind} {ref} {status} unfinalised" for pk, kind, ref, status in unfinalised]
    return result


# --- results -----------------------------------------------------------------------------------------
def campaign_results() -> Result:
    result = Result("one DNS result per generated domain, at most one HTTP result")
    per_campaign = rows(
        """
        SELECT c.id,
               (SELECT status FROM campaigns_campaignphase p WHERE p.campaign_id = c.id AND p.phase = 'dns_validation'),
               (SELECT status FROM campaigns_campaignphase p
                 WHERE p.campaign_id = c.id AND p.phase = 'http_keyword_validation'),
               (SELECT count(*) FROM campaigns_generateddomain d WHERE d.campaign_id = c.id),
               (SELECT count(*) FROM campaigns_dnsresult r WHERE r.campaign_id = c.id),
               (SELECT count(*) FROM campaigns_dnsresult r WHERE r.campaign_id = c.id AND r.status = 'resolved'),
               (SELECT count(*) FROM campaigns_httpresult h WHERE h.campaign_id = c.id),
               (SELECT count(*) FROM campaigns_httpresult h
                  LEFT JOIN campaigns_dnsresult r ON r.domain_id = h.domain_id
                 WHERE h.campaign_id = c.id AND (r.domain_id IS NULL OR r.status <> 'resolved'))
          FROM campaigns_campaign c
        """
    )
    for cid, dns_status, http_status, domains, dns, resolved, http, http_unresolved in per_campaign:
        result.counts["domains"] = result.counts.get("domains", 0) + domains
        result.counts["dns_results"] = result.counts.get("dns_results", 0) + dns
        result.counts["http_results"] = result.counts.get("http_results", 0) + http
        if dns_status == "completed":
            result.counts["campaigns_dns_completed"] = result.counts.get("campaigns_dns_completed", 0) + 1
            if dns != domains:
                result.offenders.append(f"campaign {cid}: {domains} domains, {dns} DNS results")
        elif dns > domains:
            result.offenders.append(f"campaign {cid}: {dns} DNS results for {domains} domains")
        if http > resolved or http_unresolved:
            result.offenders.append(f"campaign {cid}: {http} HTTP results, {resolved} resolved, {http_unresolved} not")
        if http_status == "completed" and http != resolved:
            result.offenders.append(f"campaign {cid}: HTTP completed with {http} results for {resolved} resolved")
    orphans = rows(
        "SELECT r.domain_id FROM campaigns_dnsresult r LEFT JOIN campaigns_generateddomain d ON d.id = r.domain_id "
        "WHERE d.id IS NULL OR d.campaign_id <> r.campaign_id"
    )
    result.offenders += [f"dns result of unknown domain {pk}" for (pk,) in orphans]
    return result


def no_duplicate_outcomes() -> Result:
    """One end per job key and round: a key that succeeded twice in one round ran twice."""
    result = Result("no file outcome or scan-service result duplicated")
    doubled = rows(
        "SELECT key, round, count(*) FROM orchestration_job WHERE state = 'succeeded' "
        "GROUP BY key, round HAVING count(*) > 1"
    )
    result.counts["succeeded_jobs"] = rows("SELECT count(*) FROM orchestration_job WHERE state = 'succeeded'")[0][0]
    result.counts["run_files"] = rows("SELECT count(*) FROM workflow_runs_runfile")[0][0]
    result.counts["service_executions"] = rows("SELECT count(*) FROM scans_serviceexecution")[0][0]
    result.offenders += [f"{key} round {rnd}: {n} successes" for key, rnd, n in doubled]
    # A scan's services run once per round; more executions than chosen services is a duplicate.
    result.offenders += [
        f"scan {pk}: {n} executions for {m} services"
        for pk, n, m in rows(
            "SELECT s.id, count(e.id), jsonb_array_length(s.services) FROM scans_scan s "
            "JOIN scans_serviceexecution e ON e.scan_id = s.id GROUP BY s.id HAVING count(e.id) > "
            "jsonb_array_length(s.services)"
        )
    ]
    return result


def results_from_the_last_attempt() -> Result:
    """What a file or a scan service shows is what its last job attempt ended with: a fenced-out
    (zombie) attempt that wrote after its job was taken from it would show its own outcome instead."""
    result = Result("no result written by a fenced-out attempt")
    files = rows(
        """
        SELECT f.run_id, f.index, f.status, j.state, j.error_code
          FROM workflow_runs_runfile f
          JOIN workflow_runs_workflowrun r ON r.id = f.run_id AND r.mode = 'per_file'
          JOIN LATERAL (SELECT state, error_code FROM orchestration_job
                         WHERE key = 'run:' || f.run_id || ':file:' || f.index ORDER BY id DESC LIMIT 1) j ON true
        """
    )
    result.counts["files_checked"] = len(files)
    for run, index, status, state, code in files:
        if (status == "completed") != (state == "succeeded"):
            result.offenders.append(f"run {run} file {index}: file {status}, last job {state} {code}")
    executions = rows(
        """
        SELECT e.scan_id, e.service, e.status, e.round, j.state, j.round
          FROM scans_serviceexecution e
          JOIN LATERAL (SELECT state, round FROM orchestration_job
                         WHERE key = 'scan:' || e.scan_id || ':' || e.service ORDER BY id DESC LIMIT 1) j ON true
        """
    )
    result.counts["executions_checked"] = len(executions)
    for scan, service, status, rnd, state, job_round in executions:
        if (status == "success") != (state == "succeeded") or (status != "cancelled" and rnd != job_round):
            result.offenders.append(f"scan {scan} {service}: {status} round {rnd}, last job {state} round {job_round}")
    return result


# --- credits -----------------------------------------------------------------------------------------
def credits() -> Result:
    from workflow_runs.billing import is_customer_code
    from workflow_runs.services.reconcile import credits_reconcile

    result = Result("credits: balance (+reserved) = sum of the ledger; nothing captured that should not be")
    result.offenders += [f"{m.kind} {m.id}: recorded {m.recorded}, ledger {m.ledger}" for m in credits_reconcile()]
    result.counts["accounts"] = rows("SELECT count(*) FROM workflow_runs_creditaccount")[0][0]
    result.counts["ledger_rows"] = rows("SELECT count(*) FROM workflow_runs_creditledgerentry")[0][0]
    moved: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_round: dict[tuple[str, int], int] = defaultdict(int)
    for run, reason, rnd, amount, nfiles in rows(
        "SELECT run_id, reason, round, amount, files FROM workflow_runs_creditledgerentry WHERE run_id IS NOT NULL"
    ):
        moved[str(run)][reason] += amount
        moved[str(run)][reason + "_files"] += nfiles or 0
        if reason == "capture":
            per_round[(str(run), rnd)] += nfiles or 0
    runs = {
        str(pk): (price, status, n)
        for pk, price, status, n in rows(
            "SELECT r.id, r.unit_price, r.status, count(f.id) FROM workflow_runs_workflowrun r "
            "JOIN workflow_runs_runfile f ON f.run_id = r.id GROUP BY r.id"
        )
    }
    bound: dict[str, int] = defaultdict(int)
    completed: dict[str, int] = defaultdict(int)
    for run, status, code, retries in rows(
        "SELECT run_id, status, error_code, retry_attempt FROM workflow_runs_runfile"
    ):
        chargeable = status == "completed" or (status in ("failed", "error") and is_customer_code(code))
        # Each round a file ran in could be charged only if it ended with the customer's outcome;
        # every round before its last did (Continue retries failed files only), the last one if its
        # final outcome is chargeable.
        bound[str(run)] += retries + int(chargeable)
        completed[str(run)] += int(status == "completed")
    result.counts["runs"] = len(runs)
    for run, (price, _status, _nfiles) in runs.items():
        captured = moved[run]["capture"]
        result.counts["captured"] = result.counts.get("captured", 0) + captured
        result.counts["released"] = result.counts.get("released", 0) + moved[run]["release"]
        if captured > bound[run] * price:
            result.offenders.append(f"run {run}: captured {captured} > {bound[run]} chargeable file-rounds x {price}")
        if captured < completed[run] * price:
            result.offenders.append(f"run {run}: captured {captured} < {completed[run]} completed files x {price}")
        settled = moved[run]["capture_files"] + moved[run]["release_files"]
        if settled > moved[run]["reserve_files"]:
            result.offenders.append(f"run {run}: {settled} files settled, {moved[run]['reserve_files']} reserved")
    for (run, rnd), nfiles in per_round.items():
        if run in runs and nfiles > runs[run][2]:
            result.offenders.append(f"run {run} round {rnd}: {nfiles} files captured of {runs[run][2]}")
    return result


# --- events ------------------------------------------------------------------------------------------
def event_streams() -> Result:
    result = Result("events: ids strictly increase without gaps, sequences the state machines allow")
    streams = rows(
        "SELECT s.name, s.last_seq, count(e.id), min(e.seq), max(e.seq) FROM orchestration_eventstream s "
        "LEFT JOIN orchestration_event e ON e.stream = s.name GROUP BY s.name, s.last_seq"
    )
    result.counts["streams"] = len(streams)
    for name, last, count, low, high in streams:
        if count and (low != 1 or high != last or count != last):
            result.offenders.append(f"{name}: {count} events, seq {low}..{high}, last_seq {last}")
    by_stream: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for stream, kind, payload in rows("SELECT stream, type, payload FROM orchestration_event ORDER BY stream, seq"):
        payload = json.loads(payload) if isinstance(payload, str) else payload  # raw cursors give jsonb as text
        by_stream[stream].append((kind, payload if isinstance(payload, dict) else {}))
    result.counts["events"] = sum(len(v) for v in by_stream.values())
    statuses = {
        **{f"campaign:{pk}": s for pk, s in rows("SELECT id, status FROM campaigns_campaign")},
        **{f"run:{pk}": s for pk, s in rows("SELECT id, status FROM workflow_runs_workflowrun")},
        **{f"scan:{pk}": s for pk, s in rows("SELECT id, status FROM scans_scan")},
    }
    checkers: dict[str, Callable[[list[tuple[str, dict[str, Any]]], str], str | None]] = {
        "campaign": campaign_sequence,
        "run": run_sequence,
        "scan": scan_sequence,
    }
    for stream, status in statuses.items():
        kind = stream.split(":", 1)[0]
        problem = checkers[kind](by_stream.get(stream, []), status)
        result.counts[f"{kind}_streams"] = result.counts.get(f"{kind}_streams", 0) + 1
        if problem:
            result.offenders.append(f"{stream} ({status}): {problem}")
    return result


PHASES = ("domain_generation", "dns_validation", "http_keyword_validation", "analysis")


def campaign_sequence(events: list[tuple[str, dict[str, Any]]], status: str) -> str | None:
    """The campaign state machine over its lifecycle events (reference 000 when a phase failed and
    was retried: ... phase_failed P, phase_started P, phase_completed P, phase_auto_started next ...)."""
    running: str | None = None
    paused = False
    completed: set[str] = set()
    failed: str | None = None
    ended: str | None = None
    for n, (kind, payload) in enumerate(events):
        phase = payload.get("phase")
        where = f"#{n + 1} {kind} {phase or ''}".strip()
        if kind in ("campaign_created", "mode_changed", "stage_finalised"):
            continue
        if ended:
            return f"{where} after {ended}"
        if kind in ("phase_started", "phase_auto_started"):
            if running:
                return f"{where} while {running} runs"
            if phase not in PHASES:
                return f"{where}: unknown phase in {payload}"
            index = PHASES.index(str(phase))
            if index and PHASES[index - 1] not in completed:
                return f"{where} before {PHASES[index - 1]} completed"
            if failed and phase != failed:
                return f"{where} while {failed} waits for its retry"
            if kind == "phase_auto_started" and (failed or not index):
                return f"{where}: not an automatic start"
            running, failed = str(phase), None
        elif kind == "phase_paused":
            if phase != running or paused:
                return f"{where}: {running} runs (paused={paused})"
            paused = True
        elif kind == "phase_resumed":
            if phase != running or not paused:
                return f"{where}: {running} not paused"
            paused = False
        elif kind in ("phase_completed", "phase_failed"):
            if phase != running:
                return f"{where}: {running} runs"
            running, paused = None, False
            if kind == "phase_completed":
                completed.add(str(phase))
            else:
                failed = str(phase)
        elif kind == "campaign_completed":
            if running or completed != set(PHASES):
                return f"{where}: running {running}, completed {sorted(completed)}"
            ended = kind
        elif kind == "campaign_cancelled":
            ended = kind
        elif kind != "campaign_cancel_requested":
            return f"{where}: unknown lifecycle event"
    expected = {"completed": "campaign_completed", "cancelled": "campaign_cancelled"}.get(status)
    if expected and ended != expected:
        return f"status {status} but the stream ends with {ended or events[-1:]}"
    if status == "failed" and (ended or running or not failed):
        return f"status failed but running={running}, failed={failed}, ended={ended}"
    return None


def _tokens(events: list[tuple[str, dict[str, Any]]], alphabet: dict[str, str]) -> str:
    return "".join(alphabet[kind] for kind, _ in events if kind in alphabet)


RUN_ALPHABET = {"run_started": "S", "run_finished": "F", "retry_started": "R", "run_cancel_requested": "C"}
RUN_ALPHABET["run_cancelled"] = "X"
# Started; each round ends once (run_finished) before Continue opens the next; a cancel ends it.
RUN_GRAMMAR = re.compile(r"S(FR)*(F|C?X)")
SCAN_ALPHABET = {"scan_started": "S", "scan_completed": "D", "retry_started": "R", "scan_cancel_requested": "C"}
SCAN_ALPHABET["scan_cancelled"] = "X"
SCAN_GRAMMAR = re.compile(r"S(DR)*(D|C?X)")


def run_sequence(events: list[tuple[str, dict[str, Any]]], status: str) -> str | None:
    tokens = _tokens(events, RUN_ALPHABET)
    if not RUN_GRAMMAR.fullmatch(tokens):
        return f"lifecycle {tokens!r} is not S(FR)*(F|C?X)"
    if (status == "CANCELLED") != tokens.endswith("X"):
        return f"status {status}, lifecycle {tokens!r}"
    return None


def scan_sequence(events: list[tuple[str, dict[str, Any]]], status: str) -> str | None:
    tokens = _tokens(events, SCAN_ALPHABET)
    if not SCAN_GRAMMAR.fullmatch(tokens):
        return f"lifecycle {tokens!r} is not S(DR)*(D|C?X)"
    if (status == "cancelled") != tokens.endswith("X"):
        return f"status {status}, lifecycle {tokens!r}"
    return None


CHECKS: list[Callable[[], Result]] = [
    final_states,
    no_stuck_jobs,
    campaign_results,
    no_duplicate_outcomes,
    results_from_the_last_attempt,
    credits,
    event_streams,
]


def _safely(check: Callable[[], Result]) -> Result:
    try:
        return check()
    except Exception as exc:  # a check that cannot run is a failed check, and the others still run
        return Result(check.__name__, offenders=[f"the check raised {type(exc).__name__}: {exc}"])


def check_all(extra: list[Result] | None = None) -> list[Result]:
    results = [_safely(check) for check in CHECKS] + list(extra or [])
    for result in results:
        counts = " ".join(f"{k}={v}" for k, v in sorted(result.counts.items()))
        print(f"[{'ok' if result.ok else 'FAIL'}] {result.name}: {counts}", flush=True)
        for offender in result.offenders[:MAX_SHOWN]:
            print(f"    offending: {offender}", flush=True)
        if len(result.offenders) > MAX_SHOWN:
            print(f"    … and {len(result.offenders) - MAX_SHOWN} more", flush=True)
    return results
