"""A property test of the billing rules: any sequence of grants, starts, round ends with random file
outcomes, Continues and cancels keeps every balance equal to its ledger (reconciliation finds nothing),
never negative, and what was captured equal to price x the files whose round ended billable to the
customer, as a small independent model of the rules predicts."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.exceptions import ApplicationError, PaymentRequired
from orchestration.models import Job, JobState
from tenants.models import Role
from workflow_runs.billing import CUSTOMER_CODES
from workflow_runs.jobs import finalise_run
from workflow_runs.models import CreditAccount, FileStatus, RunFile, RunStatus, WorkflowRun
from workflow_runs.services.credits import credits_grant, credits_settle_run_files
from workflow_runs.services.reconcile import credits_reconcile
from workflow_runs.services.retry import workflow_run_retry_failed
from workflow_runs.services.runs import workflow_run_start_stored

from ..helpers import make_tenant, make_user
from .factories import make_template, set_price

MAX_RETRIES = 1  # small, so "the retry limit is reached" happens often
OUTCOMES = [
    (FileStatus.COMPLETED, ""),
    (FileStatus.FAILED, "upstream_error"),  # theirs
    (FileStatus.ERROR, "invalid_file"),  # theirs
    (FileStatus.FAILED, "unhandled_exception"),  # ours
    (FileStatus.ERROR, "file_missing"),  # ours
    (FileStatus.PENDING, "worker_lost"),  # ours, retried free
    (FileStatus.PENDING, ""),  # never reached
]


@dataclass
class ModelFile:
    status: str = FileStatus.PENDING
    code: str = ""
    reserved: bool = True
    attempt: int = 0


@dataclass
class ModelRun:
    price: int
    running: bool = True
    cancelled: bool = False
    files: list[ModelFile] = field(default_factory=list)

    def exhausted(self) -> bool:
        return any(f.status in ("failed", "pending") and f.attempt >= MAX_RETRIES for f in self.files)


@dataclass
class Model:
    available: int = 0
    captured: int = 0
    runs: list[tuple[WorkflowRun, ModelRun]] = field(default_factory=list)

    @property
    def reserved(self) -> int:
        return sum(r.price for _, r in self.runs for f in r.files if f.reserved)

    def settle(self, run: ModelRun, *, final: bool) -> None:
        for f in run.files:
            if not f.reserved or (f.status == "pending" and not final):
                continue
            f.reserved = False
            if f.status == "completed" or (f.status in ("failed", "error") and f.code in CUSTOMER_CODES):
                self.captured += run.price
            else:
                self.available += run.price


operations = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), st.integers(1, 30), st.sampled_from(["monthly", "purchased"])),
        st.tuples(st.just("start"), st.integers(1, 4), st.integers(1, 3)),
        st.tuples(st.just("end"), st.integers(0, 3), st.lists(st.sampled_from(OUTCOMES), min_size=4, max_size=4)),
        st.tuples(st.just("continue"), st.integers(0, 3), st.none()),
        st.tuples(st.just("cancel"), st.integers(0, 3), st.none()),
    ),
    max_size=18,
)


def end_round(run: WorkflowRun, outcomes: list[tuple[str, str]], model_run: ModelRun) -> None:
    """What the workers and the fan-in do: each file of the round ends with an outcome, then the
    round's last job end finalises the run (and settles its credits) in one transaction."""
    in_round = [f for f in model_run.files if f.status == "pending"]
    with transaction.atomic():
        rows = list(RunFile.objects.filter(run=run, status=FileStatus.PENDING).order_by("index"))
        assert len(rows) == len(in_round)
        for row, model_file, (status, code) in zip(rows, in_round, outcomes, strict=False):
            RunFile.objects.filter(pk=row.pk).update(status=status, error_code=code)
            model_file.status, model_file.code = status, code
        Job.objects.filter(stage=run.stage, state__in=[JobState.QUEUED, JobState.RUNNING]).update(
            state=JobState.SUCCEEDED
        )
        run.stage.refresh_from_db()
        finalise_run(run.stage)
    model_run.running = False


