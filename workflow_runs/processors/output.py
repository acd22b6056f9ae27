"""The cap on what a file's processing stores (`RELAY_MAX_OUTPUT_BYTES`).

An output is measured as its compact JSON in UTF-8 (what the job row and the file row hold). Over the
cap the file fails with a fatal `output_too_large`: the same file would give the same output again, so
a retry cannot help, and a cut JSON value would be a different answer than the processor's. It is a
platform code (the reservation is released): the customer is not charged for a result we did not keep.
A processor whose output is free text it cannot bound (the webhook) cuts its text to fit instead.
"""

from __future__ import annotations

import json
from typing import Any

from core.text import first_unstorable_path
from orchestration.errors import JobError


def output_bytes(output: Any) -> int:
    return len(json.dumps(output, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode())


def checked_output(output: Any, *, max_bytes: int) -> Any:
    """`output` if it can be stored: JSON (finite numbers), no text PostgreSQL refuses, at most
    `max_bytes`; else a fatal JobError."""
    path = first_unstorable_path(output)
    if path is not None:
        where = "/".join(path)[:200] or "the output"
        raise JobError.fatal(
            f"the file's content cannot be stored (a NUL character or a lone surrogate at {where})",
            code="invalid_file",
        )
    try:
        size = output_bytes(output)
    except (TypeError, ValueError) as exc:
        raise JobError.fatal("the processor's output is not storable JSON", code="invalid_output") from exc
    if size > max_bytes:
        raise JobError.fatal(
            f"the processor's output is {size} bytes, more than the {max_bytes} a file may store",
            code="output_too_large",
        )
    return output
