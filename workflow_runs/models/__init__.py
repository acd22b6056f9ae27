"""Workflow runs: templates, runs and their files, and the credits ledger."""

from .credits import LEDGER_MOVES, CreditAccount, CreditLedgerEntry, CreditReason, CreditSource, ProcessorPrice
from .runs import FileStatus, RunFile, RunMode, RunStatus, WorkflowRun
from .templates import Template

__all__ = [
    "LEDGER_MOVES",
    "CreditAccount",
    "CreditLedgerEntry",
    "CreditReason",
    "CreditSource",
    "FileStatus",
    "ProcessorPrice",
    "RunFile",
    "RunMode",
    "RunStatus",
    "Template",
    "WorkflowRun",
]
