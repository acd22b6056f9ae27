"""With DEBUG off, Relay refuses an unsafe configuration: Django's system check errors (so manage.py
commands stop) and the web process does not start. With DEBUG on, or a proper key, nothing is said."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from core.deploy_checks import refuse_unsafe_start

ROOT = Path(__file__).resolve().parent.parent.parent
GOOD_KEY = "k7Hq2-v9xWm4Rt8zLp3Nc6Yb1Fd5Gs0Jh2Ku7Ae9Qw4Er6Ty8Ui3Op1As5Df7Gh9"


def relay_errors() -> list[str]:
    return sorted(m.id or "" for m in checks.run_checks() if m.id and m.id.startswith("relay.") and m.is_serious())


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = GOOD_KEY
    settings.ALLOWED_HOSTS = ["relay.example.com"]
    settings.RELAY_EGRESS_ALLOW = ""
    return settings


def test_a_safe_production_configuration_passes(production):
    assert relay_errors() == []
    refuse_unsafe_start()


@pytest.mark.parametrize(
    "key",
    [django_settings.DEV_SECRET_KEY, "", "short-key", "a" * 60, "django-insecure-" + GOOD_KEY],
    ids=["development-default", "empty", "short", "one-character", "django-insecure"],
)
def test_an_unsafe_secret_key_is_an_error_with_debug_off(production, key):
    production.SECRET_KEY = key
    assert relay_errors() == ["relay.E001"]
    with pytest.raises(SystemCheckError, match=r"relay\.E001"):
        call_command("check")
    with pytest.raises(ImproperlyConfigured, match=r"relay\.E001"):
        refuse_unsafe_start()


def test_every_host_and_an_allow_everything_egress_list_are_errors_with_debug_off(production):
    production.ALLOWED_HOSTS = ["*"]
    production.RELAY_EGRESS_ALLOW = "0.0.0.0/0,10.0.0.0/8:443"
    assert relay_errors() == ["relay.E002", "relay.E004"]


def test_with_debug_on_the_development_defaults_are_fine(settings):
    settings.DEBUG = True
    settings.SECRET_KEY = django_settings.DEV_SECRET_KEY
    settings.ALLOWED_HOSTS = ["*"]
    assert relay_errors() == []


def _import_asgi(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG")}
    return subprocess.run(
        [sys.executable, "-c", "import config.asgi"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_web_process_refuses_to_start_with_the_default_key_and_debug_off():
    refused = _import_asgi(DJANGO_DEBUG="0")
    assert refused.returncode != 0
    assert "relay.E001" in refused.stderr
    assert _import_asgi(DJANGO_DEBUG="0", DJANGO_SECRET_KEY=GOOD_KEY).returncode == 0
    assert _import_asgi(DJANGO_DEBUG="1").returncode == 0  # development
