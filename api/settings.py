"""Django settings, read from the environment (see README "Configuration")."""

from __future__ import annotations

from datetime import timedelta

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from shared.accounts.signing_keys import (
    SigningKeyError,
    SigningKeys,
    local_private_key,
    read_pem_setting,
    split_public_keys,
)
from shared.infra.config import (
    BASE_DIR,
    LOCAL_REDIS_PORT,
    LOCAL_SMTP_PORT,
    VAR_DIR,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
    local_secret_key,
    parse_email_url,
    parse_reset_clients,
    parse_throttle_rates,
    secret_key_problem,
)

# Off unless set: a bare `docker run` or a forgotten variable must not serve debug pages, the
# local mailbox or a made-up key. `make run` and `make test` set DEBUG=1 for local use.
DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY", "")
if DEBUG and not SECRET_KEY:
    SECRET_KEY = local_secret_key()
elif not DEBUG and (problem := secret_key_problem(SECRET_KEY)):
    raise ImproperlyConfigured(f"{problem} (DEBUG is off; see README, Configuration).")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
PORT = env_int("PORT", 8000)
# Links in emails are built from this, never from the request's Host header.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", f"http://localhost:{PORT}").rstrip("/")
# Optional template for single-page apps, e.g. https://app.example.com/reset?uid={uid}&t={token}
FRONTEND_RESET_URL = env_str("FRONTEND_RESET_URL", "")
# Front ends a reset request may name in ``client``, each with its own link template.
RESET_CLIENTS = parse_reset_clients(env_str("RESET_CLIENTS", ""))

AUTHENTICATION_BACKENDS = [
    # First: refuses every attempt on an identifier with too many recent failures
    # (``login_account``), for the API, the HTML login and the Django admin alike.
    "shared.accounts.login_attempts.AccountLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
    # Login by address (the API's ``email`` field).
    "shared.accounts.login_attempts.EmailBackend",
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "shared",
    "api",
    "workers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "api.middleware.ContentSecurityPolicyMiddleware",
    "api.errors.ErrorResponseMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "api.middleware.RevocableSessionMiddleware",
    "api.middleware.AbsoluteSessionLifetimeMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "api.urls"
WSGI_APPLICATION = "api.wsgi.application"

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
                "api.context_processors.site",
            ],
        },
    },
]

VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        env_url("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
# A pool of PostgreSQL connections per process, up to DB_POOL_SIZE (0: none, the API's default;
# the workers set it, workers/celery.py). Celery's Django fix-up closes a thread's connections
# before and after every task whatever CONN_MAX_AGE says, so without a pool every task would
# open a new connection; with one, "closing" hands the connection back to the pool.
DB_POOL_SIZE = env_int("DB_POOL_SIZE", 0)
if DB_POOL_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses persistent connections with a pool
    # No "SELECT 1" before lending a connection out: that was one more round trip per task. A
    # connection that broke while idle in the pool (a database restart) fails the first query
    # of one task, which retries in a second or two (workers/handler_tasks.py, before any email is
    # sent), and the pool drops it when it comes back in a failed state.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_SIZE,
        "timeout": 10,  # waiting for a free connection longer than that is an outage
        "max_idle": 300,
    }
    # The workers run the same few statements all day: parameters bound by the server and, from
    # a statement's 5th run on a connection, prepared once, which took about a quarter off
    # PostgreSQL's CPU per email (docs/benchmarks.md). DB_PREPARE_THRESHOLD=off turns preparing
    # off, for PgBouncer in transaction mode before 1.21 (max_prepared_statements).
    prepare_threshold = env_str("DB_PREPARE_THRESHOLD", "5")
    if prepare_threshold != "off" and not prepare_threshold.isdigit():
        raise ImproperlyConfigured("DB_PREPARE_THRESHOLD must be a number of runs or 'off'")
    DATABASES["default"]["OPTIONS"]["server_side_binding"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = (
        None if prepare_threshold == "off" else int(prepare_threshold)
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The Celery worker in the integration tests is another process: it needs a file, not :memory:.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}
    # The embedded default has several writers at once (gunicorn's workers, the Celery workers,
    # beat). WAL lets readers go on while one process writes: a burst of 300 resets is mailed
    # 1.3 s after its last request instead of 9.3 (bench/embedded_burst.py). IMMEDIATE makes a
    # transaction take the write lock as it begins, so a second writer waits its turn (up to
    # `timeout` seconds); a transaction that began by reading would instead fail at once with
    # "database is locked" when it came to write after another writer (SQLite cannot make it
    # wait), which WAL's concurrent readers make likelier.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL;",
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Larger request bodies get 413 (api/errors.py); the API's own fields need a few KiB at most.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BODY", 1024 * 1024)

REDIS_URL = env_url("REDIS_URL", f"redis://127.0.0.1:{LOCAL_REDIS_PORT}/0")

EMAIL_URL = env_url("EMAIL_URL", f"smtp://127.0.0.1:{LOCAL_SMTP_PORT}")
globals().update(parse_email_url(EMAIL_URL))
# The service's name, as people see it: page headers and titles, each email's subject, From
# name and body.
SITE_NAME = env_str("SITE_NAME", "Account security")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", f"{SITE_NAME} <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 60 * 60)
# The code mailed with each link: its digits, its tries and its lifetime (shorter than the
# link's: a code is typed, so it is guessable in a way a 40-character token is not).
RESET_CODE_LENGTH = env_int("RESET_CODE_LENGTH", 8)
RESET_CODE_MAX_ATTEMPTS = env_int("RESET_CODE_MAX_ATTEMPTS", 5)
RESET_CODE_TIMEOUT = env_int("RESET_CODE_TIMEOUT", 15 * 60)
if not 6 <= RESET_CODE_LENGTH <= 12:
    raise ImproperlyConfigured("RESET_CODE_LENGTH must be between 6 and 12 digits.")
