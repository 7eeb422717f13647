"""Reading the service's configuration from environment variables (12-factor).

Every variable has a working default for a laptop; production sets them explicitly.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parents[2]  # the repository: shared/infra/config.py
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

# Ports of the stand-ins `make run` starts when REDIS_URL / EMAIL_URL are not set.
LOCAL_REDIS_PORT = 16379
LOCAL_SMTP_PORT = 1025

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``; anything else stops the service at start."""
    value = os.environ.get(name, "").strip().lower() or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def env_url(name: str, default: str) -> str:
    """A service URL; set but empty (``DATABASE_URL=``, or compose's ``${DATABASE_URL:-}``)
    means unset, as it does for the Makefile's local stand-ins."""
    return os.environ.get(name, "").strip() or default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def _env_number(name: str, default, cast):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return cast(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number ({cast.__name__}), got {raw!r}") from exc


def env_int(name: str, default: int) -> int:
    return _env_number(name, default, int)


def env_float(name: str, default: float) -> float:
    return _env_number(name, default, float)


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def local_secret_key() -> str:
    """A per-checkout key for DEBUG use, kept under var/ so that the web process and the
    workers (which must agree on it to verify each other's tokens) share it across restarts."""
    path = VAR_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        # O_EXCL: when several processes start at once, the first writer wins.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key


# Keys that tutorials, templates and this project's own files have shipped as examples.
_PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "placeholder", "insecure",
                      "your-secret", "secret-key", "example", "replace-me", "dummy")  # fmt: skip
