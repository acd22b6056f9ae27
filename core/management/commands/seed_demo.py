"""Create the demo tenant and users (idempotent) and print how to sign in."""

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from tenants.models import Role, Tenant, User
from tenants.services import user_create


class Command(BaseCommand):
    help = "Create a demo tenant, a platform admin and a tenant admin; print their credentials."

    def handle(self, *args: Any, **options: Any) -> None:
        password = self._password()
        with transaction.atomic():
            tenant, _ = Tenant.objects.get_or_create(slug="demo", defaults={"name": "Demo tenant"})
            accounts = [("admin", None, Role.PLATFORM_ADMIN), ("demo", tenant, Role.TENANT_ADMIN)]
            for username, user_tenant, role in accounts:
                user = User.objects.filter(username=username).first()
                if user is None:
                    user_create(username=username, password=password, tenant=user_tenant, role=role)
                else:
                    user.set_password(password)
                    user.save(update_fields=["password"])
        self.stdout.write(
            f"Demo tenant '{tenant.name}' ({tenant.id}).\n"
            f"  platform admin (Django admin too): admin / {password}\n"
            f"  tenant admin of the demo tenant:   demo / {password}\n"
            f'  API token: POST /api/auth/login {{"username": "demo", "password": "{password}"}}'
        )

    def _password(self) -> str:
        if os.environ.get("RELAY_DEMO_PASSWORD"):
            return os.environ["RELAY_DEMO_PASSWORD"]
        path = Path(settings.BASE_DIR) / ".data" / "demo-password"
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            path.write_text(secrets.token_urlsafe(10))
            path.chmod(0o600)
        return path.read_text().strip()
