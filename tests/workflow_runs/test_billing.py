"""The billing table (`workflow_runs.billing`): whose outcome a file's round is, and so who pays."""

import pytest

from workflow_runs.billing import CUSTOMER_CODES, PLATFORM_CODES, Settlement, settlement_for
from workflow_runs.models import FileStatus

F, E, P, R, C = FileStatus.FAILED, FileStatus.ERROR, FileStatus.PENDING, FileStatus.RUNNING, FileStatus.COMPLETED


@pytest.mark.parametrize(
    ("status", "code", "final", "expected"),
    [
        (C, "", False, Settlement.CAPTURE),
        (F, "timeout", False, Settlement.CAPTURE),
        (F, "rate_limited", False, Settlement.CAPTURE),
        (F, "upstream_error", False, Settlement.CAPTURE),
        (E, "rejected", False, Settlement.CAPTURE),
        (E, "invalid_file", False, Settlement.CAPTURE),
        (E, "unknown_processor", False, Settlement.RELEASE),
        (E, "file_missing", False, Settlement.RELEASE),
        (F, "storage_error", False, Settlement.RELEASE),
        (F, "unhandled_exception", False, Settlement.RELEASE),
        (F, "time_limit", False, Settlement.RELEASE),
        (F, "worker_lost", False, Settlement.RELEASE),
        (F, "recovery_failed", False, Settlement.RELEASE),
        (E, "cancelled", False, Settlement.RELEASE),
        (E, "never_run", False, Settlement.RELEASE),
        (F, "a_code_nobody_placed", False, Settlement.RELEASE),  # unknown: in the customer's favour
        (P, "worker_lost", False, Settlement.HOLD),  # Continue retries it free with this reservation
        (P, "", False, Settlement.HOLD),
        (P, "", True, Settlement.RELEASE),  # cancelled or past the retry limit: never ran
        (R, "", False, Settlement.RELEASE),
        (C, "", True, Settlement.CAPTURE),
        # Found by the chaos battery: a file running when its run was cancelled ends `cancelled` with the
        # code of the attempt the cancel cut short; it was captured as the customer's `timeout`.
        (FileStatus.CANCELLED, "timeout", True, Settlement.RELEASE),
        (FileStatus.CANCELLED, "rejected", True, Settlement.RELEASE),
        (FileStatus.CANCELLED, "cancelled", True, Settlement.RELEASE),
    ],
)
def test_who_pays_for_a_files_round(status, code, final, expected):
    assert settlement_for(status=status, error_code=code, final=final) is expected


def test_no_code_is_both_the_customers_and_the_platforms():
    assert not CUSTOMER_CODES & PLATFORM_CODES


def test_every_error_code_a_processor_raises_is_placed_in_the_table():
    import ast
    from pathlib import Path

    import workflow_runs.jobs
    import workflow_runs.processors

    sources = [*Path(workflow_runs.processors.__file__).parent.glob("*.py"), Path(workflow_runs.jobs.__file__)]
    codes = {
        keyword.value.value
        for source in sources
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "code" and isinstance(keyword.value, ast.Constant)
    }
    assert codes and codes <= CUSTOMER_CODES | PLATFORM_CODES, codes - (CUSTOMER_CODES | PLATFORM_CODES)