if RESET_CODE_MAX_ATTEMPTS < 1 or RESET_CODE_TIMEOUT < 1:
    raise ImproperlyConfigured("RESET_CODE_MAX_ATTEMPTS and RESET_CODE_TIMEOUT must be positive.")
# "This wasn't me" links in the notices of a password or address change, and the link that
# confirms a new address: their lifetimes in seconds.
NOT_ME_TIMEOUT = env_int("NOT_ME_TIMEOUT", 7 * 24 * 3600)
EMAIL_CHANGE_TIMEOUT = env_int("EMAIL_CHANGE_TIMEOUT", 24 * 3600)
if NOT_ME_TIMEOUT < 1 or EMAIL_CHANGE_TIMEOUT < 1:
    raise ImproperlyConfigured("NOT_ME_TIMEOUT and EMAIL_CHANGE_TIMEOUT must be positive.")
# Log the person in on the HTML pages once a reset completes. Off: a reset proves control of
# the mailbox, and logging in should still prove the new password.
PASSWORD_RESET_AUTO_LOGIN = env_bool("PASSWORD_RESET_AUTO_LOGIN", False)
# When on, a reset request for an address no account uses sends a short "no account" email.
RESET_NOTIFY_UNKNOWN_EMAIL = env_bool("RESET_NOTIFY_UNKNOWN_EMAIL", False)
NUM_PROXIES = env_int("NUM_PROXIES", 0)

# New passwords are hashed with the first; a hash made by any of the others (users moved in
# from another Django project) still checks, and is rehashed with the first at that login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
PASSWORD_MAX_LENGTH = env_int("PASSWORD_MAX_LENGTH", 4096)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 12)},
    },
    {
        "NAME": "shared.accounts.validators.MaximumLengthValidator",
        "OPTIONS": {"max_length": PASSWORD_MAX_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "shared.accounts.validators.RepetitiveOrSequentialValidator"},
    # Asks the Pwned Passwords range API (PWNED_PASSWORDS_URL) at each use; "off" skips it.
    {"NAME": "shared.accounts.validators.BreachedPasswordValidator"},
    # No composition rules (NIST SP 800-63B): length, lists of known passwords and similarity.
]
# The k-anonymity range API: only the first 5 hex characters of the password's SHA-1 are sent.
# "off" disables the check; one that cannot answer within a second is skipped and logged.
PWNED_PASSWORDS_URL = env_url("PWNED_PASSWORDS_URL", "https://api.pwnedpasswords.com/range/")

# Our own catalogues first: they win over django.contrib's wording of the same strings.
LOCALE_PATHS = [BASE_DIR / app / "locale" for app in ("api", "workers", "shared")]
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français"), ("de", "Deutsch")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve straight from the apps: no collectstatic step to forget

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "password_change"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.StrictJSONParser",
        "api.parsers.StrictFormParser",
        "api.parsers.StrictMultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": parse_throttle_rates(env_str("THROTTLE_RATES", "")),
    "NUM_PROXIES": NUM_PROXIES,
    "UNAUTHENTICATED_USER": None,
}

# Sessions, JWT and browser alike, end this long after their login however active they are
# (shared/accounts/sessions.py, api/middleware.py), besides their idle lifetime.
SESSION_MAX_AGE = env_int("SESSION_MAX_AGE", 30 * 86400)
REFRESH_TOKEN_LIFETIME = env_int("REFRESH_TOKEN_LIFETIME", 14 * 86400)
# A browser session idle this long ends; each request it makes starts the time again.
SESSION_COOKIE_AGE = min(REFRESH_TOKEN_LIFETIME, SESSION_MAX_AGE)
SESSION_SAVE_EVERY_REQUEST = True

