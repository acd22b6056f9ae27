"""The one application error of the API layer; `core.api.exception_handler` maps it to HTTP."""

from typing import Any


class ApplicationError(Exception):
    """A business rule said no. `status` is the HTTP status the API answers with.

    `fields` holds field-level messages (`{"field": ["message"]}`); `extra` is merged into the top of
    the response body for machine-readable details (for example `missingPhases`).
    """

    status = 400
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.fields = fields or {}
        self.extra = extra or {}


class Conflict(ApplicationError):
    status = 409
    code = "conflict"


class PaymentRequired(ApplicationError):
    status = 402
    code = "insufficient_credits"
