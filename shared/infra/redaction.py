"""Keeping secrets out of logs and debug pages.

* Reset tokens: ``/reset/<uid>/<token>/`` keeps its uid, loses its token, in every log record.
* Passwords inside URLs (``DATABASE_URL``, ``REDIS_URL``, ``EMAIL_URL``...): masked in every log
  record and on Django's debug pages.
* Addresses (and other values worth matching across lines): logged as short keyed hashes.

The log redaction happens when a record is made (a log-record factory), not in a handler's
filter, so that it holds for every handler that exists or is added later: Django's, runserver's,
Celery's (which replaces the root handlers in a worker), gunicorn's error log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import logging.config
import re

from django.conf import settings
from django.views.debug import SafeExceptionReporterFilter as DjangoReporterFilter

from shared.infra.config import mask_url_credentials

# /reset/<uidb64>/<token>/ as in our HTML link; the uid stays, the token goes.
_RESET_PATH = re.compile(r"(/reset/[^/\s]+/)(?!set-password/)[^/\s?\"']+")


def redact(text: str) -> str:
    """``text`` without reset tokens or URL passwords."""
    return mask_url_credentials(_RESET_PATH.sub(r"\1[token]", text))


def hash_for_log(value: str) -> str:
    """A stable, keyed, non-reversible tag for ``value`` (an address, a token) in log lines.

    Keyed with SECRET_KEY so that a leaked log cannot be matched against a list of addresses.
    """
    digest = hmac.new(
        settings.SECRET_KEY.encode(), value.strip().lower().encode(), hashlib.sha256
    ).hexdigest()
    return f"h:{digest[:12]}"


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Rewrite ``record``'s message (and exception text) with secrets cut out."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format string is logging's to report
        return record
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, ()
    return record


_redacting_factory_installed = False


def install_record_factory() -> None:
    """Redact every LogRecord this process makes, once."""
    global _redacting_factory_installed
    if _redacting_factory_installed:
        return
    make_record = logging.getLogRecordFactory()

    def redacting_factory(*args, **kwargs) -> logging.LogRecord:
        return redact_record(make_record(*args, **kwargs))

    logging.setLogRecordFactory(redacting_factory)
    _redacting_factory_installed = True


def configure_logging(config: dict) -> None:
    """``LOGGING_CONFIG``: the redacting record factory, then ``LOGGING`` as usual."""
    install_record_factory()
    logging.config.dictConfig(config)


class SafeExceptionReporterFilter(DjangoReporterFilter):
    """Django's filter for debug pages and error reports, which hides values by their names
    (KEY, SECRET, PASS...), plus the password inside any URL-shaped value: ``REDIS_URL`` and
    ``DATABASE_URL`` are not secret names, but carry one."""

    def cleanse_setting(self, key, value):
        value = super().cleanse_setting(key, value)
        if isinstance(value, str):
            return mask_url_credentials(value)
        return value

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, mask_url_credentials(value) if isinstance(value, str) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
