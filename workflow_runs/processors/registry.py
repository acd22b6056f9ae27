from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .streams import FileInput

ProcessFn = Callable[[str, FileInput, dict[str, Any]], dict[str, Any]]
ValidateFn = Callable[[dict[str, Any]], dict[str, Any]]


class ConfigError(ValueError):
    """A template's processor config is invalid; `fields` maps config keys to messages."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("invalid processor config")
        self.fields = fields


@dataclass(frozen=True)
class Processor:
    name: str
    description: str
    process: ProcessFn
    validate_config: ValidateFn


_processors: dict[str, Processor] = {}


def register(processor: Processor) -> Processor:
    _processors[processor.name] = processor
    return processor


def get_processor(name: str) -> Processor:
    _load_builtins()
    try:
        return _processors[name]
    except KeyError:
        raise LookupError(f"no processor {name!r}") from None


def available() -> list[str]:
    _load_builtins()
    return sorted(_processors)


def _load_builtins() -> None:
    from . import csv_validate, json_validate, text_stats, webhook  # noqa: F401  (they register on import)
