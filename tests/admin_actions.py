"""Driving admin actions as an operator would: the changelist's action form, then the messages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.test import Client

from tenants.models import User


def admin_browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def staff(user: User, *codenames: str) -> User:
    """Give a tenant user admin access with just these permissions (platform admins are superusers)."""
    User.objects.filter(pk=user.pk).update(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return User.objects.get(pk=user.pk)


def act(client: Client, changelist: str, action: str, objects: list[Any], **extra: Any) -> list[str]:
    """Run `action` on `objects` from the changelist; the messages shown after it."""
    response = client.post(
        changelist, {"action": action, "_selected_action": [str(obj.pk) for obj in objects], **extra}, follow=True
    )
    assert response.status_code == 200, response.content[:500]
    return [str(message) for message in response.context["messages"]]


def confirmation(client: Client, changelist: str, action: str, objects: list[Any]) -> str:
    response = client.post(changelist, {"action": action, "_selected_action": [str(obj.pk) for obj in objects]})
    assert response.status_code == 200
    return response.content.decode()
