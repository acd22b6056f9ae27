"""Relay settings. Everything that differs between machines comes from the environment."""

from datetime import timedelta
from pathlib import Path

import django_stubs_ext

from .env import database_from_url, env_bool, env_float, env_int, env_str

django_stubs_ext.monkeypatch()  # lets admin and queryset classes take type parameters at run time

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = env_str("DJANGO_SECRET_KEY", "dev-only-insecure-secret-key-change-me-in-production")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_str("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "django_celery_results",
    "core",
    "tenants",
    "orchestration",
    "campaigns",
    "workflow_runs",
    "scans",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(env_str("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/relay"))}
# Worker processes in the test suite point at the test database that pytest-django created.
if env_str("RELAY_DATABASE_NAME", ""):
    DATABASES["default"]["NAME"] = env_str("RELAY_DATABASE_NAME", "")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "tenants.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = True  # admin and Swagger assets are served by the ASGI app, no collectstatic step
MEDIA_ROOT = Path(env_str("RELAY_MEDIA_ROOT", str(BASE_DIR / ".data" / "media")))
MEDIA_URL = "media/"
DATA_UPLOAD_MAX_NUMBER_FILES = 10_000

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

# --- REST API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env_int("RELAY_TOKEN_TTL_HOURS", 10)),
    "AUTO_REFRESH": True,
    "TOKEN_LIMIT_PER_USER": 20,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Relay API",
    "DESCRIPTION": "Long, retryable pipelines for many tenants: campaigns, workflow runs and scans.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ---------------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "celery"
# At-least-once delivery: ack after the task ran, give the message back if the worker process dies,
# and take one message at a time so a dying worker holds no backlog hostage.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fixup closes the database connection around *every* task unless told to reuse it;
# reconnecting costs more than a whole engine job. Reuse it (recycled every 2,000 tasks).
CELERY_DB_REUSE_MAX = env_int("RELAY_DB_REUSE_MAX", 1000)
# Redis re-delivers an unacked message after the visibility timeout. Every task time limit and every
# countdown we publish stays below it (tests/orchestration/test_celery_config.py), otherwise a long
# task or a long retry delay would be delivered again and again. Longer delays live in the database.
CELERY_BROKER_VISIBILITY_TIMEOUT = env_int("RELAY_VISIBILITY_TIMEOUT_SECONDS", 3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
CELERY_TASK_TIME_LIMIT = env_int("RELAY_TASK_TIME_LIMIT_SECONDS", 1800)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_WORKER_SEND_TASK_EVENTS = True  # Flower shows tasks live (received, started, succeeded…)
# A "sent" event per message would double the cost of publishing a large stage; Flower does not need it.
CELERY_TASK_SEND_SENT_EVENT = False
CELERY_BEAT_SCHEDULE = {
    "engine-relay": {
        "task": "orchestration.relay_queued_jobs",
        "schedule": env_float("RELAY_RELAY_INTERVAL_SECONDS", 5.0),
    },
    "engine-recover": {
        "task": "orchestration.recover_expired_jobs",
        "schedule": env_float("RELAY_RECOVER_INTERVAL_SECONDS", 10.0),
    },
    "campaigns-rehydrate": {
        "task": "campaigns.rehydrate",
        "schedule": env_float("RELAY_CAMPAIGN_REHYDRATE_INTERVAL_SECONDS", 30.0),
    },
    # Control plane: balance == sum of the ledger for every account (logs and counts a mismatch).
    "credits-reconcile": {
        "task": "control.workflow_runs.reconcile_credits",
        "schedule": env_float("RELAY_CREDITS_RECONCILE_INTERVAL_SECONDS", 300.0),
        "options": {"expires": 120},
    },
    "credits-monthly-reset": {
        "task": "control.workflow_runs.reset_monthly_credits",
        "schedule": env_float("RELAY_CREDITS_MONTHLY_RESET_INTERVAL_SECONDS", 3600.0),
        "options": {"expires": 600},
    },
    "idempotency-purge": {
        "task": "control.core.purge_idempotency_keys",
        "schedule": env_float("RELAY_IDEMPOTENCY_PURGE_INTERVAL_SECONDS", 3600.0),
        "options": {"expires": 600},
    },
}

# Idempotency-Key responses are replayed for at least this long (core/idempotency.py).
IDEMPOTENCY_KEY_TTL_HOURS = env_float("RELAY_IDEMPOTENCY_KEY_TTL_HOURS", 24.0)

# --- Job engine -----------------------------------------------------------------------------------
RELAY_ENGINE = {
    # A running job's lease; the worker renews it every third of this while the job runs.
    "LEASE_SECONDS": env_float("RELAY_JOB_LEASE_SECONDS", 30.0),
    # A queued job older than this whose message is not in the broker is published again.
    "RELAY_STALE_SECONDS": env_float("RELAY_RELAY_STALE_SECONDS", 30.0),
    # Retry delays up to this are sent as a broker countdown; longer ones wait in the database.
    "MAX_COUNTDOWN_SECONDS": env_float("RELAY_MAX_COUNTDOWN_SECONDS", 30.0),
    "BACKOFF_BASE_SECONDS": env_float("RELAY_BACKOFF_BASE_SECONDS", 1.0),
    "BACKOFF_MAX_SECONDS": env_float("RELAY_BACKOFF_MAX_SECONDS", 300.0),
    # Up to this many jobs are published from the committing process; more go through a fan-out task.
    "INLINE_PUBLISH_MAX": env_int("RELAY_INLINE_PUBLISH_MAX", 200),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"kv": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "kv"}},
    "root": {"handlers": ["console"], "level": env_str("RELAY_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
