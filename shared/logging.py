"""Log hygiene: reset tokens never reach a log line, whoever logs the URL."""

from __future__ import annotations

import logging
import re

# /reset/<uidb64>/<token>/ as in our HTML link; the uid stays, the token goes.
_RESET_PATH = re.compile(r"(/reset/[^/\s]+/)(?!set-password/)[^/\s?\"']+")


def redact(text: str) -> str:
    return _RESET_PATH.sub(r"\1[token]", text)


class RedactResetTokens(logging.Filter):
    """Rewrites a record's message with reset tokens cut out (Django logs request paths on
    4xx and 5xx, gunicorn on every request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True