def check(tenant_id, model: Model) -> None:
    account = CreditAccount.objects.get(pk=tenant_id)
    assert credits_reconcile() == []
    assert min(account.monthly_balance, account.purchased_balance, account.reserved_balance) >= 0
    assert (account.total, account.reserved_balance, account.captured_balance) == (
        model.available,
        model.reserved,
        model.captured,
    )
    for run, model_run in model.runs:
        run.refresh_from_db()
        assert run.credits_consumed + run.credits_reserved >= 0
        assert run.credits_reserved == model_run.price * sum(f.reserved for f in model_run.files)


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
# Paths random sequences reach rarely, always tried: a pending file past the retry limit is released;
# a cancel releases what never ran and keeps what completed.
@example(
    ops=[
        ("grant", 10, "monthly"),
        ("start", 3, 2),
        ("end", 0, [OUTCOMES[5], OUTCOMES[1], OUTCOMES[0], OUTCOMES[0]]),
        ("continue", 0, None),
        ("end", 0, [OUTCOMES[6], OUTCOMES[6], OUTCOMES[0], OUTCOMES[0]]),
        ("continue", 0, None),
    ]
)
@example(ops=[("grant", 10, "purchased"), ("start", 2, 3), ("cancel", 0, None), ("end", 0, [OUTCOMES[0]] * 4)])
def test_any_sequence_keeps_the_ledger_whole_and_bills_exactly_the_customers_outcomes(ops):
    tenant = make_tenant()
    admin = make_user(tenant=tenant, role=Role.TENANT_ADMIN)
    template = make_template(tenant=tenant, credits_per_run=1)
    credits_grant(tenant=tenant, amount=1, source="monthly")
    model = Model(available=1)
    for op, arg, extra in ops:
        if op == "grant":
            credits_grant(tenant=tenant, amount=arg, source=extra)
            model.available += arg
        elif op == "start":
            files, price = arg, extra
            set_price("text_stats", price)  # the price list moves between runs; each run keeps its own
            stored = [(f"{i}.txt", f"x/{i}.txt", 1) for i in range(files)]
            if files * price > model.available:
                with pytest.raises(PaymentRequired):
                    workflow_run_start_stored(
                        tenant=tenant, actor=None, template=template, stored=stored, max_retry_count=MAX_RETRIES
                    )
            else:
                run = workflow_run_start_stored(
                    tenant=tenant, actor=None, template=template, stored=stored, max_retry_count=MAX_RETRIES
                )
                model.available -= files * price
                model.runs.append((run, ModelRun(price=price, files=[ModelFile() for _ in range(files)])))
        elif not model.runs:
            continue
        else:
            run, model_run = model.runs[arg % len(model.runs)]
            if op == "end":
                if model_run.running:
                    end_round(run, extra, model_run)
                    model.settle(model_run, final=model_run.exhausted())
            elif op == "cancel":
                if model_run.running:
                    # What a cancel finaliser does: mark what never ran, then settle for good.
                    with transaction.atomic():
                        RunFile.objects.filter(run=run, status=FileStatus.PENDING).update(
                            status=FileStatus.ERROR, error_code="cancelled"
                        )
                        WorkflowRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED)
                        credits_settle_run_files(run=run, final=True)
                    for f in model_run.files:
                        if f.status == "pending":
                            f.status, f.code = "error", "cancelled"
                    model_run.running, model_run.cancelled = False, True
                    model.settle(model_run, final=True)
            else:  # continue
                retried = [f for f in model_run.files if f.status in ("failed", "pending")]
                failed = sum(1 for f in retried if f.status == "failed")
                allowed = (
                    not model_run.running
                    and retried
                    and not model_run.exhausted()
                    and failed * model_run.price <= model.available
                )
                if not allowed:
                    with pytest.raises(ApplicationError):
                        workflow_run_retry_failed(run_id=run.pk, actor=admin)
                else:
                    workflow_run_retry_failed(run_id=run.pk, actor=admin)
                    model.available -= failed * model_run.price
                    for f in retried:
                        f.reserved = f.reserved or f.status == "failed"
                        f.status, f.code, f.attempt = "pending", "", f.attempt + 1
                    model_run.running = True
        check(tenant.pk, model)
