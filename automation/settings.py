"""Settings, read from the environment.

With nothing set, the product runs embedded: SQLite beside the code, an in-process Celery
broker, Channels' in-memory layer and the console email backend. Setting DATABASE_URL,
CELERY_BROKER_URL and REDIS_URL moves it to the distributed mode.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=False)
# An embedded install without SECRET_KEY gets a key kept in a file next to its database,
# so sessions survive restarts without a secret ever being written into the code.
SECRET_KEY = os.environ.get("SECRET_KEY")
if not SECRET_KEY:
    key_file = BASE_DIR / "var" / "secret_key"
    if key_file.exists():
        SECRET_KEY = key_file.read_text().strip()
    else:
        key_file.parent.mkdir(exist_ok=True)
        SECRET_KEY = get_random_secret_key()
        key_file.write_text(SECRET_KEY)
        key_file.chmod(0o600)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Not "daphne": as an app it loads twisted into every process (15 MiB each, gunicorn and
# Celery included) only to replace `runserver`; `manage.py serve` is the server here.
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "crm",
    "workflows",
    "triggers",
    "actions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "automation.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

WSGI_APPLICATION = "automation.wsgi.application"
ASGI_APPLICATION = "automation.asgi.application"

# --- Database -------------------------------------------------------------------------
SQLITE_PATH = os.environ.get("SQLITE_PATH", str(BASE_DIR / "var" / "db.sqlite3"))
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{SQLITE_PATH}", conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0"))
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A worker thread and parallel branches write beside the web server: without WAL,
    # IMMEDIATE transactions and a busy timeout, writers fail with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests use a file (not :memory:) so that subprocesses can share the test database.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("SQLITE_TEST_PATH", str(BASE_DIR / "var" / "test.sqlite3"))
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
    "DATABASE_POOL", True
):
    # A pool per process: a request or a task borrows an open connection. Opening one per
    # request measured an eighth of a webhook's CPU in the web process. (A pool replaces
    # CONN_MAX_AGE, which must then be 0.)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": int(os.environ.get("DATABASE_POOL_SIZE", "10")),
        "timeout": 10,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
    "DATABASE_PREPARED_STATEMENTS", True
):
    # Parameters bound on the server, and a statement run five times on a connection
    # prepared there: the engine repeats the same few statements (step records, the
    # checkpoint's UPDATE, record reads), and Django's default (psycopg quoting every value
    # into the SQL text, PostgreSQL parsing and planning it anew) measured 30% of a step.
    # Off (DATABASE_PREPARED_STATEMENTS=0) behind a pooler that cannot keep prepared
    # statements, such as PgBouncer before 1.21 in transaction mode.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=5
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"

# --- API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so that an anonymous request is answered 401 with WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.DjangoModelPermissions"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Workflow automation API",
    "DESCRIPTION": "Workflows, executions, templates, connections and the catalog.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets from the installed sidecar package, not a CDN (works offline).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "WorkflowStatusEnum": "workflows.models.Workflow.Status",
        "ExecutionStatusEnum": "workflows.models.Execution.Status",
    },
}

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "memory://localhost/")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Beat wakes at least every second: due delays and schedules start within a second.
CELERY_BEAT_MAX_LOOP_INTERVAL = 1
# The in-process broker polls its queues; 5 ms keeps a wake-up's latency near 3 ms.
CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.005}
CELERY_BEAT_SCHEDULE = {
    # Delays and retry backoffs that are due.
    "resume-due-executions": {"task": "workflows.resume_due", "schedule": 1.0},
    # Runs whose worker died (lease expired) or whose wake-up message was lost.
    "recover-executions": {
        "task": "workflows.recover",
        "schedule": float(os.environ.get("WORKFLOW_RECOVER_INTERVAL", "10")),
    },
    # Events a crash (or another process, in embedded mode) left undispatched, and
    # time-based events (due dates, renewals).
    "dispatch-pending-events": {
        "task": "triggers.dispatch_pending_events",
        "schedule": float(os.environ.get("WORKFLOW_OUTBOX_SWEEP_INTERVAL", "5")),
    },
    "sweep-time-events": {"task": "triggers.sweep_time_events", "schedule": 300.0},
    # Safety net for schedule firings a stopped beat missed.
    "fire-due-schedules": {"task": "triggers.fire_due_schedules", "schedule": 5.0},
}

# --- Channels -------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Email ----------------------------------------------------------------------------
# Any django-anymail backend (e.g. anymail.backends.postmark.EmailBackend) with its
# settings in ANYMAIL_* variables; the console backend prints messages by default.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "automation@localhost")
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in os.environ.items()
    if key.startswith("ANYMAIL_")
}

# --- Secrets of stored connections -----------------------------------------------------
# Comma-separated Fernet keys, newest first; older keys still decrypt during a rotation.
CONNECTION_ENCRYPTION_KEYS = env_list("CONNECTION_ENCRYPTION_KEYS")

# --- Workflow engine --------------------------------------------------------------------
# Per-run limits; a definition's "settings" may lower or raise them per workflow.
WORKFLOW_LIMITS = {
    "max_steps": int(os.environ.get("WORKFLOW_MAX_STEPS", "1000000")),
    "max_loop_items": int(os.environ.get("WORKFLOW_MAX_LOOP_ITEMS", "100000")),
    "timeout_seconds": int(os.environ.get("WORKFLOW_TIMEOUT_SECONDS", "86400")),
}
# Waits up to this long (a retry backoff, a short delay) happen inside the worker; longer
# ones park the execution as "waiting" for the resume task.
WORKFLOW_INLINE_WAIT_SECONDS = float(os.environ.get("WORKFLOW_INLINE_WAIT_SECONDS", "1"))
# Loop protection: a chain of workflows triggering workflows deeper than this is stopped.
WORKFLOW_MAX_CHAIN_DEPTH = int(os.environ.get("WORKFLOW_MAX_CHAIN_DEPTH", "8"))
# ... and a workflow firing more than this many times on one record within the window is
# paused with the reason shown.
WORKFLOW_RECORD_FIRE_LIMIT = int(os.environ.get("WORKFLOW_RECORD_FIRE_LIMIT", "20"))
WORKFLOW_RECORD_FIRE_WINDOW_SECONDS = int(os.environ.get("WORKFLOW_RECORD_FIRE_WINDOW", "60"))
# contract.expiring fires this many days before a contract's end date.
CONTRACT_EXPIRING_DAYS = int(os.environ.get("CONTRACT_EXPIRING_DAYS", "30"))
# Pure steps (conditions, calculations, record reads) are written in batches: a checkpoint
# comes before any side effect, wait or end, and at least this often while they run.
WORKFLOW_CHECKPOINT_SECONDS = float(os.environ.get("WORKFLOW_CHECKPOINT_SECONDS", "0.5"))
WORKFLOW_CHECKPOINT_STEPS = int(os.environ.get("WORKFLOW_CHECKPOINT_STEPS", "500"))
# A worker's claim on a running execution; renewed as it goes, swept when it expires.
WORKFLOW_LEASE_SECONDS = float(os.environ.get("WORKFLOW_LEASE_SECONDS", "30"))
# A pending run whose wake-up message was lost is woken again after this long.
WORKFLOW_PENDING_GRACE_SECONDS = float(os.environ.get("WORKFLOW_PENDING_GRACE", "10"))

# --- Outbound HTTP (actions.http_client: every user-given URL goes through it) -----------
# Hosts, *.suffixes, IPs or CIDRs an operator trusts although they are not public addresses.
OUTBOUND_ALLOWLIST = env_list("OUTBOUND_ALLOWLIST")
OUTBOUND_MAX_RESPONSE_BYTES = int(os.environ.get("OUTBOUND_MAX_RESPONSE_BYTES", str(5 << 20)))

# --- Providers ----------------------------------------------------------------------------
# Base URLs of the providers' APIs: tests point them at a local server.
TWILIO_API_BASE = os.environ.get("TWILIO_API_BASE", "https://api.twilio.com")
SLACK_API_BASE = os.environ.get("SLACK_API_BASE", "https://slack.com/api/")
ZAPIER_HOOKS_BASE_URL = os.environ.get("ZAPIER_HOOKS_BASE_URL", "https://hooks.zapier.com/hooks/")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "https://api.stripe.com")
# Sandbox companies: https://sandbox-quickbooks.api.intuit.com
QUICKBOOKS_API_BASE = os.environ.get("QUICKBOOKS_API_BASE", "https://quickbooks.api.intuit.com")
QUICKBOOKS_TOKEN_URL = os.environ.get(
    "QUICKBOOKS_TOKEN_URL", "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
)

# --- Webhooks ---------------------------------------------------------------------------
WEBHOOK_MAX_BODY_BYTES = int(os.environ.get("WEBHOOK_MAX_BODY_BYTES", str(1024 * 1024)))
# `respond: on_completion` waits at most this long, whatever the definition asks.
WEBHOOK_MAX_WAIT_SECONDS = float(os.environ.get("WEBHOOK_MAX_WAIT_SECONDS", "30"))
# After a rotation the previous signing secret stays valid this long.
WEBHOOK_SECRET_GRACE_SECONDS = int(os.environ.get("WEBHOOK_SECRET_GRACE_SECONDS", "86400"))
# The address people and other systems reach this product at (webhook URLs shown to users).
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
