"""Users moved in from another system, with their password hashes, so no one needs a reset.

One JSON object a line, in either of two shapes (both may appear in one file):

- flat: ``{"email", "username", "password_hash", "is_active", "date_joined", "first_name",
  "last_name"}``, all but ``email`` optional;
- a record of ``manage.py dumpdata auth.user --format jsonl`` from another Django project:
  ``{"model": "auth.user", "pk": ..., "fields": {"password", "email", ...}}``. Its ``pk`` is
  ignored (ids are ours) and so are ``is_staff``, ``is_superuser``, groups and permissions:
  an import never grants admin rights.

Every line is checked before anything is written, and the writes run in one transaction: a
file with a bad line imports nothing unless the caller asks to skip bad lines. Nothing is
hashed here; hashes are stored as they are and Django rehashes each with the preferred hasher
at that user's first login.

Rules, in the order an operator meets them:

- An address is matched case-insensitively, in the file and against accounts here. A second
  line with an address already seen in the file is a bad line (which of two differing records
  is right is not the import's guess to make).
- A hash starting with ``!`` (Django's mark of an unusable password), an empty one or none at
  all gives the user an unusable password: they get in with a reset. Any other hash must be
  one a configured hasher recognises.
- An address already here: the file's hash replaces the password unless that user has logged
  in here (their password is then the one they use here); ``first_name``, ``last_name`` and
  ``date_joined`` are taken from the file when it has them. ``username`` and ``is_active`` are
  left as they are: deactivating is the admin API's job, which also ends sessions.
- A new user without a username gets one made from the address. A username already used by
  another account gets a suffix (``-2``, ``-3``, ...); the report counts those.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from shared.accounts.password_hashes import is_recognised_hash

BATCH_SIZE = 2000
NAME_MAX_LENGTH = 150
EMAIL_MAX_LENGTH = 254
HASH_MAX_LENGTH = 128

_email_validator = EmailValidator()
_username_validator = UnicodeUsernameValidator()
_username_allowed = frozenset("@.+-_")


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """One good line: what it sets. ``None`` means the line does not say."""

    line: int
    email: str
    username: str | None
    password_hash: str | None  # a recognised hash; None for an unusable password
    date_joined: datetime | None
    is_active: bool | None
    first_name: str | None
    last_name: str | None

    @property
    def key(self) -> str:
        return self.email.upper()


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that was not imported, and why. Never holds the line itself: it may carry a
    hash, and its address is personal data."""

    line: int
    reason: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    renamed: int = 0  # new users whose username was taken here and got a suffix
    bad: list[BadLine] = field(default_factory=list)


class ImportRefused(Exception):  # noqa: N818 - it names what the operator sees
    """The file has bad lines and skipping them was not asked for: nothing was imported."""

    def __init__(self, bad: list[BadLine]):
        super().__init__(f"{len(bad)} bad line(s); nothing imported")
        self.bad = bad


class _Bad(Exception):  # noqa: N818 - internal: a line's reason for refusal
    pass


