"""Workflow runs: templates, runs and their files, and the credits ledger."""

from .credits import CreditAccount, CreditLedgerEntry, CreditReason, CreditSource
from .runs import FileStatus, RunFile, RunMode, RunStatus, WorkflowRun
from .templates import Template

__all__ = [
    "CreditAccount",
    "CreditLedgerEntry",
    "CreditReason",
    "CreditSource",
    "FileStatus",
    "RunFile",
    "RunMode",
    "RunStatus",
    "Template",
    "WorkflowRun",
]
