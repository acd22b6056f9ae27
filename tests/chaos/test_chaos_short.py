"""The chaos battery's short profile, as CI runs it: the real stack in its own processes on its own
PostgreSQL and Redis, every kind of fault once or twice, then every invariant (devstack/chaos)."""

import subprocess
import sys
import time

import pytest

from devstack.chaos import invariants
from devstack.processes import LOG_DIR, ROOT

SEEDS = [1, 2]
DURATION = 25  # seconds of workload under faults, per seed
BOUND = 110  # seconds one seed may take: start, workload, convergence, checks (about 55 s when idle)
INVARIANTS = [
    "every campaign, run and scan is final",
    "no job queued, running or pending; no stage complete-but-unfinalised",
    "one DNS result per generated domain, at most one HTTP result",
    "no file outcome or scan-service result duplicated",
    "no result written by a fenced-out attempt",
    "credits: balance (+reserved) = sum of the ledger; nothing captured that should not be",
    "events: ids strictly increase without gaps, sequences the state machines allow",
    "every scheduled fault was applied",
    "the workload converged within its bound",
    "no 500 from the API",
]


@pytest.mark.parametrize("seed", SEEDS)
def test_the_short_battery_keeps_every_invariant(seed):
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"chaos-short-seed-{seed}.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.run(
            [
                sys.executable,
                "-m",
                "devstack",
                "chaos",
                "--seed",
                str(seed),
                "--duration",
                str(DURATION),
                "--profile",
                "short",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=BOUND + 60,
        )
    output = log_path.read_text(errors="replace")
    lines = [line for line in output.splitlines() if line.startswith(("[chaos]", "[ok]", "[FAIL]", "    offending"))]
    report = "\n".join(lines)
    assert process.returncode == 0, report
    assert lines[0] == f"[chaos] seed={seed} duration={DURATION}s profile=short", report
    for name in INVARIANTS:
        assert any(line.startswith(f"[ok] {name}") for line in lines), f"{name!r} not reported ok\n{report}"
    assert time.monotonic() - started < BOUND, report


def test_the_campaign_state_machine_refuses_a_retry_of_another_phase_than_the_failed_one():
    """The checker itself can fail: a sequence the campaign state machine does not allow is reported."""
    reference = [
        ("phase_started", {"phase": "domain_generation"}),
        ("phase_completed", {"phase": "domain_generation"}),
        ("phase_auto_started", {"phase": "dns_validation"}),
        ("phase_failed", {"phase": "dns_validation"}),
        ("phase_started", {"phase": "dns_validation"}),
        ("phase_completed", {"phase": "dns_validation"}),
        ("phase_auto_started", {"phase": "http_keyword_validation"}),
        ("phase_completed", {"phase": "http_keyword_validation"}),
        ("phase_auto_started", {"phase": "analysis"}),
        ("phase_completed", {"phase": "analysis"}),
        ("campaign_completed", {}),
    ]
    assert invariants.campaign_sequence(reference, "completed") is None
    skipped = [*reference[:4], ("phase_started", {"phase": "domain_generation"})]
    assert "waits for its retry" in str(invariants.campaign_sequence(skipped, "failed"))
    ahead = [*reference[:4], ("phase_started", {"phase": "analysis"})]
    assert "before http_keyword_validation completed" in str(invariants.campaign_sequence(ahead, "failed"))
    twice = [*reference, ("campaign_completed", {})]
    assert "after campaign_completed" in str(invariants.campaign_sequence(twice, "completed"))
    assert invariants.run_sequence([("run_started", {}), ("run_finished", {}), ("run_finished", {})], "COMPLETED")
    assert invariants.scan_sequence([("scan_started", {}), ("scan_completed", {})], "cancelled")
