"""The one error every job handler raises."""

from enum import StrEnum

WORKER_LOST = "worker_lost"  # the error code of a job whose worker stopped renewing its lease
RECOVERY_FAILED = "recovery_failed"  # the sweeper could not hand the job back to its domain
CANCELLED = "cancelled"  # the job's stage was cancelled


class ErrorKind(StrEnum):
    RETRYABLE = "retryable"  # retried automatically with backoff up to the stage's limit, then `failed`
    FATAL = "fatal"  # ends the job as `error`; never retried automatically


class JobError(Exception):
    def __init__(
        self,
        message: str,
        *,
        code: str = "job_error",
        kind: ErrorKind = ErrorKind.RETRYABLE,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.kind = kind
        # An upstream's `Retry-After` (429/503), in seconds: the automatic retry waits at least this.
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind is ErrorKind.RETRYABLE

    @classmethod
    def fatal(cls, message: str, *, code: str = "fatal") -> "JobError":
        return cls(message, code=code, kind=ErrorKind.FATAL)

    @classmethod
    def retryable_error(cls, message: str, *, code: str = "retryable", retry_after: float | None = None) -> "JobError":
        return cls(message, code=code, kind=ErrorKind.RETRYABLE, retry_after=retry_after)


class JobStopped(JobError):
    """A handler saw `job_should_stop` and gave up early. The job ends `cancelled` when its stage was
    cancelled; when its lease was taken away its end is refused; otherwise it is retried as usual."""

    def __init__(self, message: str = "the job was told to stop") -> None:
        super().__init__(message, code=CANCELLED, kind=ErrorKind.RETRYABLE)


class JobActionRefused(Exception):
    """An operator's action on one job (`job_actions`) was refused; nothing changed. `code` names why."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
