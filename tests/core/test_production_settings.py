"""`manage.py check --deploy --fail-level WARNING` passes with exactly the production environment the
README documents (its `<…>` placeholders filled with random values), in a process of its own; with one
of those settings made unsafe or left out, it fails and names the check."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent.parent
SECTION = "### Production settings"


def documented_environment() -> dict[str, str]:
    """The first ```sh block of the README's "Production settings" part, placeholders filled."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(SECTION) :]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "the README's production settings have no ```sh block"
    env: dict[str, str] = {}
    for line in block.group(1).splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = re.sub(r"<[^>]+>", lambda _: secrets.token_urlsafe(50), value)
    return env


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Nothing of this process's environment (the test stack's settings) leaks in: PATH only.
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_documented_production_environment_passes_the_deploy_check():
    env = documented_environment()
    assert env["DJANGO_DEBUG"] == "0" and len(env["DJANGO_SECRET_KEY"]) >= 50

    result = deploy_check(env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("change", "check_id"),
    [
        ({"DJANGO_SECRET_KEY": settings.DEV_SECRET_KEY}, "relay.E001"),
        ({"RELAY_INSECURE_FAST_PASSWORD_HASHING": "1"}, "relay.E005"),
        ({"RELAY_METRICS_PUBLIC": "1"}, "relay.W001"),
        ({"RELAY_API_DOCS": "public"}, "relay.W002"),
        ({"DJANGO_SECURE_HSTS_SECONDS": None}, "security.W004"),
        ({"DJANGO_SESSION_COOKIE_SECURE": None}, "security.W012"),
    ],
    ids=["development-key", "fast-hasher", "public-metrics", "public-docs", "no-hsts", "insecure-session-cookie"],
)
def test_an_unsafe_or_missing_production_setting_fails_the_deploy_check(change, check_id):
    env = documented_environment()
    for name, value in change.items():
        if value is None:
            del env[name]
        else:
            env[name] = value

    result = deploy_check(env)

    assert result.returncode != 0
    assert f"({check_id})" in result.stderr, result.stderr
