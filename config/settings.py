"""Relay settings. Everything that differs between machines comes from the environment."""

from datetime import timedelta
from pathlib import Path

import django_stubs_ext

from .env import database_from_url, env_bool, env_float, env_int, env_str

django_stubs_ext.monkeypatch()  # lets admin and queryset classes take type parameters at run time

BASE_DIR = Path(__file__).resolve().parent.parent

# The default is for development only: with DEBUG off, the system check (core/deploy_checks.py) refuses
# it, so manage.py commands and the web process do not start with it.
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me-in-production"  # noqa: S105 (refused with DEBUG off)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_str("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver").split(",")

# --- HTTPS (production sets these: README "Production settings"; `manage.py check --deploy` asks) --
# Off by default: development, the tests and the benchmarks speak plain HTTP on loopback.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
# Probes and scrapers on the private network reach the process itself over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^api/health$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", False)
CSRF_TRUSTED_ORIGINS = [origin for origin in env_str("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if origin]
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips a client's own): believe it.
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Operator endpoints (core/operator_access.py) ---------------------------------------------------
# `/metrics`: anyone may scrape only when RELAY_METRICS_PUBLIC (default: DEBUG). Otherwise a scraper
# sends `Authorization: Bearer <RELAY_METRICS_TOKEN>` or connects from RELAY_METRICS_ALLOW_CIDRS.
RELAY_METRICS_PUBLIC = env_bool("RELAY_METRICS_PUBLIC", DEBUG)
RELAY_METRICS_TOKEN = env_str("RELAY_METRICS_TOKEN", "")
RELAY_METRICS_ALLOW_CIDRS = env_str("RELAY_METRICS_ALLOW_CIDRS", "")
# `/api/schema/` and `/api/docs/`: `public`, `authenticated` (any signed-in user) or `off` (404).
RELAY_API_DOCS = env_str("RELAY_API_DOCS", "public" if DEBUG else "authenticated")

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
    "console",
]

MIDDLEWARE = [
    # First: every answer (an error envelope too) carries the request's id, and every log line of it.
    "core.request_context.request_id_middleware",
    "core.middleware.error_envelope_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.request_context.session_caller_middleware",
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
# A connection that died (PostgreSQL restarted, the backend was terminated) is noticed and replaced
# at the start of the next request instead of failing it.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The web process keeps its connections in a pool (psycopg_pool, Django 5.1+): every request, every
# SSE follower's read and every async view's query borrows one and gives it back, instead of opening a
# connection each time. Workers do not: a pool must not cross the prefork pool's fork, and a worker
# process holds its one connection for its life anyway. The Procfile sets it for `web`.
if env_bool("RELAY_DB_POOL", False):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {  # type: ignore[index]
        "min_size": 1,
        "max_size": env_int("RELAY_DB_POOL_MAX_SIZE", 20),
        "timeout": 10,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections (Django requires 0 with it)
# The console (console/): session sign-in for people; the API keeps its tokens.
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:dashboard"
LOGOUT_REDIRECT_URL = "console:login"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "tenants.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The test suite and benchmarks create thousands of users, and PBKDF2's 1,000,000 iterations cost 0.5 s
# a password on a CI core: a third of the suite's time went there. devstack's private services (tests,
# benchmarks) set this for their processes; production never does, so real passwords keep PBKDF2.
if env_bool("RELAY_INSECURE_FAST_PASSWORD_HASHING", False):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

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
# Every request body, uploads included, is refused (413) past this while it streams in, before Django
# writes it to disk (core/body_limit.py, the ASGI application's outer layer).
RELAY_MAX_REQUEST_BYTES = env_int("RELAY_MAX_REQUEST_BYTES", 200_000_000)
# The largest output one file's processing stores (its compact JSON): over it the file fails
# `output_too_large`; a webhook's answer is cut to fit instead (workflow_runs/processors/output.py).
RELAY_MAX_OUTPUT_BYTES = env_int("RELAY_MAX_OUTPUT_BYTES", 65_536)
# A JSON body (and the non-file part of a multipart body) over this answers 413 before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("RELAY_MAX_JSON_BODY_BYTES", 2_621_440)
RELAY_API_MAX_JSON_DEPTH = env_int("RELAY_API_MAX_JSON_DEPTH", 32)
RELAY_API_MAX_PAGE_SIZE = env_int("RELAY_API_MAX_PAGE_SIZE", 200)
# A tenant member may start, retry or resume a campaign phase of at most this many domains; larger
# phases (the costly ones) take a tenant admin (campaigns/services/roles.py).
RELAY_MEMBER_MAX_PHASE_DOMAINS = env_int("RELAY_MEMBER_MAX_PHASE_DOMAINS", 100_000)

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# Shared by every process: throttle counts (login) hold across web processes.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "relay"}
}

# --- Event streams (SSE) --------------------------------------------------------------------------
# Open streams per user and per tenant, counted in Redis across every web process (core/sse.py,
# orchestration/stream_slots.py). A stream's slot is a lease its web process renews every keep-alive
# tick; a web process that dies frees its slots when their leases run out.
# Requests inside Django at a time in one web process (core/asgi_handler.py); the rest wait their turn.
RELAY_WEB_MAX_CONCURRENT_REQUESTS = env_int("RELAY_WEB_MAX_CONCURRENT_REQUESTS", 8)
RELAY_SSE_MAX_PER_USER = env_int("RELAY_SSE_MAX_PER_USER", 20)
RELAY_SSE_MAX_PER_TENANT = env_int("RELAY_SSE_MAX_PER_TENANT", 200)
RELAY_SSE_KEEPALIVE_SECONDS = env_float("RELAY_SSE_KEEPALIVE_SECONDS", 15.0)
RELAY_SSE_SLOT_LEASE_SECONDS = env_float("RELAY_SSE_SLOT_LEASE_SECONDS", 60.0)
# A change feed (orchestration/feeds.py) sends at most one frame per this many seconds per follower.
RELAY_SSE_FEED_COALESCE_SECONDS = env_float("RELAY_SSE_FEED_COALESCE_SECONDS", 1.0)
# Redis connections a web process uses for stream slots, besides its one pub/sub connection.
RELAY_SSE_REDIS_CONNECTIONS = env_int("RELAY_SSE_REDIS_CONNECTIONS", 4)

# --- Egress (core/egress.py): what tenant-directed connections may reach -----------------------------
# Denied by default: loopback, private, link-local, CGNAT, multicast, reserved, metadata addresses, and
# ports other than these. ALLOW / DENY: comma-separated `CIDR` or `CIDR:port` entries (deny wins).
RELAY_EGRESS_ALLOW = env_str("RELAY_EGRESS_ALLOW", "")
RELAY_EGRESS_DENY = env_str("RELAY_EGRESS_DENY", "")
RELAY_EGRESS_PORTS = env_str("RELAY_EGRESS_PORTS", "80,443,8080,8443")
RELAY_EGRESS_DNS_PORTS = env_str("RELAY_EGRESS_DNS_PORTS", "53")

# Per-persona rate limits hold across every worker through Redis (core/shared_rate_limit.py). While Redis
# cannot be reached each process sends at most the persona's rate divided by this (set it to the number
# of worker processes that may send for one persona at once).
RELAY_RATE_LIMIT_FALLBACK_PROCESSES = env_int("RELAY_RATE_LIMIT_FALLBACK_PROCESSES", 4)

# --- REST API -------------------------------------------------------------------------------------
# Who may read the engine's JSON API (`/api/metrics`): DRF permission classes by dotted path, so
# that orchestration/ imports no domain app.
RELAY_ENGINE_API_PERMISSIONS = ["tenants.permissions.IsPlatformAdmin"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bounded in size and depth before it is parsed; multipart for uploads. No form-encoded bodies:
    # DRF's FormParser reads the whole body into memory whatever its size.
    "DEFAULT_RENDERER_CLASSES": ["core.renderers.JSONRenderer", "rest_framework.renderers.BrowsableAPIRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.BoundedJSONParser", "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_SCHEMA_CLASS": "core.schema.RelayAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "core.pagination.BoundedPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Throttles key on REMOTE_ADDR; X-Forwarded-For is believed only behind this many proxies.
    "NUM_PROXIES": env_int("RELAY_NUM_PROXIES", 0),
    "DEFAULT_THROTTLE_RATES": {
        "login_address": env_str("RELAY_LOGIN_RATE_PER_ADDRESS", "30/min"),
        "login_username": env_str("RELAY_LOGIN_RATE_PER_USERNAME", "10/min"),
    },
}
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env_int("RELAY_TOKEN_TTL_HOURS", 10)),
    "AUTO_REFRESH": True,
    "TOKEN_LIMIT_PER_USER": 20,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Relay API",
    "DESCRIPTION": (
        "Long, retryable pipelines for many tenants: campaigns, workflow runs and scans. Every error "
        'answers `{"error": {"code", "message", "fields"?}}`. No string of a body may contain NUL '
        "(U+0000) or an unpaired surrogate: such a body is a 400."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # 3.1: JSON Schema 2020-12, so a schema can say what it means (`propertyNames`, `null` as a type).
    "OAS_VERSION": "3.1.0",
    # The API's contract is token auth; sessions serve the admin and the browsable API only.
    "AUTHENTICATION_WHITELIST": ["tenants.auth.TokenAuthentication"],
    "ENUM_NAME_OVERRIDES": {
        "CampaignModeEnum": "campaigns.models.CampaignMode.choices",
        "RunModeEnum": "workflow_runs.models.RunMode.choices",
    },
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
# reconnecting costs more than a whole engine job. Reuse it (recycled every 2,000 tasks); a connection
# that died meanwhile is replaced before the next task (orchestration/signals.py).
CELERY_DB_REUSE_MAX = env_int("RELAY_DB_REUSE_MAX", 1000)
# Redis re-delivers an unacked message after the visibility timeout. Every task time limit stays below
# it (tests/orchestration/test_celery_config.py), otherwise a long task would be delivered again and
# again. No task uses a countdown: delays live in the database (`Job.available_at`).
CELERY_BROKER_VISIBILITY_TIMEOUT = env_int("RELAY_VISIBILITY_TIMEOUT_SECONDS", 3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
CELERY_TASK_TIME_LIMIT = env_int("RELAY_TASK_TIME_LIMIT_SECONDS", 1800)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_WORKER_SEND_TASK_EVENTS = True  # Flower shows tasks live (received, started, succeeded…)
# A "sent" event per message would double the cost of publishing a large stage; Flower does not need it.
CELERY_TASK_SEND_SENT_EVENT = False
# The control lane: its own queue and worker process (`control` in the Procfile), so the reconciler,
# the sweeper and restart recovery never wait behind data jobs. `expires` drops a tick that could not
# run in time instead of letting ticks pile up.
CELERY_TASK_ROUTES = {
    "orchestration.reconcile": {"queue": "control"},
    "orchestration.recover_expired_jobs": {"queue": "control"},
    "orchestration.flush_progress": {"queue": "control"},
    "campaigns.rehydrate": {"queue": "control"},
    "control.workflow_runs.reconcile_credits": {"queue": "control"},
    "control.workflow_runs.reset_monthly_credits": {"queue": "control"},
    "control.core.purge_idempotency_keys": {"queue": "control"},
    "orchestration.prune": {"queue": "control"},
}


def _tick(task: str, seconds: float) -> dict[str, object]:
    return {"task": task, "schedule": seconds, "options": {"queue": "control", "expires": seconds}}


CELERY_BEAT_SCHEDULE = {
    "engine-reconcile": _tick("orchestration.reconcile", env_float("RELAY_RECONCILE_INTERVAL_SECONDS", 1.0)),
    "engine-recover": _tick("orchestration.recover_expired_jobs", env_float("RELAY_RECOVER_INTERVAL_SECONDS", 5.0)),
    "engine-progress": _tick("orchestration.flush_progress", env_float("RELAY_PROGRESS_FLUSH_INTERVAL_SECONDS", 1.0)),
    "campaigns-rehydrate": _tick("campaigns.rehydrate", env_float("RELAY_CAMPAIGN_REHYDRATE_INTERVAL_SECONDS", 30.0)),
    # Control plane: balance == sum of the ledger for every account (logs and counts a mismatch).
    "credits-reconcile": _tick(
        "control.workflow_runs.reconcile_credits", env_float("RELAY_CREDITS_RECONCILE_INTERVAL_SECONDS", 300.0)
    ),
    "credits-monthly-reset": _tick(
        "control.workflow_runs.reset_monthly_credits",
        env_float("RELAY_CREDITS_MONTHLY_RESET_INTERVAL_SECONDS", 3600.0),
    ),
    "idempotency-purge": _tick(
        "control.core.purge_idempotency_keys", env_float("RELAY_IDEMPOTENCY_PURGE_INTERVAL_SECONDS", 3600.0)
    ),
    # Retention (orchestration/retention.py): finished history older than RETENTION_DAYS, in batches.
    "engine-prune": _tick("orchestration.prune", env_float("RELAY_RETENTION_INTERVAL_SECONDS", 3600.0)),
}

# Idempotency-Key responses are replayed for at least this long (core/idempotency.py).
IDEMPOTENCY_KEY_TTL_HOURS = env_float("RELAY_IDEMPOTENCY_KEY_TTL_HOURS", 24.0)

# --- Job engine -----------------------------------------------------------------------------------
RELAY_ENGINE = {
    # A running job's lease; the worker renews it every third of this while the job runs.
    "LEASE_SECONDS": env_float("RELAY_JOB_LEASE_SECONDS", 30.0),
    "BACKOFF_BASE_SECONDS": env_float("RELAY_BACKOFF_BASE_SECONDS", 1.0),
    "BACKOFF_MAX_SECONDS": env_float("RELAY_BACKOFF_MAX_SECONDS", 300.0),
    # Doorbells rung at most per queue (about the number of worker processes that should wake up).
    "BELLS_MAX": env_int("RELAY_BELLS_MAX", 16),
    # Most jobs one claim takes (a drain takes as many as it expects to finish in one flush window,
    # from the durations it measured), how long ends wait to be recorded together, and how long one
    # drain runs before it rings again and returns.
    "CLAIM_BATCH": env_int("RELAY_CLAIM_BATCH", 50),
    "END_FLUSH_SECONDS": env_float("RELAY_END_FLUSH_SECONDS", 0.05),
    "DRAIN_SLICE_SECONDS": env_float("RELAY_DRAIN_SLICE_SECONDS", 10.0),
    # The reconciler rings a queue with due jobs that no drain looked at for this long.
    "RECONCILE_IDLE_SECONDS": env_float("RELAY_RECONCILE_IDLE_SECONDS", 2.0),
    # Running jobs per fairness group (tenant) across all workers, unless a platform admin set another.
    "DEFAULT_MAX_RUNNING": env_int("RELAY_DEFAULT_MAX_RUNNING", 50),
    # Sweeps whose recovery of one job raised before that job is quarantined (`recovery_failed`).
    "RECOVERY_MAX_FAILURES": env_int("RELAY_RECOVERY_MAX_FAILURES", 3),
    # How long a worker keeps trying to record a job's end while the database is unreachable.
    "END_RETRY_SECONDS": env_float("RELAY_END_RETRY_SECONDS", 120.0),
    # Per-item progress of one stream is published at most once per this interval (orchestration/progress.py).
    "PROGRESS_INTERVAL_SECONDS": env_float("RELAY_PROGRESS_INTERVAL_SECONDS", 0.5),
    # Running jobs of a cancelled stage that have not stopped by then are abandoned (ended `cancelled`).
    "CANCEL_GRACE_SECONDS": env_float("RELAY_CANCEL_GRACE_SECONDS", 60.0),
    # Retention: finished jobs and stages, events, task results, uploaded files and stored pages older
    # than this are deleted by the control lane, at most RETENTION_BATCH rows per statement.
    "RETENTION_DAYS": env_float("RELAY_RETENTION_DAYS", 30.0),
    "RETENTION_BATCH": env_int("RELAY_RETENTION_BATCH", 1000),
}

# Structured logs (config/structured_logs.py): JSON lines in production, key=value while developing.
RELAY_LOG_FORMAT = env_str("RELAY_LOG_FORMAT", "kv" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"structured": {"()": "config.structured_logs.formatter", "log_format": RELAY_LOG_FORMAT}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": env_str("RELAY_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # A worker's start, "ready" and shutdown lines, whatever RELAY_LOG_LEVEL is: an operator sees a
        # worker come up, and devstack's launchers wait for its "ready." line (chaos runs at WARNING).
        "celery.apps.worker": {"level": "INFO"},
    },
}