# JWT signing (shared/accounts/signing_keys.py): ES256 by default, the key from JWT_SIGNING_KEY
# (PEM, or file:PATH); with DEBUG on and none set, one made once under var/; with DEBUG off,
# required.
JWT_ALGORITHM = env_str("JWT_ALGORITHM", "ES256")
_jwt_key_setting = env_str("JWT_SIGNING_KEY", "")
try:
    if _jwt_key_setting:
        _jwt_signing_key = read_pem_setting(_jwt_key_setting)
    elif JWT_ALGORITHM == "HS256":
        _jwt_signing_key = SECRET_KEY
    elif DEBUG:
        _jwt_signing_key = local_private_key(JWT_ALGORITHM, VAR_DIR)
    else:
        raise ImproperlyConfigured(
            f"JWT_SIGNING_KEY must be set when DEBUG is off ({JWT_ALGORITHM} private key, PEM or "
            "file:PATH; see README, Configuration)."
        )
    JWT_SIGNING_KEYS = SigningKeys(
        JWT_ALGORITHM, _jwt_signing_key,
        split_public_keys(env_str("JWT_PREVIOUS_PUBLIC_KEYS", "")),
    )  # fmt: skip
except SigningKeyError as exc:
    raise ImproperlyConfigured(f"JWT signing key: {exc}") from None
JWT_ISSUER = env_str("JWT_ISSUER", PUBLIC_BASE_URL)
JWT_AUDIENCE = env_str("JWT_AUDIENCE", "resetpass")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env_int("ACCESS_TOKEN_LIFETIME", 5 * 60)),
    # Idle lifetime: each refresh (rotation) starts it again, up to SESSION_MAX_AGE.
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=REFRESH_TOKEN_LIFETIME),
    # Tokens are made and read through shared/accounts/jwt_tokens.py (a kid in each header, verified
    # by the key it names); these describe the current key for anything using simplejwt's own.
    "ALGORITHM": JWT_SIGNING_KEYS.algorithm,
    "SIGNING_KEY": JWT_SIGNING_KEYS.signing_key,
    "VERIFYING_KEY": JWT_SIGNING_KEYS.public_pem,
    "AUDIENCE": JWT_AUDIENCE,
    "ISSUER": JWT_ISSUER,
    "AUTH_TOKEN_CLASSES": ("shared.accounts.jwt_tokens.AccessToken",),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    # Rotation, reuse detection and revocation are ours (shared/accounts/sessions.py), on a
    # whitelist.
    "ROTATE_REFRESH_TOKENS": False,
    "BLACKLIST_AFTER_ROTATION": False,
    "UPDATE_LAST_LOGIN": False,
    "CHECK_REVOKE_TOKEN": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Password reset and change API",
    "DESCRIPTION": "Forgot-password by emailed link and change-password, with JWT sessions."
    "\n\n**Errors** have one of two shapes, each with a machine-readable `code` (README, "
    '"Errors"): an error, `{"detail": "...", "code": "..."}` (schema `Error`, which lists '
    "the codes); or a refused body (400), one list of messages per field as in dj-rest-auth, "
    '`non_field_errors` for the body as a whole, `"code": "invalid"`, and `field_codes`: the '
    "same keys, one code per message (schemas `...ValidationError`).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The one value of a refused body's ``code`` (api/schema.py), under a name that says so.
    "ENUM_NAME_OVERRIDES": {"ValidationErrorCodeEnum": ["invalid"]},
}

