"""Processors: what a template does to one file. Each lives in its own module and registers by name.

A processor is plain Python (no Django), so it can be tested alone: `process(name, content, config)`
returns a JSON-able output or raises `orchestration.errors.JobError` (retryable for transient trouble,
fatal for an invalid file or a permanent refusal). `validate_config(config)` checks a template's
config when the template is saved, and returns it normalised.
"""

from .registry import Processor, available, get_processor, register

__all__ = ["Processor", "available", "get_processor", "register"]
