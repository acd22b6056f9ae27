"""Retention of uploaded files: a run that finished longer ago than the retention age loses its uploads.

The files are deleted from storage and `RunFile.file` is cleared; every other column stays (statuses,
outputs, errors, the credit ledger), so the run still reads as it ended. Continue then answers 409
`files_expired`: there is nothing left to process.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import connection, transaction

from orchestration.retention import register_pruner

from .models import RunFile, RunStatus, WorkflowRun

logger = logging.getLogger(__name__)

PRUNER = "workflow_runs.files"
FINISHED = (RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_ERRORS, RunStatus.FAILED, RunStatus.CANCELLED)


def run_files_prune(cutoff: datetime, limit: int) -> int:
    """Clear at most `limit` uploads of runs finished before `cutoff`, then delete them from storage.

    The run rows are share-locked (skipped when locked): a Continue, which locks its run first, either
    waits for this to commit and sees the files gone, or has reopened the run, which is then not
    finished. The references are cleared first and the files deleted after the commit (file I/O holds
    no row locks); a process killed in between leaves those files in storage unreferenced.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {RunFile._meta.db_table} f SET file = '', updated_at = now()
            FROM (
                SELECT rf.id, rf.file FROM {RunFile._meta.db_table} rf
                JOIN {WorkflowRun._meta.db_table} r ON r.id = rf.run_id
                WHERE r.status = ANY(%s) AND r.finished_at < %s AND rf.file <> ''
                LIMIT %s
                FOR SHARE OF r SKIP LOCKED
            ) old
            WHERE f.id = old.id
            RETURNING old.file
            """,
            [[str(status) for status in FINISHED], cutoff, limit],
        )
        names = [name for (name,) in cursor.fetchall()]
    storage = RunFile._meta.get_field("file").storage
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            logger.warning("workflow.file_prune_failed file=%s", name, exc_info=True)
    return len(names)


def register() -> None:
    register_pruner(PRUNER, run_files_prune)