# Celery: broker on Redis. Queues, routing and the delivery guarantees that are not
# configuration are in shared/messaging/celery_app.py; what operators tune is here.
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redis hands an unacknowledged message (its worker died) to another worker after this
    # long. It must exceed the longest task plus the longest retry countdown
    # (HANDLER_RETRY_MAX_DELAY), or a waiting retry would be delivered twice.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 900),
    # How often workers look for such messages: every interval x throttle seconds.
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": env_int("CELERY_UNACKED_RESTORE_THROTTLE", 6),
    "socket_connect_timeout": 2,
    "socket_timeout": 10,
    "retry_on_timeout": True,
}
# Task events (received, started, succeeded...) are what Flower shows. As in Celery's own
# default, workers send none until a monitor asks: Flower turns them on in every worker within
# 5 s of starting (its `enable_events`, every 5 s). Nobody watching, they would be three Redis
# publishes per task for no one, up to a tenth of an email worker's CPU. CELERY_TASK_EVENTS=1
# turns them on from the start (for another monitor than Flower).
CELERY_WORKER_SEND_TASK_EVENTS = env_bool("CELERY_TASK_EVENTS", False)
# Handlers' retries of transient failures (workers/handler_tasks.py): seconds before the first
# (doubling each time, with jitter), the cap, and how many.
HANDLER_RETRY_BASE = env_float("HANDLER_RETRY_BASE", 2.0)
HANDLER_RETRY_MAX_DELAY = env_float("HANDLER_RETRY_MAX_DELAY", 600.0)
HANDLER_MAX_RETRIES = env_int("HANDLER_MAX_RETRIES", 8)
# How events reach Redis: "redis" writes Celery's task messages straight to it
# (shared/messaging/celery_wire.py, the fast way); "celery" sends them with app.send_task.
EVENT_PUBLISH_VIA = env_choice("EVENT_PUBLISH_VIA", "redis", ("redis", "celery"))
# Seconds between the outbox relay's passes (its own process: `manage.py relay_outbox --loop`).
OUTBOX_RELAY_INTERVAL = float(env_str("OUTBOX_RELAY_INTERVAL", "5"))
# Seconds after which an event sent to Redis, and not yet finished by all its handlers, is sent
# again to those that have not finished: longer than a handler's whole chain of retries (at
# most 8.5 minutes by default) and than the broker's redelivery of a dead worker's tasks
# (CELERY_VISIBILITY_TIMEOUT, 15 minutes), so that only an event Redis lost is sent again.
OUTBOX_REDELIVER_AFTER = env_int("OUTBOX_REDELIVER_AFTER", 30 * 60)
# Webhooks (shared/messaging/webhooks.py): private addresses allowed, retries, seconds per delivery.
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
WEBHOOK_MAX_RETRIES = env_int("WEBHOOK_MAX_RETRIES", 8)
WEBHOOK_TIMEOUT = float(env_str("WEBHOOK_TIMEOUT", "5"))
# Users per batch of a forced reset (shared/operators/forced_resets.py).
FORCED_RESET_BATCH_SIZE = env_int("FORCED_RESET_BATCH_SIZE", 500)
# Dead letters older than this (days) are deleted by beat (maintenance.purge_dead_letters).
DEAD_LETTER_RETENTION_DAYS = env_int("DEAD_LETTER_RETENTION_DAYS", 30)

# Benchmarks only: serve /bench/floor/reset/ (see api/views/floor.py).
BENCH_ENDPOINTS = env_bool("BENCH_ENDPOINTS", False)

# Security headers and cookies.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # __Host-: the browser keeps such a cookie only if it is Secure, for "/", with no Domain,
    # so a sibling subdomain or a plain-HTTP page cannot plant one (session fixation).
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    # Preloading is hard to undo (browsers ship the list): only when asked for.
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if NUM_PROXIES:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [PUBLIC_BASE_URL])
    # /healthz and /readyz are probed over plain HTTP from inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# A Content-Security-Policy on every response (django-csp): pages load scripts, styles and
# images from this origin only, post forms only to it, and may not be framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
    }
}

# Debug pages hide settings and environment variables by name (KEY, SECRET, PASS...) and,
# with this filter, the password inside any URL (DATABASE_URL, REDIS_URL, EMAIL_URL...).
DEFAULT_EXCEPTION_REPORTER_FILTER = "shared.infra.redaction.SafeExceptionReporterFilter"

# W021 asks for HSTS preload, which is opt-in (SECURE_HSTS_PRELOAD) because leaving the
# browsers' list takes months.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
# Every log record, whichever logger and handler it meets (Django's, runserver's, Celery's,
# gunicorn's), is redacted when it is made: reset tokens and the passwords inside URLs are cut
# out (shared/infra/redaction.py). Django's own handlers are replaced by ours, so that no line goes
# out twice or in another shape.
LOGGING_CONFIG = "shared.infra.redaction.configure_logging"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's defaults send these to handlers of their own (runserver's request lines,
        # mail to ADMINS); here they go where everything else goes.
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "INFO"},
        # The breach check logs one warning of its own when it is skipped
        # (shared/accounts/validators.py); the library's error line would repeat it, and httpx's
        # request line would put each password's hash prefix in the log.
        "pwned_passwords_django": {"level": "CRITICAL"},
        "httpx": {"level": "WARNING"},
        # Celery's own two lines per task ("received", "succeeded") show only with
        # LOG_LEVEL=DEBUG or CELERY_TASK_LOGS=1: each handler logs one line per event itself
        # (what it did, the address as a keyed hash), Flower shows every task, and retries and
        # failures are logged as warnings and errors. They cost about 3 % of an email worker's
        # CPU.
        **{
            name: {"level": "WARNING"}
            for name in ("celery.app.trace", "celery.worker.strategy")
            if not (env_bool("CELERY_TASK_LOGS", False) or LOG_LEVEL == "DEBUG")
        },
    },
}