def import_users(
    lines: Iterable[str],
    *,
    skip_bad: bool = False,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Create or update the users ``lines`` (JSON lines) describe; see the module docstring.

    Raises ``ImportRefused``, having written nothing, when any line is bad and ``skip_bad``
    is false. ``progress(done, total)`` is called after each batch is written.
    """
    records, bad = read_records(lines)
    if bad and not skip_bad:
        raise ImportRefused(bad)
    report = ImportReport(bad=bad)
    with transaction.atomic():
        for start in range(0, len(records), batch_size):
            _write_batch(records[start : start + batch_size], report)
            if progress is not None:
                progress(min(start + batch_size, len(records)), len(records))
        if report.bad and not skip_bad:
            # Found only against the database (an address two accounts here share); raising
            # inside the transaction rolls back what was written.
            raise ImportRefused(sorted(report.bad, key=lambda b: b.line))
    report.bad.sort(key=lambda b: b.line)
    return report


def read_records(lines: Iterable[str]) -> tuple[list[ImportRecord], list[BadLine]]:
    """Check every line; return the good ones as records and the bad ones with reasons.
    Blank lines are skipped."""
    records: list[ImportRecord] = []
    bad: list[BadLine] = []
    first_line_of: dict[str, int] = {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            record = _parse(number, text)
            seen = first_line_of.setdefault(record.key, number)
            if seen != number:
                raise _Bad(f"address already on line {seen}")
        except _Bad as refusal:
            bad.append(BadLine(number, str(refusal)))
            continue
        records.append(record)
    return records, bad


def _parse(number: int, text: str) -> ImportRecord:
    try:
        data = json.loads(text)
    except ValueError:
        raise _Bad("malformed JSON") from None
    if not isinstance(data, dict):
        raise _Bad("not a JSON object")
    if "model" in data or "fields" in data:
        if str(data.get("model", "")).lower() != "auth.user" or not isinstance(
            data.get("fields"), dict
        ):
            raise _Bad('not an "auth.user" record of dumpdata')
        data, hash_key = data["fields"], "password"
    else:
        if "password" in data:
            raise _Bad('a plain "password" is not taken; give "password_hash"')
        hash_key = "password_hash"
    return ImportRecord(
        line=number,
        email=_email(data.get("email")),
        username=_username(data.get("username")),
        password_hash=_password_hash(data.get(hash_key), hash_key),
        date_joined=_date(data.get("date_joined")),
        is_active=_flag(data.get("is_active"), "is_active"),
        first_name=_name(data.get("first_name"), "first_name"),
        last_name=_name(data.get("last_name"), "last_name"),
    )


def _email(value: object) -> str:
    if value is None or value == "":
        raise _Bad("no email address")
    if not isinstance(value, str) or len(value) > EMAIL_MAX_LENGTH:
        raise _Bad("invalid email address")
    try:
        _email_validator(value)
    except ValidationError:
        raise _Bad("invalid email address") from None
    return BaseUserManager.normalize_email(value)


def _username(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > NAME_MAX_LENGTH:
        raise _Bad("invalid username")
    try:
        _username_validator(value)
    except ValidationError:
        raise _Bad("invalid username") from None
    return value


def _password_hash(value: object, key: str) -> str | None:
    if value is None or value == "" or (isinstance(value, str) and value.startswith("!")):
        return None
    if not isinstance(value, str) or len(value) > HASH_MAX_LENGTH or not is_recognised_hash(value):
        raise _Bad(f"{key}: no configured hasher recognises it")
    return value


def _date(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise _Bad("date_joined: not an ISO 8601 date and time")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _flag(value: object, key: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise _Bad(f"{key}: not true or false")


def _name(value: object, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > NAME_MAX_LENGTH:
        raise _Bad(f"{key}: not a string of at most {NAME_MAX_LENGTH} characters")
    return value


def unusable_password() -> str:
    """What ``make_password(None)`` makes, in a microsecond instead of seventy: an unusable
    mark and a random tail (so the stored value says nothing about the account)."""
    return UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(30)


def _write_batch(batch: list[ImportRecord], report: ImportReport) -> None:
    User = get_user_model()  # noqa: N806
    email_field = User.get_email_field_name()
    # One query for the batch, on Upper(email): the expression migration 0005 indexes.
    existing: dict[str, list] = {}
    for user in User._default_manager.alias(_address=Upper(email_field)).filter(
        _address__in=[record.key for record in batch]
    ):
        existing.setdefault(getattr(user, email_field).upper(), []).append(user)

    new: list = []
    changed: list = []
    for record in batch:
        found = existing.get(record.key)
        if not found:
            new.append(_new_user(User, record))
        elif len(found) > 1:
            report.bad.append(BadLine(record.line, "address used by more than one account here"))
        elif _update(found[0], record):
            changed.append(found[0])
        else:
            report.unchanged += 1

    report.renamed += _make_usernames_unique(User, new)
    User._default_manager.bulk_create(new)
    report.created += len(new)
    if changed:
        User._default_manager.bulk_update(
            changed, ["password", "first_name", "last_name", "date_joined"]
        )
        report.updated += len(changed)


def _new_user(User, record: ImportRecord):  # noqa: N803 - a model class
    return User(
        **{User.get_email_field_name(): record.email},
        username=record.username or _username_from(record.email),
        password=record.password_hash or unusable_password(),
        is_active=True if record.is_active is None else record.is_active,
        date_joined=record.date_joined or timezone.now(),
        first_name=record.first_name or "",
        last_name=record.last_name or "",
        is_staff=False,
        is_superuser=False,
    )


def _username_from(email: str) -> str:
    # Room is left for a suffix should the name be taken.
    name = "".join(c if c.isalnum() or c in _username_allowed else "_" for c in email.lower())
    return name[: NAME_MAX_LENGTH - 8]


def _update(user, record: ImportRecord) -> bool:
    """Apply ``record`` to an account already here; whether anything changed."""
    wanted = {
        "first_name": record.first_name,
        "last_name": record.last_name,
        "date_joined": record.date_joined,
    }
    if record.password_hash is not None and user.last_login is None:
        wanted["password"] = record.password_hash
    changed = False
    for name, value in wanted.items():
        if value is not None and getattr(user, name) != value:
            setattr(user, name, value)
            changed = True
    return changed


def _make_usernames_unique(User, new: list) -> int:  # noqa: N803
    """Give a suffix to each new user whose username another account (here, or earlier in
    the import) has; return how many were renamed."""
    base = {id(user): user.username for user in new}
    attempt = dict.fromkeys(base, 1)
    pending = list(new)
    in_batch: set[str] = set()
    renamed: set[int] = set()
    while pending:
        taken = set(
            User._default_manager.filter(
                username__in=[user.username for user in pending]
            ).values_list("username", flat=True)
        )
        retry = []
        for user in pending:
            if user.username in taken or user.username in in_batch:
                attempt[id(user)] += 1
                suffix = f"-{attempt[id(user)]}"
                user.username = base[id(user)][: NAME_MAX_LENGTH - len(suffix)] + suffix
                renamed.add(id(user))
                retry.append(user)
            else:
                in_batch.add(user.username)
        pending = retry
    return len(renamed)
