"""The four phases, in order. The real work of each lives in a plain module of this package that can
be tested without Django; `campaigns/jobs.py` connects them to the database and the engine."""

from django.db import models


class Phase(models.TextChoices):
    DOMAIN_GENERATION = "domain_generation"
    DNS_VALIDATION = "dns_validation"
    HTTP_KEYWORD_VALIDATION = "http_keyword_validation"
    ANALYSIS = "analysis"


PHASES: tuple[str, ...] = tuple(Phase.values)


def phase_index(phase: str) -> int:
    return PHASES.index(phase)


def next_phase(phase: str) -> str | None:
    index = phase_index(phase)
    return PHASES[index + 1] if index + 1 < len(PHASES) else None