SECRET_KEY_MIN_LENGTH = 50


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` cannot sign tokens in production, or None. Django's deploy check only warns
    about these; a service whose links and sessions rest on the key refuses to start."""
    if not key:
        return "SECRET_KEY must be set"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"SECRET_KEY must be at least {SECRET_KEY_MIN_LENGTH} characters long"
    lowered = key.lower()
    if lowered.startswith("django-insecure") or any(w in lowered for w in _PLACEHOLDER_WORDS):
        return "SECRET_KEY is a known placeholder: generate a random one"
    if len(set(key)) < 10:
        return "SECRET_KEY repeats too few characters to be random"
    return None


# scheme://user:password@host → scheme://user:***@host
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]*@")


def mask_url_credentials(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


def parse_email_url(url: str) -> dict[str, object]:
    """Turn EMAIL_URL into Django EMAIL_* settings.

    Accepted forms: ``smtp://user:pass@host:587?tls=1``, ``smtps://host:465`` (implicit TLS),
    ``smtp://host:25?timeout=10``, ``console://``, ``locmem://`` and ``dummy://``.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    backends = {
        "console": "django.core.mail.backends.console.EmailBackend",
        "locmem": "django.core.mail.backends.locmem.EmailBackend",
        "dummy": "django.core.mail.backends.dummy.EmailBackend",
    }
    if scheme in backends:
        return {"EMAIL_BACKEND": backends[scheme]}
    if scheme not in {"smtp", "smtps"}:
        raise ConfigError(
            "EMAIL_URL scheme must be smtp, smtps, console, locmem or dummy: "
            f"{mask_url_credentials(url)!r}"
        )
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    use_ssl = scheme == "smtps" or query.get("ssl", "0").lower() in _TRUE
    use_tls = query.get("tls", "0").lower() in _TRUE
    if use_ssl and use_tls:
        raise ConfigError("EMAIL_URL cannot ask for both ssl (implicit TLS) and tls (STARTTLS)")
    try:
        timeout = float(query.get("timeout", "10"))
        port = parts.port or (465 if use_ssl else 25)
    except ValueError as exc:
        raise ConfigError(f"EMAIL_URL has a bad port or timeout: {exc}") from exc
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname or "localhost",
        "EMAIL_PORT": port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
        "EMAIL_TIMEOUT": timeout,
    }


@dataclass(frozen=True)
class RedisTarget:
    """Where Redis is: one server (``redis://``, ``rediss://``, ``unix://``), or a group that
    Redis Sentinel watches, reached through its sentinels (``sentinel://``)."""

    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""
    db: int = 0
    password: str | None = None

    @property
    def is_sentinel(self) -> bool:
        return bool(self.sentinels)

    @property
    def broker_url(self) -> str:
        """The URL in the form kombu's sentinel transport reads (the master's name goes in
        the transport options)."""
        if not self.is_sentinel:
            return self.url
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        nodes = (f"sentinel://{auth}{host}:{port}/{self.db}" for host, port in self.sentinels)
        return ";".join(nodes)


def parse_redis_url(url: str) -> RedisTarget:
    """``redis://host:6379/0`` as it is, or Redis Sentinel:
    ``sentinel://host1:26379;sentinel://host2:26379?master=NAME`` (``;`` between sentinels, as
    kombu writes them; the master's name in ``master=``, on any of them; an optional
    ``/db`` and ``:password@`` for the master)."""
    if not url.startswith("sentinel://"):
        return RedisTarget(url=url)
    sentinels, master, db, password = [], "", 0, None
    for part in url.split(";"):
        parts = urlsplit(part.strip())
        if parts.scheme != "sentinel" or not parts.hostname:
            raise ConfigError(f"REDIS_URL: {part!r} is not like sentinel://host:26379")
        try:
            sentinels.append((parts.hostname, parts.port or 26379))
        except ValueError as exc:
            raise ConfigError(f"REDIS_URL: bad port in {part!r}") from exc
        master = parse_qs(parts.query).get("master", [master])[0]
        if parts.path.strip("/"):
            if not parts.path.strip("/").isdigit():
                raise ConfigError(f"REDIS_URL: the database in {part!r} must be a number")
            db = int(parts.path.strip("/"))
        if parts.password:
            password = unquote(parts.password)
    if not master:
        raise ConfigError("REDIS_URL: a sentinel:// URL must name the master: ...?master=NAME")
    return RedisTarget(url=url, sentinels=tuple(sentinels), master=master, db=db,
                       password=password)  # fmt: skip


_CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")


def parse_reset_clients(raw: str | None) -> dict[str, str]:
    """``web=https://app.example.com/reset/{uid}/{token},ios=...`` → {name: link template}.

    Each template must contain ``{uid}`` and ``{token}`` and no other placeholder; a name is
    letters, digits, ``_``, ``.`` or ``-``. A mistake stops the service at start, not at the
    first email.
    """
    clients: dict[str, str] = {}
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        name, sep, template = item.partition("=")
        name, template = name.strip(), template.strip()
        if not sep or not _CLIENT_NAME.fullmatch(name):
            raise ConfigError(
                f"RESET_CLIENTS: {item!r} is not like name=https://.../{{uid}}/{{token}}"
            )
        if name in clients:
            raise ConfigError(f"RESET_CLIENTS: {name!r} is named twice")
        try:
            filled = template.format(uid="U", token="T")  # noqa: S106 - a test value, not a secret
        except (KeyError, IndexError, ValueError):
            filled = ""
        if "{uid}" not in template or "{token}" not in template or not filled:
            raise ConfigError(
                f"RESET_CLIENTS: the link of {name!r} must contain {{uid}} and {{token}} "
                "and no other placeholder"
            )
        if "://" not in template.split("{", 1)[0]:
            raise ConfigError(f"RESET_CLIENTS: the link of {name!r} must start with a scheme")
        clients[name] = template
    return clients


DEFAULT_THROTTLE_RATES = {
    "reset_ip": "20/min",
    "reset_email": "1/min",
    # Reset emails per normalised address per day (the API), and per account (the worker).
    "reset_email_daily": "10/day",
    "confirm_ip": "30/min",
    # Reset code exchanges (``password/reset/code/``) per client IP.
    "code_ip": "30/min",
    "change_user": "5/min",
    "login_ip": "30/min",
    # Failed logins per normalised identifier (email or username), known or not.
    "login_account": "10/hour",
    # Admin API requests per API key.
    "admin_key": "600/min",
}
THROTTLE_SCOPES = tuple(DEFAULT_THROTTLE_RATES)


def parse_throttle_rates(raw: str | None) -> dict[str, str | None]:
    """``reset_ip=20/min,reset_email=1/min`` → DRF's rate dict; ``off`` disables every scope.

    Scopes the variable does not name keep their defaults.
    """
    rates: dict[str, str | None] = dict(DEFAULT_THROTTLE_RATES)
    if raw is None or not raw.strip():
        return rates
    if raw.strip().lower() == "off":
        return {scope: None for scope in rates}
    for item in raw.split(","):
        if not item.strip():
            continue
        scope, sep, rate = item.partition("=")
        scope, rate = scope.strip(), rate.strip()
        if not sep or scope not in THROTTLE_SCOPES:
            raise ConfigError(
                f"THROTTLE_RATES: unknown scope in {item!r}; known: {THROTTLE_SCOPES}"
            )
        if rate.lower() == "off":
            rates[scope] = None
            continue
        count, _, period = rate.partition("/")
        if not count.isdigit() or not period.isalpha() or period[0] not in {"s", "m", "h", "d"}:
            raise ConfigError(f"THROTTLE_RATES: {item!r} is not like 20/min")
        rates[scope] = rate
    return rates
