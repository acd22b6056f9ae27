"""CSV validation: a header row, the required columns, and rows as wide as the header.

Rows are read one at a time from the decoded stream; a physical line is at most `MAX_LINE_CHARS` and a
field at most `csv.field_size_limit()` (131,072 characters), so memory stays bounded by a row.
"""

import csv
from typing import Any

from orchestration.errors import JobError

from .registry import ConfigError, Processor, register
from .streams import FileInput, TextChunks, lines

MAX_LINE_CHARS = 1024 * 1024


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    unknown = set(config) - {"required_columns", "delimiter"}
    if unknown:
        raise ConfigError({key: ["Unknown option."] for key in sorted(unknown)})
    columns = config.get("required_columns", [])
    if not isinstance(columns, list) or not all(isinstance(column, str) and column for column in columns):
        raise ConfigError({"required_columns": ["A list of non-empty strings."]})
    delimiter = config.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ConfigError({"delimiter": ["A single character."]})
    return {"required_columns": columns, "delimiter": delimiter}


def process(name: str, source: FileInput, config: dict[str, Any]) -> dict[str, Any]:
    rows_in = lines(TextChunks(source), max_chars=MAX_LINE_CHARS)
    reader = csv.reader(rows_in, delimiter=config.get("delimiter", ","), strict=True)
    try:
        header = next(reader, None)
        if not header:
            raise JobError.fatal("the CSV file has no header row", code="invalid_file")
        missing = [column for column in config.get("required_columns", []) if column not in header]
        if missing:
            raise JobError.fatal(f"missing columns: {', '.join(missing)}", code="invalid_file")
        rows = 0
        for row in reader:
            rows += 1
            if len(row) != len(header):
                raise JobError.fatal(
                    f"row {rows + 1} has {len(row)} fields, the header has {len(header)}", code="invalid_file"
                )
    except csv.Error as exc:
        raise JobError.fatal(f"invalid CSV: {exc}", code="invalid_file") from exc
    return {"valid": True, "columns": header, "rows": rows}


register(
    Processor(
        name="csv_validate",
        description="Checks a CSV file's header, columns and row widths.",
        process=process,
        validate_config=validate_config,
    )
)
