"""Settings for supply chain core, read top to bottom.

Everything that differs between a laptop and production comes from the environment, read in
this one file. With no environment at all the system runs on its embedded default: a SQLite file
in the project folder and Celery tasks executed eagerly in-process.

Variables (see README "Configuration"):
    DEBUG            "1"/"true" turns debug on; off unless set.
    SECRET_KEY       required when DEBUG is off.
    ALLOWED_HOSTS    comma-separated host names; "*" allowed in DEBUG by default.
    DATABASE_URL     e.g. postgres://user:pass@host:5432/scm; default sqlite:///<project>/db.sqlite3.
    REDIS_URL        e.g. redis://127.0.0.1:6379/0; when unset Celery runs tasks eagerly.
    LOG_FORMAT       "json" or "console"; json unless DEBUG.
    TMS_BASE_URL     external transport management system; unset means the built-in planner.
    NATS_URL         NATS server(s) for the event relay; unset means no relay (docs/EVENT_BUS.md).
    OTEL_EXPORTER_OTLP_ENDPOINT  where traces go (OTLP/HTTP); unset means no tracing at all.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from scm import periodic, queues

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


# --- Core -------------------------------------------------------------------------------------

DEBUG = env_flag("DEBUG")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "*" if DEBUG else "localhost,127.0.0.1")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "scm.events",
    "scm.api",
    "scm.webhooks",
    "scm.outbound",
    "scm.bus",
    "inventory",
    "orders",
    "shipments",
    "suppliers",
    "partners",
    "dashboard",
    # Login throttling and lockout (docs/SECURITY.md); last, as its docs ask.
    "axes",
]

MIDDLEWARE = [
    "scm.observability.middleware.RequestContextMiddleware",
    "scm.api.middleware.RejectNulMiddleware",
    "scm.api.middleware.ApiEdgeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "dashboard.static.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a login refused by the lockout into its answer (JSON under /api/, a page elsewhere).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "scm.urls"
WSGI_APPLICATION = "scm.wsgi.application"

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

# --- Database ---------------------------------------------------------------------------------

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
else:
    # SQLite serialises writers; waiting beats failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("timeout", 20)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A service aborted by a deadlock or a serialization failure runs again, at most this many times in
# all, after a random delay of up to base * 2^(attempt-1) seconds (capped); see scm/conflicts.py.
DB_CONFLICT_ATTEMPTS = env_int("DB_CONFLICT_ATTEMPTS", 4)
DB_CONFLICT_RETRY_BASE_SECONDS = float(os.environ.get("DB_CONFLICT_RETRY_BASE_SECONDS", "0.05"))
DB_CONFLICT_RETRY_CAP_SECONDS = float(os.environ.get("DB_CONFLICT_RETRY_CAP_SECONDS", "1"))

# --- Auth, i18n, static -----------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# The lockout backend first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
# Rows per page of the dashboard's lists.
DASHBOARD_PAGE_SIZE = env_int("DASHBOARD_PAGE_SIZE", 50)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# gunicorn serves the dashboard's CSS, JS and vendored libraries itself (WhiteNoise, see
# dashboard/static.py), straight from the source folders: no collectstatic step, no file server.
WHITENOISE_USE_FINDERS = True

# --- Cache ------------------------------------------------------------------------------------
# Shared across processes when Redis is configured (API throttle counters must be shared by every
# web worker); an in-process cache on the embedded default. While Redis is away the cache answers
# misses instead of errors (scm/cache.py), and a Redis that does not answer holds a request at most
# about a second per call.
CACHES = {
    "default": (
        {
            "BACKEND": "scm.cache.DegradingRedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
        if os.environ.get("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Celery -----------------------------------------------------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# When Redis restarts (docs/ARCHITECTURE.md "Queues"): workers and beat reconnect by themselves, for
# as long as it takes (no limit on attempts; Celery's default stops at 100, ~45 minutes). A step
# running when the connection drops finishes its work: cancelling it (Celery 6's default) would leave
# its lease to lapse before the sweeper could run it again, and a redelivered message finds the step
# done. Socket timeouts bound a publish to a Redis that hangs or vanished without closing the
# connection (a request queueing a step waits at most ~3 of them, scm/dispatch.py), and kombu's
# health checks find a consumer's half-open connection.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2, "health_check_interval": 25}
# After Redis fails a call, a process skips its optional Redis calls (throttle counters, queueing a
# step the sweeper will run anyway, kicks) for this long, so a hung Redis costs one request its
# timeouts rather than every request (scm/redis_pause.py).
REDIS_PAUSE_SECONDS = float(os.environ.get("REDIS_PAUSE_SECONDS", "5"))
# Queues by workload, every task routed by name (scm/queues.py; docs/ARCHITECTURE.md "Queues").
CELERY_TASK_QUEUES = queues.task_queues()
CELERY_TASK_ROUTES = queues.task_routes()
CELERY_TASK_DEFAULT_QUEUE = queues.DEFAULT
# A periodic run holds its lock this long past its last renewal (scm/periodic.py): how long a dead
# worker can keep the next run of its task from starting.
PERIODIC_LOCK_LEASE_SECONDS = float(os.environ.get("PERIODIC_LOCK_LEASE_SECONDS", "30"))
# Every entry gets `expires` below its interval at the end of this file (scm.periodic.beat_schedule).
CELERY_BEAT_SCHEDULE = {
    "detect-late-shipments": {
        "task": "shipments.tasks.detect_late_shipments",
        "schedule": float(os.environ.get("SHIPMENT_LATE_CHECK_SECONDS", "900")),
    },
    "poll-carrier-feeds": {
        "task": "shipments.tasks.poll_carrier_feeds",
        "schedule": float(os.environ.get("CARRIER_FEED_POLL_SECONDS", "300")),
    },
    "reprocess-tracking-updates": {
        "task": "shipments.tasks.reprocess_tracking_updates",
        "schedule": float(os.environ.get("TRACKING_REPROCESS_SECONDS", "300")),
    },
    "sweep-fulfillment-workflows": {
        "task": "orders.tasks.sweep_fulfillment_workflows",
        "schedule": float(os.environ.get("WORKFLOW_SWEEP_SECONDS", "10")),
    },
    "poll-suppliers": {
        "task": "suppliers.tasks.poll_suppliers",
        "schedule": float(os.environ.get("SUPPLIER_POLL_TICK_SECONDS", "30")),
    },
    "process-subscriptions": {
        "task": "scm.events.tasks.process_subscriptions",
        "schedule": float(os.environ.get("SUBSCRIPTION_POLL_SECONDS", "2")),
    },
    "deliver-webhooks": {
        "task": "scm.webhooks.tasks.deliver_due_webhooks",
        "schedule": float(os.environ.get("WEBHOOK_POLL_SECONDS", "5")),
    },
    "purge-idempotency-records": {
        "task": "scm.api.tasks.purge_idempotency_records",
        "schedule": float(os.environ.get("IDEMPOTENCY_PURGE_SECONDS", "3600")),
    },
}

# --- Event store ------------------------------------------------------------------------------

# Subscriptions process at most this many events per run before yielding the worker.
EVENT_SUBSCRIPTION_BATCH = env_int("EVENT_SUBSCRIPTION_BATCH", 500)
# After a commit that appended events, wake the subscription processor (eagerly in-process when
# Celery is eager). Off means only beat drives subscriptions.
EVENT_DISPATCH_ON_COMMIT = env_flag("EVENT_DISPATCH_ON_COMMIT", True)

# --- Orders: the fulfillment workflow ---------------------------------------------------------

ORDER_WORKFLOW_RETRY_BASE_SECONDS = float(os.environ.get("ORDER_WORKFLOW_RETRY_BASE_SECONDS", "2"))
ORDER_WORKFLOW_RETRY_CAP_SECONDS = float(os.environ.get("ORDER_WORKFLOW_RETRY_CAP_SECONDS", "300"))
ORDER_WORKFLOW_MAX_ATTEMPTS = env_int("ORDER_WORKFLOW_MAX_ATTEMPTS", 6)
# A step running longer than this is considered abandoned (its worker died) and is resumed.
ORDER_WORKFLOW_LEASE_SECONDS = env_int("ORDER_WORKFLOW_LEASE_SECONDS", 120)
# What compensation does with an order whose shipment cannot be planned: "fail" or "backorder".
ORDER_FAILURE_MODE = os.environ.get("ORDER_FAILURE_MODE", "fail")
# Start workflow steps right after the commit that makes them due; off leaves them to the sweeper.
ORDER_WORKFLOW_AUTORUN = env_flag("ORDER_WORKFLOW_AUTORUN", True)
# A step waiting for missing configuration (no carrier, TMS address or key refused) is re-checked by
# the sweeper this often, one order per reason; the change that supplies the configuration resumes
# the waiting orders at once (docs/ORDERS.md).
ORDER_WORKFLOW_WAIT_RECHECK_SECONDS = float(os.environ.get("ORDER_WORKFLOW_WAIT_RECHECK_SECONDS", "60"))

# --- REST API ---------------------------------------------------------------------------------


def _throttle_rate(name: str, default: str) -> str | None:
    """A DRF rate like "600/min"; "off" (or "none") disables the throttle."""
    value = os.environ.get(name, default).strip()
    return None if value.lower() in {"", "off", "none"} else value


# Bodies larger than this answer 413 on /api/ (checked from Content-Length before anything reads).
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024)
# Django's own limit on request.body must not be the smaller one, or it would answer first.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2621440, API_MAX_BODY_BYTES)
# JSON bodies nested deeper than this answer 400 before the decoder runs (it recurses per level).
API_MAX_JSON_DEPTH = env_int("API_MAX_JSON_DEPTH", 32)
# A request that lost a deadlock or serialization conflict answers 503 with this Retry-After.
API_RETRY_AFTER_SECONDS = env_int("API_RETRY_AFTER_SECONDS", 1)
# Serve /api/v1/schema/ and /api/v1/docs/ without a login.
API_DOCS_PUBLIC = env_flag("API_DOCS_PUBLIC")
# Stored Idempotency-Key responses are purged after this many hours (then a key may be reused).
IDEMPOTENCY_RETENTION_HOURS = env_int("IDEMPOTENCY_RETENTION_HOURS", 24)
# The raw bytes of inbound supplier messages are for ops and the sender's own token; this lets
# planners read them too (docs/SECURITY.md).
RAW_MESSAGES_READABLE_BY_PLANNERS = env_flag("RAW_MESSAGES_READABLE_BY_PLANNERS")


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["scm.api.permissions.RolePermission"],
    # JSON only (views that take raw bodies, like inbound messages, declare their own parser), with a
    # depth limit and refusal of text no database can store (scm/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["scm.api.parsers.JSONParser"],
    # JSON out; the browsable HTML API only in DEBUG (it would turn error bodies into HTML).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "scm.api.rendering.ContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "scm.api.schema.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "scm.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "scm.api.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_THROTTLE_CLASSES": ["scm.api.throttling.IntegrationRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "integration": _throttle_rate("API_THROTTLE_INTEGRATION", "600/min"),
        "auth_token": _throttle_rate("API_THROTTLE_AUTH_TOKEN", "60/min"),
    },
    # Reverse proxies in front of the app; 0 means X-Forwarded-For is ignored (it could be forged).
    "NUM_PROXIES": env_int("API_NUM_PROXIES", 0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Supply chain core API",
    "DESCRIPTION": "Orders, purchase orders, shipments and inventory, reconciled by an event log.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets that share a field name ("status") across apps get stable component names.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.OrderStatus",
        "WorkflowStepEnum": "orders.models.WorkflowStep",
        "LocationKindEnum": "inventory.models.LocationKind",
        "ShipmentStatusEnum": "shipments.models.ShipmentStatus",
        "TrackingStatusEnum": "shipments.models.TrackingStatus",
    },
}

# --- Observability ----------------------------------------------------------------------------
# See docs/OBSERVABILITY.md. PROMETHEUS_MULTIPROC_DIR is read by prometheus-client itself.

# /readyz answers 503 when a registered subscriber is more events behind the log head than this;
# a negative value switches the check off.
READINESS_MAX_SUBSCRIPTION_LAG = env_int("READINESS_MAX_SUBSCRIPTION_LAG", 10000)
# /readyz answers 503 ("fulfillment") when a due workflow step has waited longer than this for a
# worker, or the workflow queue holds more messages than this; negative switches each check off.
READINESS_MAX_DUE_STEP_AGE_SECONDS = env_int("READINESS_MAX_DUE_STEP_AGE_SECONDS", 300)
READINESS_MAX_WORKFLOW_QUEUE_DEPTH = env_int("READINESS_MAX_WORKFLOW_QUEUE_DEPTH", 5000)
# When set (with PROMETHEUS_MULTIPROC_DIR), a Celery worker serves its metrics on this port.
WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 0)

# --- Webhooks ---------------------------------------------------------------------------------
# See docs/API.md "Webhooks". Attempt n (1-based) that fails waits a random time between half and
# all of min(cap, base * 2**(n-1)); after WEBHOOK_MAX_ATTEMPTS failures a delivery is DEAD.

WEBHOOK_BACKOFF_BASE_SECONDS = float(os.environ.get("WEBHOOK_BACKOFF_BASE_SECONDS", "10"))
WEBHOOK_BACKOFF_CAP_SECONDS = float(os.environ.get("WEBHOOK_BACKOFF_CAP_SECONDS", "3600"))
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 10)
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10"))
# How long a claimed delivery stays reserved for its worker; after that (a lost worker) it is due again.
WEBHOOK_LEASE_SECONDS = float(os.environ.get("WEBHOOK_LEASE_SECONDS", "120"))
# Most deliveries one task run sends before it yields the worker.
WEBHOOK_BATCH = env_int("WEBHOOK_BATCH", 200)

# --- Event bus: the relay of the committed log to NATS JetStream (docs/EVENT_BUS.md) ------------
# Unset NATS_URL: no relay runs and nothing else changes. Comma-separate several servers of a cluster.

NATS_URL = os.environ.get("NATS_URL", "")
# A NATS credentials (.creds) file for an account that may publish and manage the stream.
NATS_CREDENTIALS_FILE = os.environ.get("NATS_CREDENTIALS_FILE", "")
# The JetStream stream and its subjects: <prefix>.<category>.<EventType>.
NATS_STREAM = os.environ.get("NATS_STREAM", "SCM_EVENTS")
NATS_SUBJECT_PREFIX = os.environ.get("NATS_SUBJECT_PREFIX", "scm.events")
NATS_STREAM_REPLICAS = env_int("NATS_STREAM_REPLICAS", 1)
NATS_STREAM_STORAGE = os.environ.get("NATS_STREAM_STORAGE", "file")
# Retention by limits: messages older than this many hours (0: no age limit) or beyond this many
# bytes (-1: no limit) are dropped, oldest first. Consumers replay from any point inside them.
NATS_STREAM_MAX_AGE_HOURS = float(os.environ.get("NATS_STREAM_MAX_AGE_HOURS", "720"))
NATS_STREAM_MAX_BYTES = env_int("NATS_STREAM_MAX_BYTES", -1)
# JetStream drops a second message with the same Nats-Msg-Id (the event id) inside this window.
NATS_STREAM_DUPLICATE_WINDOW_SECONDS = float(os.environ.get("NATS_STREAM_DUPLICATE_WINDOW_SECONDS", "300"))
# The relay's checkpoint row (bus_relaycheckpoint.name).
EVENT_RELAY_NAME = os.environ.get("EVENT_RELAY_NAME", "nats")
# Events read from the log per round, and publishes awaiting JetStream's acknowledgement at once.
EVENT_RELAY_BATCH = env_int("EVENT_RELAY_BATCH", 500)
EVENT_RELAY_MAX_IN_FLIGHT = env_int("EVENT_RELAY_MAX_IN_FLIGHT", 256)
EVENT_RELAY_ACK_TIMEOUT_SECONDS = float(os.environ.get("EVENT_RELAY_ACK_TIMEOUT_SECONDS", "5"))
# How often an idle relay looks for new events.
EVENT_RELAY_POLL_SECONDS = float(os.environ.get("EVENT_RELAY_POLL_SECONDS", "0.2"))
# After a round that published nothing (NATS down), wait between half and all of
# min(cap, base * 2**(failures-1)) before the next.
EVENT_RELAY_BACKOFF_BASE_SECONDS = float(os.environ.get("EVENT_RELAY_BACKOFF_BASE_SECONDS", "0.5"))
EVENT_RELAY_BACKOFF_CAP_SECONDS = float(os.environ.get("EVENT_RELAY_BACKOFF_CAP_SECONDS", "30"))
# /readyz answers 503 when the relay is more positions behind the log head than this (negative: off).
READINESS_MAX_RELAY_LAG = env_int("READINESS_MAX_RELAY_LAG", 10000)

# --- Tracing: OpenTelemetry (docs/OBSERVABILITY.md "Tracing") ----------------------------------
# On only when an OTLP endpoint is set; then web and worker processes install the Django, Celery,
# psycopg2 and requests instrumentations and export spans over OTLP/HTTP. Unset: nothing is
# imported or installed. The exporter and sampler read the other OTEL_* variables themselves.

OTEL_EXPORTER_OTLP_ENDPOINT = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""
)
TRACING_ENABLED = bool(OTEL_EXPORTER_OTLP_ENDPOINT) and not env_flag("OTEL_SDK_DISABLED")
# Service name of the spans; "-web" / "-worker" is appended per process kind.
OTEL_SERVICE_NAME = os.environ.get("OTEL_SERVICE_NAME", "scm")

# --- Logging ----------------------------------------------------------------------------------

LOG_FORMAT = os.environ.get("LOG_FORMAT", "console" if DEBUG else "json")
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING_CONFIG = None  # configured by scm.observability.logging.configure() at startup

# --- Integrations -----------------------------------------------------------------------------

TMS_BASE_URL = os.environ.get("TMS_BASE_URL", "")
TMS_API_KEY = os.environ.get("TMS_API_KEY", "")
# TMS adapter (shipments/adapters/tms.py, docs/SHIPMENTS.md): per-attempt timeouts, retries with
# exponential backoff and jitter, and a circuit breaker whose state is a database row.
TMS_CONNECT_TIMEOUT = float(os.environ.get("TMS_CONNECT_TIMEOUT", "3.05"))
# The whole attempt, answer included (TMS_READ_TIMEOUT is its old name, still read).
TMS_ATTEMPT_TIMEOUT_SECONDS = float(
    os.environ.get("TMS_ATTEMPT_TIMEOUT_SECONDS") or os.environ.get("TMS_READ_TIMEOUT") or "10"
)
TMS_MAX_ATTEMPTS = env_int("TMS_MAX_ATTEMPTS", 3)
TMS_BACKOFF_BASE_SECONDS = float(os.environ.get("TMS_BACKOFF_BASE_SECONDS", "0.5"))
TMS_BACKOFF_CAP_SECONDS = float(os.environ.get("TMS_BACKOFF_CAP_SECONDS", "8"))
TMS_CIRCUIT_NAME = os.environ.get("TMS_CIRCUIT_NAME", "tms")
TMS_CIRCUIT_FAILURE_THRESHOLD = env_int("TMS_CIRCUIT_FAILURE_THRESHOLD", 5)
TMS_CIRCUIT_RESET_SECONDS = float(os.environ.get("TMS_CIRCUIT_RESET_SECONDS", "30"))
TMS_CIRCUIT_PROBE_TIMEOUT_SECONDS = float(os.environ.get("TMS_CIRCUIT_PROBE_TIMEOUT_SECONDS", "60"))
CARRIER_FEED_TIMEOUT = float(os.environ.get("CARRIER_FEED_TIMEOUT", "10"))
# Late detection: an in-flight shipment with no tracking update for this long is late; a planned
# one whose promised date is within this many days is at risk.
SHIPMENT_STALE_AFTER_HOURS = env_int("SHIPMENT_STALE_AFTER_HOURS", 48)
SHIPMENT_AT_RISK_DAYS = env_int("SHIPMENT_AT_RISK_DAYS", 1)

# --- Suppliers (docs/SUPPLIERS.md) -------------------------------------------------------------

# Our own X12 identity: ISA05/ISA06 (and GS02) of the 850s, 997s and 824s we send.
SCM_X12_QUALIFIER = os.environ.get("SCM_X12_QUALIFIER", "ZZ")
SCM_X12_ID = os.environ.get("SCM_X12_ID", "SCMCORE")
# Largest inbound supplier message accepted (API body, polled file or feed response); larger is refused (413).
SUPPLIER_MESSAGE_MAX_BYTES = env_int("SUPPLIER_MESSAGE_MAX_BYTES", 5 * 1024 * 1024)
# A ship notice without a delivery date (DTM 017) is expected this many days after it shipped.
SUPPLIER_DEFAULT_TRANSIT_DAYS = env_int("SUPPLIER_DEFAULT_TRANSIT_DAYS", 3)
# HTTP feed polls: per-request timeout, retries after the first call, and the backoff (base, cap) between them.
SUPPLIER_HTTP_TIMEOUT_SECONDS = float(os.environ.get("SUPPLIER_HTTP_TIMEOUT_SECONDS", "10"))
SUPPLIER_POLL_RETRIES = env_int("SUPPLIER_POLL_RETRIES", 4)
SUPPLIER_POLL_BACKOFF_BASE_SECONDS = float(os.environ.get("SUPPLIER_POLL_BACKOFF_BASE_SECONDS", "2"))
SUPPLIER_POLL_BACKOFF_CAP_SECONDS = float(os.environ.get("SUPPLIER_POLL_BACKOFF_CAP_SECONDS", "300"))

# --- Partner transport (docs/SUPPLIERS.md "Transport") ----------------------------------------

# Fernet keys sealing partner secrets at rest, comma-separated, newest first (rotation: docs).
PARTNER_SECRETS_KEY = env_list("PARTNER_SECRETS_KEY")
# Our public site root as partners reach it (e.g. https://edi.example.com): they post asynchronous MDNs
# to <it>/as2/mdn/. Needed only for connections that ask for asynchronous MDNs.
PARTNER_AS2_BASE_URL = os.environ.get("PARTNER_AS2_BASE_URL", "")
# Largest AS2 request we read (signed, encrypted, maybe base64: larger than the payload it carries).
PARTNER_AS2_MAX_BYTES = env_int("PARTNER_AS2_MAX_BYTES", 16 * 1024 * 1024)
# Budget of one try: connect (TCP + TLS/SSH handshake + login), then the whole exchange.
PARTNER_CONNECT_TIMEOUT_SECONDS = float(os.environ.get("PARTNER_CONNECT_TIMEOUT_SECONDS", "10"))
PARTNER_TIMEOUT_SECONDS = float(os.environ.get("PARTNER_TIMEOUT_SECONDS", "60"))
PARTNER_MAX_RESPONSE_BYTES = env_int("PARTNER_MAX_RESPONSE_BYTES", 1024 * 1024)
# Outbox retries: try n that fails waits uniform [d/2, d], d = min(cap, base * 2**(n-1)); DEAD after the last.
PARTNER_MAX_ATTEMPTS = env_int("PARTNER_MAX_ATTEMPTS", 8)
PARTNER_BACKOFF_BASE_SECONDS = float(os.environ.get("PARTNER_BACKOFF_BASE_SECONDS", "30"))
PARTNER_BACKOFF_CAP_SECONDS = float(os.environ.get("PARTNER_BACKOFF_CAP_SECONDS", "3600"))
# A claimed try not recorded within this long (its worker died) is taken over.
PARTNER_LEASE_SECONDS = float(os.environ.get("PARTNER_LEASE_SECONDS", "300"))
# An asynchronous MDN not received within this long counts the try as failed (the message is resent).
PARTNER_MDN_TIMEOUT_SECONDS = float(os.environ.get("PARTNER_MDN_TIMEOUT_SECONDS", "3600"))
# Each supplier's transport circuit (scm.outbound breaker `transport:<code>`, shared by its sends, SFTP
# pulls and MDNs): this many failed calls in a row stop calls to that partner for the reset time.
PARTNER_BREAKER_THRESHOLD = env_int("PARTNER_BREAKER_THRESHOLD", 5)
PARTNER_BREAKER_RESET_SECONDS = float(os.environ.get("PARTNER_BREAKER_RESET_SECONDS", "300"))
# Start a send right after the commit that queued a document (off: only the beat sweep sends).
PARTNER_OUTBOX_AUTORUN = env_flag("PARTNER_OUTBOX_AUTORUN", True)
CELERY_BEAT_SCHEDULE["send-partner-documents"] = {
    "task": "partners.tasks.send_due_documents",
    "schedule": float(os.environ.get("PARTNER_OUTBOX_SWEEP_SECONDS", "30")),
}
# --- Outbound calls (scm/outbound; docs/ARCHITECTURE.md "Outbound calls") ---------------------
# Every call to a partner goes through scm.outbound.request: http(s) only, public addresses only
# (judged at connect time) unless allow-listed, a time and size budget per attempt, and a circuit
# breaker per partner whose state is a database row.

# Exceptions to the address policy: CIDR networks and address:port pairs ([v6]:port), comma-separated.
OUTBOUND_ALLOWED_NETWORKS = env_list("OUTBOUND_ALLOWED_NETWORKS")
# Default budget of an attempt (callers with their own settings, below and above, pass theirs).
OUTBOUND_CONNECT_TIMEOUT_SECONDS = float(os.environ.get("OUTBOUND_CONNECT_TIMEOUT_SECONDS", "3"))
OUTBOUND_TOTAL_TIMEOUT_SECONDS = float(os.environ.get("OUTBOUND_TOTAL_TIMEOUT_SECONDS", "15"))
OUTBOUND_MAX_RESPONSE_BYTES = env_int("OUTBOUND_MAX_RESPONSE_BYTES", 1024 * 1024)
# Breakers: open after this many consecutive failures, for this long, then one probe (replaced if
# it has not reported after the probe timeout, which must exceed any attempt's budget).
OUTBOUND_BREAKER_FAILURE_THRESHOLD = env_int("OUTBOUND_BREAKER_FAILURE_THRESHOLD", 5)
OUTBOUND_BREAKER_RESET_SECONDS = float(os.environ.get("OUTBOUND_BREAKER_RESET_SECONDS", "60"))
OUTBOUND_BREAKER_PROBE_TIMEOUT_SECONDS = float(os.environ.get("OUTBOUND_BREAKER_PROBE_TIMEOUT_SECONDS", "120"))
# Webhooks (docs/API.md): WEBHOOK_TIMEOUT_SECONDS above is the total deadline of one attempt.
WEBHOOK_CONNECT_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_CONNECT_TIMEOUT_SECONDS", "2"))
# One run claims an endpoint's due deliveries this many at a time, never more than the in-flight
# limit allows across all workers, and stops claiming after its time budget.
WEBHOOK_CLAIM_SLICE = env_int("WEBHOOK_CLAIM_SLICE", 10)
WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT = env_int("WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT", 10)
WEBHOOK_RUN_BUDGET_SECONDS = float(os.environ.get("WEBHOOK_RUN_BUDGET_SECONDS", "20"))
# Supplier drop folders must lie inside this folder (docs/SUPPLIERS.md); unset: no drop folder is polled.
SUPPLIER_DROP_FOLDER_ROOT = os.environ.get("SUPPLIER_DROP_FOLDER_ROOT", "")

# --- Security (docs/SECURITY.md) ----------------------------------------------------------------
# Production defaults whenever DEBUG is off; each can be overridden from the environment. `bin/run`
# (DEBUG=1) gets plain HTTP. Behind a proxy that terminates TLS set SECURE_PROXY_SSL_HEADER (e.g.
# "X-Forwarded-Proto: https") so Django sees the original scheme; without it every request looks
# like HTTP and SECURE_SSL_REDIRECT would redirect forever.


def _proxy_ssl_header(value: str) -> tuple[str, str] | None:
    """"X-Forwarded-Proto: https" -> ("HTTP_X_FORWARDED_PROTO", "https"); empty -> None."""
    if not value.strip():
        return None
    name, _, expected = value.partition(":")
    if not name.strip() or not expected.strip():
        raise ImproperlyConfigured('SECURE_PROXY_SSL_HEADER must look like "X-Forwarded-Proto: https".')
    return "HTTP_" + name.strip().upper().replace("-", "_"), expected.strip()


SECURE_PROXY_SSL_HEADER = _proxy_ssl_header(os.environ.get("SECURE_PROXY_SSL_HEADER", ""))
SECURE_SSL_REDIRECT = env_flag("SECURE_SSL_REDIRECT", not DEBUG)
# Health probes and the metrics scraper talk plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env_flag("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_flag("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
# Preloading is a commitment browsers keep for months: only once the domain is submitted.
SECURE_HSTS_PRELOAD = env_flag("SECURE_HSTS_PRELOAD")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Login throttling (django-axes) for the dashboard, the admin and POST /api/v1/auth/token/, one
# count for all three: after LOGIN_FAILURE_LIMIT failures for one username from one address, logins
# are refused (429) for LOGIN_LOCKOUT_MINUTES, the right password included. `manage.py
# axes_reset_username NAME` (or the admin's "Access attempts") lifts a lockout.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 30))
# "username+ip_address" groups parameters that count together; commas separate independent counts,
# e.g. "username+ip_address,ip_address" also locks an address that sprays many usernames.
AXES_LOCKOUT_PARAMETERS = [
    part.split("+") if "+" in part else part for part in env_list("LOGIN_LOCKOUT_BY", "username+ip_address")
]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "scm.api.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "scm.api.lockout.client_ip"

from scm.observability.logging import configure as _configure_logging  # noqa: E402

_configure_logging(log_format=LOG_FORMAT, level=LOG_LEVEL)

# --- Periodic work (last: every entry above is in the schedule) --------------------------------
CELERY_BEAT_SCHEDULE = periodic.beat_schedule(CELERY_BEAT_SCHEDULE)
