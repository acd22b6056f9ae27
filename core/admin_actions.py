"""Admin actions that call the API's services: one object at a time, each outcome reported on the
admin page with the API's own error (message, HTTP status, code, field messages)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpRequest
from django.template.response import TemplateResponse
from rest_framework import exceptions

from .api import exception_handler
from .exceptions import ApplicationError


def error_text(exc: ApplicationError | exceptions.APIException) -> str:
    """The API's answer to `exc`, in one line: `message (status code) field: message; …`."""
    response = exception_handler(exc, {})
    assert response is not None
    body = dict(response.data)
    error = body.pop("error")
    text = f"{error['message']} ({response.status_code} {error['code']})"
    fields = error.get("fields") or {}
    if fields:
        text += " " + "; ".join(f"{name}: {_flat(value)}" for name, value in fields.items())
    details = {key: value for key, value in body.items() if isinstance(value, str | int | list)}
    if details:
        text += " " + "; ".join(f"{key}: {_flat(value)}" for key, value in details.items())
    return text


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_flat(inner)}" for key, inner in value.items())
    if isinstance(value, list):
        return " ".join(_flat(item) for item in value)
    return str(value)


def run_each(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    objects: Iterable[Any],
    action: Callable[[Any], object],
    *,
    done: str,
) -> int:
    """Call `action(obj)` for each object; report each success or the API's error. Returns the successes."""
    succeeded = 0
    for obj in objects:
        try:
            action(obj)
        except (ApplicationError, exceptions.APIException) as exc:
            modeladmin.message_user(request, f"{obj}: {error_text(exc)}", messages.ERROR)
            continue
        succeeded += 1
        modeladmin.message_user(request, f"{obj}: {done}", messages.SUCCESS)
    return succeeded


def require_platform_admin(user: Any) -> None:
    """The API's `IsPlatformAdmin`: the same 403 otherwise."""
    if not getattr(user, "is_platform_admin", False):
        raise exceptions.PermissionDenied()


def require_tenant_admin(user: Any) -> None:
    """The API's `IsTenantAdmin`: the same 403 otherwise."""
    if not getattr(user, "is_tenant_admin", False):
        raise exceptions.PermissionDenied()


def confirmation_page(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    *,
    title: str,
    lines: Sequence[str],
    selected: Sequence[Any],
    form: forms.Form | None = None,
    confirm: str = "Confirm",
) -> TemplateResponse:
    """The intermediate page of an action: what it will do (a cost, a form), then Confirm."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "lines": lines,
        "form": form,
        "confirm": confirm,
        "selected": [obj.pk for obj in selected],
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/relay_action_confirm.html", context)


def confirmed(request: HttpRequest) -> bool:
    """True when the request is the submit of `confirmation_page`."""
    return request.POST.get("relay_confirmed") == "yes"
