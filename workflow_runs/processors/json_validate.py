"""JSON validation: the file must be JSON, optionally an object holding the required keys."""

import json
from typing import Any

from orchestration.errors import JobError

from .registry import ConfigError, Processor, decode_text, register


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    unknown = set(config) - {"required_keys"}
    if unknown:
        raise ConfigError({key: ["Unknown option."] for key in sorted(unknown)})
    keys = config.get("required_keys", [])
    if not isinstance(keys, list) or not all(isinstance(key, str) and key for key in keys):
        raise ConfigError({"required_keys": ["A list of non-empty strings."]})
    return {"required_keys": keys}


def process(name: str, content: bytes, config: dict[str, Any]) -> dict[str, Any]:
    try:
        document = json.loads(decode_text(content))
    except json.JSONDecodeError as exc:
        raise JobError.fatal(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", code="invalid_file"
        ) from exc
    required = config.get("required_keys", [])
    if required:
        if not isinstance(document, dict):
            raise JobError.fatal("the JSON document is not an object", code="invalid_file")
        missing = [key for key in required if key not in document]
        if missing:
            raise JobError.fatal(f"missing keys: {', '.join(missing)}", code="invalid_file")
    return {
        "valid": True,
        "type": type(document).__name__,
        "keys": sorted(document)[:100] if isinstance(document, dict) else None,
        "items": len(document) if isinstance(document, list | dict) else None,
    }


register(
    Processor(
        name="json_validate",
        description="Checks a file is JSON (with required keys).",
        process=process,
        validate_config=validate_config,
    )
)
