"""Keeping secrets out of logs: addresses and tokens are logged as short keyed hashes."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def hash_for_log(value: str) -> str:
    """A stable, keyed, non-reversible tag for ``value`` (an address, a token) in log lines.

    Keyed with SECRET_KEY so that a leaked log cannot be matched against a list of addresses.
    """
    digest = hmac.new(
        settings.SECRET_KEY.encode(), value.strip().lower().encode(), hashlib.sha256
    ).hexdigest()
    return f"h:{digest[:12]}"
