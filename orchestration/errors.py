"""The one error every job handler raises."""

from enum import StrEnum

WORKER_LOST = "worker_lost"  # the error code of a job whose worker stopped renewing its lease


class ErrorKind(StrEnum):
    RETRYABLE = "retryable"  # retried automatically with backoff up to the stage's limit, then `failed`
    FATAL = "fatal"  # ends the job as `error`; never retried automatically


class JobError(Exception):
    def __init__(self, message: str, *, code: str = "job_error", kind: ErrorKind = ErrorKind.RETRYABLE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.kind = kind

    @property
    def retryable(self) -> bool:
        return self.kind is ErrorKind.RETRYABLE

    @classmethod
    def fatal(cls, message: str, *, code: str = "fatal") -> "JobError":
        return cls(message, code=code, kind=ErrorKind.FATAL)

    @classmethod
    def retryable_error(cls, message: str, *, code: str = "retryable") -> "JobError":
        return cls(message, code=code, kind=ErrorKind.RETRYABLE)
