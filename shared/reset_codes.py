"""Reset by code: the digits mailed with a reset link, for apps where a link is awkward.

A code is issued with every reset link (``shared.password_reset.issue_reset``) and stored only
as a keyed hash over itself and the state the link's token is bound to (``shared.tokens``), so
only the newest email's code works and whatever spends or kills the link kills the code too.
Exchanging a code (with the address it was mailed to) gives the ``{uid, token}`` pair of a
link and spends nothing: setting the password with that pair does, as with the link itself.

A code also dies after ``RESET_CODE_MAX_ATTEMPTS`` wrong tries and ``RESET_CODE_TIMEOUT``
seconds. A wrong code, an unknown address and a dead code raise the same exception after the
same statements (one locking read and one update), so neither the answer nor its timing tells
an attacker which one it was.
"""

from __future__ import annotations

import hmac
import secrets
import unicodedata

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from shared.models import PasswordResetNonce
from shared.tokens import reset_code_digest, reset_token_generator


class InvalidResetCode(Exception):
    """Wrong code, unknown address, or a code that is used, superseded, expired or out of
    tries: deliberately one case."""


def new_code() -> str:
    """``RESET_CODE_LENGTH`` uniformly random digits (leading zeros kept)."""
    length = settings.RESET_CODE_LENGTH
    return f"{secrets.randbelow(10**length):0{length}d}"


def normalise_code(text: str) -> str | None:
    """The code in what someone typed (``1234 5678``, ``1234-5678``), or None if it cannot be
    one: then there is nothing to look up."""
    code = "".join(text.split()).replace("-", "")
    if code.isascii() and code.isdigit() and len(code) == settings.RESET_CODE_LENGTH:
        return code
    return None


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _live_codes_for(email: str):
    """The live codes of active accounts whose address matches ``email`` case-insensitively."""
    field = get_user_model().get_email_field_name()
    return PasswordResetNonce.objects.filter(
        **{f"user__{field}__iexact": email},
        user__is_active=True,
        code_failed_attempts__lt=settings.RESET_CODE_MAX_ATTEMPTS,
        code_expires_at__gt=timezone.now(),
    ).exclude(code_hash="")


def exchange_code(email: str, code: str) -> tuple[str, str]:
    """The ``(uid, token)`` of the account at ``email`` whose live code is ``code``.

    Raises InvalidResetCode otherwise, after counting a wrong try against every live code of
    that address. The rows are locked while they are compared and counted, so concurrent
    guesses cannot get more than ``RESET_CODE_MAX_ATTEMPTS`` tries between them (PostgreSQL;
    SQLite runs one writer at a time).
    """
    field = get_user_model().get_email_field_name()
    live = _live_codes_for(email)
    matched = None
    with transaction.atomic():
        rows = list(live.select_for_update(of=("self",)).select_related("user"))
        for row in rows:
            row.user._reset_nonce = row.value
            # Django's rule for addresses (CVE-2019-19844): the database's case-insensitive
            # match, then an exact comparison of the normalised, case-folded forms.
            same_address = _folded(getattr(row.user, field)) == _folded(email)
            digest = reset_code_digest(row.user, code)
            if same_address and hmac.compare_digest(digest, row.code_hash):
                matched = row.user
        if not rows:  # the same work as a wrong code
            nobody = get_user_model()(pk=0)
            nobody._reset_nonce = ""
            reset_code_digest(nobody, code)
        if matched is None:
            live.update(code_failed_attempts=F("code_failed_attempts") + 1)
    if matched is None:
        raise InvalidResetCode
    uid = urlsafe_base64_encode(force_bytes(matched.pk))
    return uid, reset_token_generator.make_token(matched)
