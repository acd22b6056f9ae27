"""Who pays for a file's round: the one table of the billing rules (the README's billing section shows it).

A file's price is reserved when its round opens (start: every file; Continue: the `failed` files it
retries; `pending` files retried by Continue keep the reservation they already hold). When the round
ends, each reserved file is settled by its outcome:

- CAPTURE: the outcome is the customer's: the file completed, or their service or their file made it
  fail (a timeout, 429 or 5xx of their webhook, a 4xx refusal, an invalid file).
- RELEASE: the outcome is the platform's: our processor is missing, we lost the file, storage failed,
  a worker died, our code crashed, the job hit our time limit, recovery failed, the run was cancelled or
  the file never ran.
- HOLD: the file is `pending` (never reached, or its worker was lost on the last try) and Continue may
  still retry it, free: the reservation waits for that retry. It is released when the run can no longer
  continue (a file reached the retry limit) or is cancelled (`credits_settle_run_files(final=True)`).

An error code in neither list is released (in the customer's favour) and logged: a new code must be
placed in the table deliberately.
"""

from __future__ import annotations

from enum import StrEnum

from .models import FileStatus


class Settlement(StrEnum):
    CAPTURE = "capture"
    RELEASE = "release"
    HOLD = "hold"


CUSTOMER_CODES = frozenset(
    {
        "timeout",  # their webhook timed out
        "connection_error",  # their webhook could not be reached
        "rate_limited",  # their webhook answered 429
        "upstream_error",  # their webhook answered 5xx
        "rejected",  # their webhook refused the file (4xx)
        "unexpected_redirect",  # their webhook answered a redirect
        "invalid_file",  # their file is empty, not UTF-8, not valid JSON/CSV, misses required keys
        "invalid_url",  # their webhook URL cannot be requested
        "egress_denied",  # their webhook's name resolves to an address the platform does not reach
    }
)

PLATFORM_CODES = frozenset(
    {
        "unknown_processor",  # the run's processor is not installed
        "file_missing",  # we lost the uploaded file
        "storage_error",  # our storage failed
        "worker_lost",  # our worker died
        "unhandled_exception",  # a bug of ours
        "time_limit",  # our time limit
        "recovery_failed",  # our recovery could not resume it
        "stopped",  # a batch taken away from its worker and out of tries
        "cancelled",  # the run was cancelled
        "never_run",  # the file was never processed
        "output_too_large",  # the output passed RELAY_MAX_OUTPUT_BYTES: we did not keep a result
        "invalid_output",  # a processor returned what is not JSON (a bug of ours)
    }
)

# The table, as the README shows it: (file status at the round's end, error code) -> settlement.
TABLE: list[tuple[str, str, Settlement]] = [
    (FileStatus.COMPLETED, "", Settlement.CAPTURE),
    ("failed / error", "one of CUSTOMER_CODES", Settlement.CAPTURE),
    ("failed / error", "one of PLATFORM_CODES, or unknown", Settlement.RELEASE),
    ("pending", "any (never reached, worker lost)", Settlement.HOLD),
    ("pending", "when the run is final (cancelled, a file at the retry limit)", Settlement.RELEASE),
    ("running", "any (its round ended without it: cancelled)", Settlement.RELEASE),
    ("cancelled", "any (even the customer's code of the attempt the cancel cut short)", Settlement.RELEASE),
]


def is_customer_code(code: str) -> bool:
    return code in CUSTOMER_CODES


def settlement_for(*, status: str, error_code: str, final: bool) -> Settlement:
    """How a reserved file's round settles. `final`: the run cannot run this file again."""
    if status == FileStatus.COMPLETED:
        return Settlement.CAPTURE
    if status == FileStatus.PENDING:
        return Settlement.RELEASE if final else Settlement.HOLD
    if status == FileStatus.RUNNING:  # left running when its round ended: it never finished (cancelled)
        return Settlement.RELEASE
    # Cancelled files are refunded whatever the code: a running file's job keeps the error of the
    # attempt the cancel cut short (a webhook `timeout`), which is no outcome the customer pays for.
    if status == FileStatus.CANCELLED:
        return Settlement.RELEASE
    return Settlement.CAPTURE if is_customer_code(error_code) else Settlement.RELEASE
