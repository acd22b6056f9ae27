"""The engine side of a run: job handlers (outside transactions), per-file outcomes (inside the job's
ending transaction) and the run's fan-in (exactly once per round).

Hot rows: a worker ends the files it ran together (`record_file_outcomes`: one statement for their
rows, the changed files noted for a coalesced `files_progress` event), so a run's stage row and event
stream row are taken once per flush, not once per file, and the stream carries a few progress events a
second however many workers end its files (`orchestration/progress.py`); `on_end` does not also update
the run row: the run's round counters are read from the stage while it runs and written once by
`finalise_run`.

Lock order: an end takes file rows → event stream → stage (the engine's order); Continue and the start
service take run → credit account → files → stage → stream. They never overlap on one run: Continue
needs the run not `RUNNING`, which `finalise_run` sets in the transaction of the round's last job end,
after every other job of the round has committed its end.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from orchestration import events, fencing, metrics, progress, stages
from orchestration.db import bound_cursor
from orchestration.errors import WORKER_LOST, JobError
from orchestration.models import Job, JobState, Stage
from orchestration.registry import JobKind, StageKind, register_job_kind, register_stage_kind

from .billing import is_customer_code
from .models import FileStatus, RunFile, RunMode, RunStatus, WorkflowRun
from .processors import get_processor
from .processors.output import checked_output
from .processors.registry import Processor
from .processors.streams import FileInput
from .selectors import continue_possible, file_status_counts
from .services.credits import credits_settle_run_files

logger = logging.getLogger(__name__)

STAGE_KIND = "workflow_run"
FILE_JOB = "workflow_run.file"
BATCH_JOB = "workflow_run.batch"
STOP_CHECK_EVERY = 50  # a batch job asks the database whether to stop every this many files (memory: each)


def jobs_queue() -> str:
    """Deployments may give workflow runs their own workers (and tests their own queue)."""
    return str(getattr(settings, "WORKFLOW_RUNS_QUEUE", "jobs"))


def round_jobs(*, run: WorkflowRun, files: list[tuple[int, int, int]]) -> list[stages.JobSpec]:
    """The engine jobs for `files` (pk, index, retry_attempt): one per file, or one for the batch."""
    queue = jobs_queue()
    if run.mode == RunMode.BATCH:
        return [stages.JobSpec(key=f"run:{run.pk}", kind=BATCH_JOB, payload={"run": str(run.pk)}, queue=queue)]
    return [
        stages.JobSpec(
            key=f"run:{run.pk}:file:{index}",
            kind=FILE_JOB,
            queue=queue,
            payload={"run": str(run.pk), "file": pk, "index": index, "attempt": attempt},
        )
        for pk, index, attempt in files
    ]


def _processor(run: WorkflowRun) -> Processor:
    """The processor the run snapshotted at start (a later template edit does not reach a started run)."""
    return _processor_named(run.processor)


def _processor_named(name: str) -> Processor:
    try:
        return get_processor(name)
    except LookupError as exc:
        raise JobError.fatal(f"the run's processor {name!r} is not installed", code="unknown_processor") from exc


def _process(processor: Processor, *, name: str, stored_name: str, config: dict[str, Any]) -> dict[str, Any]:
    """Run `processor` over the stored file as a stream (never read whole into memory), and return its
    output if it may be stored (`processors/output.py`: at most `RELAY_MAX_OUTPUT_BYTES`)."""
    try:
        handle = default_storage.open(stored_name, "rb")
    except FileNotFoundError as exc:
        raise JobError.fatal("the uploaded file is missing from storage", code="file_missing") from exc
    except OSError as exc:  # a storage hiccup: try again later
        raise JobError.retryable_error(f"could not read the file: {exc}", code="storage_error") from exc
    with handle:
        try:
            output = processor.process(name, FileInput(handle), config)
        except OSError as exc:  # reading the stream failed part way (the processors raise JobError)
            raise JobError.retryable_error(f"could not read the file: {exc}", code="storage_error") from exc
    return checked_output(output, max_bytes=settings.RELAY_MAX_OUTPUT_BYTES)


# --- per_file mode -----------------------------------------------------------------------------------


def run_file_job(job: Job) -> dict[str, Any]:
    """One statement before the work (a per-file job is short, so its round trips are its cost): mark
    the file `running` while this worker holds the job (fenced: a zombie's update changes nothing, and
    it learns so), and read what processing needs — the file and the processor the run snapshotted."""
    payload = job.payload
    held, held_params = fencing.held_condition(job)
    with bound_cursor() as cursor:
        cursor.execute(
            f"""
            WITH marked AS (
                UPDATE workflow_runs_runfile SET status = %s, updated_at = now()
                WHERE id = %s AND status = %s AND retry_attempt = %s AND {held}
                RETURNING id
            )
            SELECT f.name, f.file, r.processor, r.processor_config, {held}
            FROM workflow_runs_runfile AS f JOIN workflow_runs_workflowrun AS r ON r.id = f.run_id
            WHERE f.id = %s
            """,
            [
                *(FileStatus.RUNNING, payload["file"], FileStatus.PENDING, payload["attempt"], *held_params),
                *(*held_params, payload["file"]),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        raise JobError.fatal("the run's file no longer exists", code="file_missing")
    name, stored_name, processor_name, config, still_ours = row
    if not still_ours:
        raise fencing.LeaseLost(job)
    processor = _processor_named(processor_name)
    config = json.loads(config) if isinstance(config, str) else config
    return _process(processor, name=name, stored_name=stored_name, config=config)


def _file_outcome(job: Job) -> tuple[str, str, str]:
    """(file status, error code, error message) for an ended job."""
    if job.state == JobState.SUCCEEDED:
        return FileStatus.COMPLETED, "", ""
    if job.state == JobState.CANCELLED:
        return FileStatus.CANCELLED, job.error_code, job.error_message
    if job.state == JobState.ERROR:
        return FileStatus.ERROR, job.error_code, job.error_message
    if job.error_code == WORKER_LOST:
        # We lost the worker on the last automatic try: our fault, so Continue retries it for free.
        return FileStatus.PENDING, job.error_code, job.error_message
    return FileStatus.FAILED, job.error_code, job.error_message


def _emit_file(*, run_id: str, index: int, status: str, code: str = "", message: str = "") -> None:
    _emit_files(run_id=run_id, files=[(index, status, code, message)])


def _emit_files(*, run_id: str, files: list[tuple[int, str, str, str]]) -> None:
    """Note files that changed together (a worker's flush, a batch end, a cancel) for the run's next
    coalesced `files_progress` event: their index and new status, and the error of those that did not
    complete. A live page reads the per-file table from the API when one arrives; lifecycle events
    (`run_started`, `run_finished`, …) stay one per change and follow the progress noted before them."""
    items: list[dict[str, Any]] = []
    for index, status, code, message in files:
        item: dict[str, Any] = {"index": index, "status": status}
        if status != FileStatus.COMPLETED:
            item.update(errorCode=code, errorMessage=message[:500])
        items.append(item)
        metrics.incr("relay_workflow_files_total", status=status)
    progress.note(stream=f"run:{run_id}", type="files_progress", items=items)


def record_file_outcome(job: Job) -> None:
    """`on_end` of a per-file job: inside the transaction that ends the job."""
    record_file_outcomes([job])


def record_file_outcomes(jobs: list[Job]) -> None:
    """`on_end_many` of per-file jobs a worker ended together: every file row in one statement
    (guarded on the Continue round the job was made for), one progress event per run."""
    outcomes = {job.pk: _file_outcome(job) for job in jobs}
    with bound_cursor() as cursor:
        cursor.execute(
            """
            UPDATE workflow_runs_runfile AS f
            SET status = o.status, error_code = o.code, error_message = o.message,
                output = CASE WHEN o.status = %s THEN o.output::jsonb END, updated_at = now()
            FROM unnest(%s::bigint[], %s::int[], %s::text[], %s::text[], %s::text[], %s::text[])
                AS o(id, attempt, status, code, message, output)
            WHERE f.id = o.id AND f.retry_attempt = o.attempt
            RETURNING f.id
            """,
            [
                FileStatus.COMPLETED,
                [job.payload["file"] for job in jobs],
                [job.payload["attempt"] for job in jobs],
                [outcomes[job.pk][0] for job in jobs],
                [outcomes[job.pk][1] for job in jobs],
                [outcomes[job.pk][2][:4000] for job in jobs],
                [None if job.result is None else json.dumps(job.result) for job in jobs],
            ],
        )
        updated = {row[0] for row in cursor.fetchall()}
    by_run: dict[str, list[tuple[int, str, str, str]]] = {}
    for job in jobs:
        status, code, message = outcomes[job.pk]
        if job.payload["file"] in updated:
            by_run.setdefault(job.payload["run"], []).append((job.payload["index"], status, code, message))
        logger.info(
            "workflow.file_end run=%s key=%s file=%s status=%s code=%s",
            job.payload["run"],
            job.key,
            job.payload["index"],
            status,
            code,
        )
    for run_id, files in by_run.items():
        _emit_files(run_id=run_id, files=files)


# --- batch mode ------------------------------------------------------------------------------------------


def run_batch_job(job: Job) -> dict[str, Any]:
    """Process the run's unsettled files in index order, committing each file's outcome as it ends, so a
    retried or recovered batch resumes where it stopped. A retryable error stops the batch (the engine
    retries it); an invalid file is `error` and the batch goes on."""
    run = WorkflowRun.objects.get(pk=job.payload["run"])
    processor = _processor(run)
    files = list(
        RunFile.objects.filter(run=run, status__in=[FileStatus.PENDING, FileStatus.RUNNING])
        .order_by("index")
        .only("pk", "index", "name", "file", "status")
    )
    processed = 0
    for position, file in enumerate(files):
        if position and stages.job_should_stop(job, ask_database=position % STOP_CHECK_EVERY == 0):
            raise JobError.retryable_error("the batch was taken away from this worker", code="stopped")
        if file.status == FileStatus.PENDING:
            with fencing.fenced(job):
                RunFile.objects.filter(pk=file.pk, status=FileStatus.PENDING).update(
                    status=FileStatus.RUNNING, updated_at=timezone.now()
                )
        try:
            output = _process(processor, name=file.name, stored_name=file.file.name, config=run.processor_config)
        except JobError as exc:
            if exc.retryable:
                raise  # the file stays `running`; the next attempt starts with it
            _settle_batch_file(
                job=job, run_id=str(run.pk), file=file, status=FileStatus.ERROR, code=exc.code, message=exc.message
            )
        else:
            _settle_batch_file(job=job, run_id=str(run.pk), file=file, status=FileStatus.COMPLETED, output=output)
        processed += 1
    return {"processed": processed}


def _settle_batch_file(
    *, job: Job, run_id: str, file: RunFile, status: str, output: Any = None, code: str = "", message: str = ""
) -> None:
    with fencing.fenced(job):
        updated = RunFile.objects.filter(pk=file.pk, status=FileStatus.RUNNING).update(
            status=status, output=output, error_code=code, error_message=message[:4000], updated_at=timezone.now()
        )
        if updated:
            _emit_file(run_id=run_id, index=file.index, status=status, code=code, message=message)


def record_batch_outcome(job: Job) -> None:
    """`on_end` of a batch job: files the batch did not settle take the job's outcome. A file that was
    being processed when retries ran out is `failed`; files never reached stay `pending` (free)."""
    run_id = job.payload["run"]
    if job.state == JobState.SUCCEEDED:
        return
    status, code, message = _file_outcome(job)
    unsettled = [FileStatus.RUNNING] if job.state == JobState.FAILED else [FileStatus.RUNNING, FileStatus.PENDING]
    # A cancelled batch leaves nothing pending: every file it did not settle is cancelled (and refunded).
    changed = list(
        RunFile.objects.filter(run_id=run_id, status__in=unsettled)
        .order_by("index")
        .values_list("pk", "index", "status")
    )
    # A file the batch never reached did not fail of its own: it is billed as never run, whatever
    # stopped the batch (only the file in progress carries the batch's error, and its bill).
    never_run = [(pk, index) for pk, index, was in changed if was == FileStatus.PENDING and is_customer_code(code)]
    RunFile.objects.filter(pk__in=[pk for pk, _, _ in changed]).update(
        status=status, error_code=code, error_message=message[:4000], updated_at=timezone.now()
    )
    if never_run:
        RunFile.objects.filter(pk__in=[pk for pk, _ in never_run]).update(error_code="never_run")
    _emit_files(run_id=run_id, files=[(index, status, code, message) for _, index, _ in changed])
    logger.info(
        "workflow.batch_end run=%s key=%s state=%s code=%s files=%s", run_id, job.key, job.state, code, len(changed)
    )


# --- fan-in ------------------------------------------------------------------------------------------------


def final_status(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    completed = counts.get(FileStatus.COMPLETED, 0)
    if total and completed == total:
        return RunStatus.COMPLETED
    return RunStatus.COMPLETED_WITH_ERRORS if completed else RunStatus.FAILED


def finalise_run(stage: Stage) -> None:
    """The engine calls this once per round, when the round's last job ends (in its transaction): the
    run's final status, then the round's credits settled in one go (captured or released per file by
    `billing`), so the account row is touched once per round, never per file end."""
    run = WorkflowRun.objects.get(stage=stage)
    if stage.cancel_requested_at is not None:
        finalise_cancelled_run(run=run, stage=stage)
        return
    counts = file_status_counts(run=run)
    status = final_status(counts)
    updated = WorkflowRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        status=status,
        finished_at=timezone.now(),
        total_jobs=stage.total,
        completed_jobs=stage.succeeded,
        failed_jobs=stage.failed + stage.errored,
        updated_at=timezone.now(),
    )
    if not updated:
        logger.warning("workflow.finalise_skipped run=%s status=%s round=%s", run.pk, run.status, stage.round)
        return
    settled = credits_settle_run_files(run=run, final=not continue_possible(run=run), round=stage.round)
    events.emit(
        stream=run.stream,
        feeds=run.feeds,
        type="run_finished",
        payload={
            "status": status,
            "round": stage.round,
            "files": counts,
            "creditsCaptured": settled.captured.total,
            "creditsReleased": settled.released.total,
        },
    )
    metrics.incr("relay_workflow_runs_finished_total", status=status)
    logger.info(
        "workflow.run_finished tenant=%s run=%s round=%s status=%s files=%s",
        run.tenant_id,
        run.pk,
        stage.round,
        status,
        counts,
    )


def finalise_cancelled_run(*, run: WorkflowRun, stage: Stage) -> None:
    """The last job of a cancelled run's round ended: files that never ran (their jobs were cancelled
    while queued) are cancelled too, every cancelled file of this round is refunded, and the run ends
    `CANCELLED`."""
    never_ran = list(
        RunFile.objects.filter(run=run, status__in=[FileStatus.PENDING, FileStatus.RUNNING]).values_list("pk", "index")
    )
    RunFile.objects.filter(pk__in=[pk for pk, _ in never_ran]).update(
        status=FileStatus.CANCELLED,
        error_code="cancelled",
        error_message="the run was cancelled",
        updated_at=timezone.now(),
    )
    _emit_files(
        run_id=str(run.pk),
        files=[(index, FileStatus.CANCELLED, "cancelled", "the run was cancelled") for _, index in never_ran],
    )
    # Cancelled is final: completed files are captured, everything else is released (`billing`).
    settled = credits_settle_run_files(run=run, final=True, round=stage.round, note="run cancelled")
    counts = file_status_counts(run=run)
    WorkflowRun.objects.filter(pk=run.pk).update(
        status=RunStatus.CANCELLED,
        finished_at=timezone.now(),
        total_jobs=stage.total,
        completed_jobs=stage.succeeded,
        failed_jobs=stage.failed + stage.errored + stage.cancelled,
        updated_at=timezone.now(),
    )
    events.emit(
        stream=run.stream,
        feeds=run.feeds,
        type="run_cancelled",
        payload={
            "status": RunStatus.CANCELLED,
            "round": stage.round,
            "files": counts,
            "creditsCaptured": settled.captured.total,
            "creditsReleased": settled.released.total,
        },
    )
    metrics.incr("relay_workflow_runs_finished_total", status=RunStatus.CANCELLED)
    logger.info(
        "workflow.run_cancelled tenant=%s run=%s round=%s files=%s released=%s",
        run.tenant_id,
        run.pk,
        stage.round,
        counts,
        settled.released.total,
    )


def register() -> None:
    register_stage_kind(StageKind(name=STAGE_KIND, finalise=finalise_run))  # lost jobs: the engine's requeue
    register_job_kind(
        JobKind(name=FILE_JOB, run=run_file_job, on_end=record_file_outcome, on_end_many=record_file_outcomes)
    )
    register_job_kind(JobKind(name=BATCH_JOB, run=run_batch_job, on_end=record_batch_outcome))
