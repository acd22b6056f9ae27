"""JSON validation: the file must be JSON, optionally an object holding the required keys.

The document is parsed as a stream of events (ijson over yajl, `basic_parse`: no prefixes to build),
never loaded: the worker keeps the top-level keys it reports (the 100 first in sorted order), the
required keys it found and counts. An object's `items` counts its members as written (a repeated name
counts each time). Nesting deeper than `MAX_DEPTH` is refused as an invalid file.
"""

import bisect
from typing import Any

import ijson

from orchestration.errors import JobError

from .registry import ConfigError, Processor, register
from .streams import FileInput

MAX_DEPTH = 512
PARSE_BUFFER_BYTES = 16 * 1024
REPORTED_KEYS = 100
_BOM = b"\xef\xbb\xbf"
_TYPES = {
    "start_map": "dict",
    "start_array": "list",
    "string": "str",
    "boolean": "bool",
    "null": "NoneType",
}
_SCALARS = frozenset({"string", "number", "boolean", "null"})


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    unknown = set(config) - {"required_keys"}
    if unknown:
        raise ConfigError({key: ["Unknown option."] for key in sorted(unknown)})
    keys = config.get("required_keys", [])
    if not isinstance(keys, list) or not all(isinstance(key, str) and key for key in keys):
        raise ConfigError({"required_keys": ["A list of non-empty strings."]})
    return {"required_keys": keys}


class _WithoutBom:
    """The file's bytes with a leading UTF-8 BOM dropped (yajl refuses it; the other processors skip it)."""

    def __init__(self, source: FileInput) -> None:
        self.source = source
        self.started = False

    def read(self, size: int) -> bytes:
        data = self.source.read(size)
        if not self.started and size:
            self.started = True
            while len(data) < len(_BOM) and (more := self.source.read(len(_BOM) - len(data))):
                data += more
            if data.startswith(_BOM):
                data = data[len(_BOM) :] or self.source.read(size)  # an empty read would mean the end
        return data


class _Smallest:
    """The `REPORTED_KEYS` smallest distinct keys seen, in order."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def add(self, key: str) -> None:
        if len(self.keys) == REPORTED_KEYS and key >= self.keys[-1]:
            return
        at = bisect.bisect_left(self.keys, key)
        if at < len(self.keys) and self.keys[at] == key:
            return
        self.keys.insert(at, key)
        del self.keys[REPORTED_KEYS:]


def process(name: str, source: FileInput, config: dict[str, Any]) -> dict[str, Any]:
    required = set(config.get("required_keys", []))
    found: set[str] = set()
    keys = _Smallest()
    kind = ""
    depth = items = 0
    try:
        # The C backend turns one buffer into a list of events at once: 16 KB of small tokens is ~5,000.
        events = ijson.basic_parse(_WithoutBom(source), buf_size=min(source.chunk_bytes, PARSE_BUFFER_BYTES))
        for event, value in events:
            if not kind:
                kind = _TYPES.get(event) or type(value).__name__.replace("Decimal", "float")
            if event in ("start_map", "start_array"):
                if depth == 1 and kind == "list":
                    items += 1
                depth += 1
                if depth > MAX_DEPTH:
                    raise JobError.fatal(f"the JSON document is nested deeper than {MAX_DEPTH}", code="invalid_file")
            elif event in ("end_map", "end_array"):
                depth -= 1
            elif depth == 1 and event == "map_key":
                items += 1
                keys.add(value)
                if value in required:
                    found.add(value)
            elif depth == 1 and event in _SCALARS and kind == "list":
                items += 1
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        if source.bytes_read == 0:
            raise JobError.fatal("the file is empty", code="invalid_file") from exc
        raise JobError.fatal(f"invalid JSON ({_reason(exc)})", code="invalid_file") from exc
    if required:
        if kind != "dict":
            raise JobError.fatal("the JSON document is not an object", code="invalid_file")
        missing = [key for key in config["required_keys"] if key not in found]
        if missing:
            raise JobError.fatal(f"missing keys: {', '.join(missing)}", code="invalid_file")
    return {
        "valid": True,
        "type": kind,
        "keys": keys.keys if kind == "dict" else None,
        "items": items if kind in ("dict", "list") else None,
    }


def _reason(exc: Exception) -> str:
    """yajl's own first line (`parse error: trailing garbage`), without the excerpt of the file it adds."""
    text = str(exc).removeprefix("b'").removeprefix('b"')
    first = text.split("\\n")[0].split("\n")[0].strip()
    return first[:200] if first.startswith(("parse error", "lexical error")) else "not a JSON document"


register(
    Processor(
        name="json_validate",
        description="Checks a file is JSON (with required keys).",
        process=process,
        validate_config=validate_config,
    )
)
