"""Reset by code: the digits mailed with a reset link, for apps where a link is awkward.

A code is issued with every reset link (``shared.accounts.password_reset.issue_reset``) and stored
only as a keyed hash over itself and the state the link's token is bound to
(``shared.accounts.reset_tokens``), so only the newest email's code works and whatever spends or
kills the link kills the code too. Exchanging a code (with the address it was mailed to) gives the
``{uid, token}`` pair of a link and spends nothing: setting the password with that pair does, as
with the link itself.

A code dies after ``RESET_CODE_TIMEOUT`` seconds, and after ``RESET_CODE_MAX_ATTEMPTS`` wrong
tries: tries are counted per address (``ResetCodeTries``), for every address typed, whether an
account uses it or not, and start again after a new code is mailed. So a wrong code, an
unknown address and a dead code run the same statements (one read, one counting write) and
raise the same exception: neither the answer nor its timing tells an attacker which one it
was. The count is taken before the comparison, in one statement, so concurrent guesses cannot
get more tries between them than the limit.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, router
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from shared.accounts.reset_tokens import reset_code_digest, reset_token_generator
from shared.infra.ratelimit import normalise_identifier
from shared.models import PasswordResetNonce, ResetCodeTries

ADDRESS_KEY_SALT = "resetpass.reset_codes.address"


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


def address_key(email: str) -> str:
    """The tries counter's key for ``email``: a keyed hash, so the table holds no addresses
    (nor whatever strangers typed), and case or Unicode forms of one address share it."""
    return salted_hmac(
        ADDRESS_KEY_SALT, normalise_identifier(email), algorithm="sha256"
    ).hexdigest()


# What an address with no live code compares its window with: no window ever started before.
NO_CODE = datetime(1970, 1, 1, tzinfo=UTC)


def count_try(email: str, *, newest_code_at: datetime = NO_CODE) -> int:
    """Count one more try for ``email`` and return the count, in one statement; the count
    starts again when the address's newest code was mailed after the counted tries began."""
    connection = connections[router.db_for_write(ResetCodeTries)]
    table = connection.ops.quote_name(ResetCodeTries._meta.db_table)
    stale = f"{table}.window_start < %s"
    sql = (
        f"INSERT INTO {table} (address_key, tries, window_start, last_tried_at) "  # noqa: S608 - the model's own table name, quoted
        "VALUES (%s, 1, %s, %s) ON CONFLICT (address_key) DO UPDATE SET "
        f"tries = CASE WHEN {stale} THEN 1 ELSE {table}.tries + 1 END, "
        f"window_start = CASE WHEN {stale} THEN excluded.window_start "
        f"ELSE {table}.window_start END, "
        "last_tried_at = excluded.last_tried_at RETURNING tries"
    )
    field = ResetCodeTries._meta.get_field("last_tried_at")
    now, newest = (
        field.get_db_prep_save(moment, connection=connection)
        for moment in (timezone.now(), newest_code_at)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [address_key(email), now, now, newest, newest])
        return cursor.fetchone()[0]


def _live_codes_for(email: str) -> list[tuple]:
    """(a user holding what the code's hash covers, the stored hash, when it was mailed) for
    each live code of an active account whose address matches ``email`` case-insensitively."""
    User = get_user_model()  # noqa: N806
    field = User.get_email_field_name()
    rows = (
        PasswordResetNonce.objects.filter(
            **{f"user__{field}__iexact": email},
            user__is_active=True,
            code_expires_at__gt=timezone.now(),  # None when no code (cleared with code_hash)
        ).values_list(
            "user_id",
            "user__password",
            "user__last_login",
            f"user__{field}",
            "value",
            "code_hash",
            "rotated_at",
        )  # fmt: skip
    )
    found = []
    for pk, password, last_login, address, nonce, code_hash, mailed_at in rows:
        user = User(pk=pk, password=password, last_login=last_login, **{field: address})
        user._reset_nonce = nonce
        found.append((user, code_hash, mailed_at))
    return found


def exchange_code(email: str, code: str) -> tuple[str, str]:
    """The ``(uid, token)`` of the account at ``email`` whose live code is ``code``.

    Raises InvalidResetCode otherwise; every call, right or wrong, counts a try for the
    address before comparing, and a right code gives its try back.
    """
    User = get_user_model()  # noqa: N806
    field = User.get_email_field_name()
    candidates = _live_codes_for(email)
    newest = max((mailed_at for _, _, mailed_at in candidates), default=NO_CODE)
    within_limit = count_try(email, newest_code_at=newest) <= settings.RESET_CODE_MAX_ATTEMPTS
    matched = None
    if not candidates:  # the same work as for a wrong code
        nobody = User(pk=0, password="", last_login=None, **{field: email})
        nobody._reset_nonce = ""
        candidates = [(nobody, "", NO_CODE)]
    for user, code_hash, _ in candidates:
        # Django's rule for addresses (CVE-2019-19844): the database's case-insensitive
        # match, then an exact comparison of the normalised, case-folded forms.
        same_address = normalise_identifier(getattr(user, field)) == normalise_identifier(email)
        digest = reset_code_digest(user, code)
        if same_address and hmac.compare_digest(digest, code_hash) and code_hash:
            matched = user
    if matched is None or not within_limit:
        raise InvalidResetCode
    ResetCodeTries.objects.filter(address_key=address_key(email)).update(tries=F("tries") - 1)
    uid = urlsafe_base64_encode(force_bytes(matched.pk))
    return uid, reset_token_generator.make_token(matched)


def purge_stale_tries() -> int:
    """Delete counters whose last try is older than any live code."""
    cutoff = timezone.now() - timedelta(seconds=settings.RESET_CODE_TIMEOUT)
    deleted, _ = ResetCodeTries.objects.filter(last_tried_at__lt=cutoff).delete()
    return deleted
