"""`Idempotency-Key` for POSTs that create or move something (Stripe's semantics, and the IETF draft
"The Idempotency-Key HTTP Header Field"):

- the same key with the same request (method, path, body, query) from the same scope (the caller's
  tenant; a tenantless platform admin is their own scope) replays the first response, with
  `Idempotent-Replayed: true`, for at least `IDEMPOTENCY_KEY_TTL_HOURS` (24 h);
- a request whose key is still in flight gets 409 `idempotency_key_in_flight`;
- the same key with another request gets 422 `idempotency_key_reused`;
- without the header nothing changes.

How: the key's row is inserted (autocommit) if missing, then the request runs in one transaction that
holds the row's lock (`FOR UPDATE NOWAIT`: a second request with the key fails to lock it at once, 409).
The handler's effects and the stored response commit together, so a crash can neither lose the
response of a committed request nor store one for a request that rolled back; a request that died
leaves the row unlocked and `in_flight`, and the next one with the key simply runs. Business answers
(an `ApplicationError`: 402, 409, 400 with a code) are stored and replayed like successes; invalid
input, 404 and unexpected errors are not stored (the key is freed), as Stripe does.

The lock is held for the whole request, uploads included: that holds one row of this table, nothing
else, and is what makes a concurrent duplicate impossible rather than unlikely.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from .exceptions import ApplicationError
from .models import IdempotencyKey, IdempotencyState

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
LOCK_NOT_AVAILABLE = "55P03"

PARAMETER = OpenApiParameter(
    HEADER,
    # Printable ASCII; no space at either end (HTTP drops it, so the key would not be the one sent).
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[!-~]([ -~]*[!-~])?$"},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "A unique key (up to 255 printable characters, e.g. a UUID) that makes this POST safe to retry: "
        "the same key with the same request from the same tenant replays the first response (for at "
        "least 24 h, with `Idempotent-Replayed: true`); while the first is in flight a retry gets 409; "
        "the same key with a different request gets 422."
    ),
)
RESPONSES = {
    409: OpenApiResponse(description="A request with this Idempotency-Key is in flight (or a domain conflict)."),
    422: OpenApiResponse(description="This Idempotency-Key was used with a different request."),
}

V = TypeVar("V", bound=APIView)
Handler = Callable[..., Response]


def ttl() -> timedelta:
    return timedelta(hours=float(getattr(settings, "IDEMPOTENCY_KEY_TTL_HOURS", 24)))


def scope_of(request: Request) -> str:
    user = request.user
    tenant_id = getattr(user, "tenant_id", None)
    return f"tenant:{tenant_id}" if tenant_id else f"user:{user.pk}"


def _value_digest(value: Any) -> Any:
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return ["file", value.name, value.size, digest.hexdigest()]
    return value


def fingerprint(request: Request) -> str:
    """A digest of what makes two requests "the same": method, path, query and body (uploads by
    name, size and content)."""
    data = request.data
    if hasattr(data, "lists"):  # a QueryDict (form or multipart): every value of every key
        body: Any = sorted((key, [_value_digest(v) for v in values]) for key, values in data.lists())
    else:
        body = data
    canonical = json.dumps(
        [request.method, request.path, sorted(request.query_params.lists()), body],
        sort_keys=True,
        cls=JSONEncoder,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _error(status: int, code: str, message: str) -> Response:
    return Response({"error": {"code": code, "message": message}}, status=status)


def _stored_body(response: Response) -> Any:
    return json.loads(json.dumps(response.data, cls=JSONEncoder))


def _replay(row: IdempotencyKey) -> Response:
    assert row.response_status is not None
    return Response(row.response_body, status=row.response_status, headers={REPLAYED_HEADER: "true"})


def idempotent(method: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate an APIView's `post` so it honours `Idempotency-Key` (see the module docstring)."""

    @functools.wraps(method)
    def wrapper(view: APIView, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return method(view, request, *args, **kwargs)
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
            raise ApplicationError(
                f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
                code="invalid_idempotency_key",
            )
        return run_idempotent(
            view=view,
            request=request,
            key=key,
            handler=lambda: method(view, request, *args, **kwargs),
        )

    return wrapper


def _claim_row(*, scope: str, key: str, digest: str, request: Request) -> None:
    """Make sure the key's row exists, committed, so concurrent requests contend on its lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO core_idempotencykey (scope, key, fingerprint, method, path, state, created_at, expires_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, now(), now() + make_interval(secs => %s)) "
            "ON CONFLICT (scope, key) DO NOTHING",
            [
                scope,
                key,
                digest,
                request.method,
                request.path[:500],
                IdempotencyState.IN_FLIGHT,
                ttl().total_seconds(),
            ],
        )


def _lock(*, scope: str, key: str) -> IdempotencyKey | None:
    """The key's row, locked for this transaction; None when another request holds it."""
    try:
        return IdempotencyKey.objects.select_for_update(nowait=True).get(scope=scope, key=key)
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            return None
        raise


def run_idempotent(*, view: APIView, request: Request, key: str, handler: Callable[[], Response]) -> Response:
    scope = scope_of(request)
    digest = fingerprint(request)
    _claim_row(scope=scope, key=key, digest=digest, request=request)
    failure: BaseException | None = None
    with transaction.atomic():
        row = _lock(scope=scope, key=key)
        if row is None:
            logger.info("idempotency.in_flight scope=%s key=%s", scope, key)
            return _error(409, "idempotency_key_in_flight", f"A request with this {HEADER} is still in flight.")
        now = timezone.now()
        if row.expires_at <= now or row.state == IdempotencyState.IN_FLIGHT:
            # Expired, or left by a request that died before it committed: this request takes the key.
            row.fingerprint, row.state = digest, IdempotencyState.IN_FLIGHT
            row.method, row.path = str(request.method), request.path[:500]
            row.response_status = row.response_body = None
            row.expires_at = now + ttl()
        elif row.fingerprint != digest:
            logger.info("idempotency.reused scope=%s key=%s", scope, key)
            return _error(422, "idempotency_key_reused", f"This {HEADER} was already used with a different request.")
        else:
            logger.info("idempotency.replay scope=%s key=%s status=%s", scope, key, row.response_status)
            return _replay(row)
        try:
            with transaction.atomic():  # the handler's effects: rolled back alone when it refuses
                response = handler()
        except ApplicationError as exc:
            response = view.handle_exception(exc)  # a business answer: stored and replayed
        except BaseException as exc:  # invalid input, 404, a bug: nothing stored, the key is freed
            IdempotencyKey.objects.filter(pk=row.pk).delete()
            failure = exc
        if failure is None:
            if response.status_code >= 500:
                IdempotencyKey.objects.filter(pk=row.pk).delete()
                return response
            row.state = IdempotencyState.DONE
            row.response_status = response.status_code
            row.response_body = _stored_body(response)
            row.save()
            return response
    assert failure is not None
    raise failure


def purge_expired() -> int:
    """Delete keys past their time to live (a control-plane task calls this)."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted
