"""Password validators Django lacks."""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import os

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from pwned_passwords_django.api import PwnedPasswords
from pwned_passwords_django.exceptions import PwnedPasswordsError
from pwned_passwords_django.validators import PwnedPasswordsValidator

logger = logging.getLogger(__name__)


class MaximumLengthValidator:
    """Refuse passwords longer than ``max_length``: hashing cost and request size stay bounded
    however long a password an attacker posts. 4096 leaves room for any passphrase or
    password-manager output."""

    def __init__(self, max_length: int = 4096):
        self.max_length = max_length

    def validate(self, password: str, user=None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                ngettext(
                    "This password is too long. It must contain at most %(max_length)d character.",
                    "This password is too long. It must contain at most %(max_length)d characters.",
                    self.max_length,
                ),
                code="password_too_long",
                params={"max_length": self.max_length},
            )

    def get_help_text(self) -> str:
        return ngettext(
            "Your password can’t be longer than %(max_length)d character.",
            "Your password can’t be longer than %(max_length)d characters.",
            self.max_length,
        ) % {"max_length": self.max_length}


# Orders in which people type "consecutive" characters: digits (after 9 comes 0 again), the
# alphabet, the letter rows of QWERTY, QWERTZ and AZERTY keyboards, and the shifted US digit row.
_SEQUENCES = (
    "01234567890",
    "abcdefghijklmnopqrstuvwxyz",
    "qwertyuiop", "asdfghjkl", "zxcvbnm",
    "qwertzuiop", "yxcvbnm",
    "azertyuiop", "qsdfghjklm", "wxcvbn",
    "!@#$%^&*()",
)  # fmt: skip
# One map per sequence and direction: character -> the character that continues a run.
_STEPS = [dict(zip(seq[:-1], seq[1:], strict=True)) for seq in _SEQUENCES] + [
    dict(zip(seq[1:], seq[:-1], strict=True)) for seq in _SEQUENCES
]


def _repeats_a_block(text: str, max_block: int) -> bool:
    """Whether ``text`` is a block of at most ``max_block`` characters written at least twice
    over, the last copy possibly cut short ("abcabcab")."""
    for size in range(1, min(max_block, len(text) // 2) + 1):
        if all(text[i] == text[i - size] for i in range(size, len(text))):
            return True
    return False


def _characters_in_runs(text: str, min_run: int) -> int:
    """How many characters of ``text`` belong to a run of at least ``min_run`` characters that
    are identical, or consecutive in one of _SEQUENCES in one direction."""
    covered = [False] * len(text)
    for step in (None, *_STEPS):
        start = 0
        for i in range(1, len(text) + 1):
            if i < len(text) and (
                text[i] == text[i - 1] if step is None else step.get(text[i - 1]) == text[i]
            ):
                continue
            if i - start >= min_run:
                covered[start:i] = [True] * (i - start)
            start = i
    return sum(covered)


class RepetitiveOrSequentialValidator:
    """Refuse passwords that are a short pattern repeated, or mostly runs of identical or
    consecutive characters (NIST SP 800-63B's "repetitive or sequential characters").

    After case-folding, a password is refused when

    * it is a block of at most ``max_block`` (6) characters written again and again, the last
      copy possibly cut short: "aaaaaaaaaaaa", "abcabcabcabc", "blue42blue42";
    * or more than ``max_run_share`` (half) of its characters belong to runs of at least
      ``min_run`` (3) characters that are identical ("aaa") or consecutive, up or down, in the
      digits (9 then 0 continues a run), the alphabet or a keyboard row:
      "123456789012", "abcdefghijkl", "qwertyuiopas", "lkjhgfdsa321", "aaaa1234bbbb".

    Passphrases pass: words hold few such runs ("rst" in "first"), never most of their letters.
    """

    def __init__(self, max_block: int = 6, min_run: int = 3, max_run_share: float = 0.5):
        self.max_block = max_block
        self.min_run = min_run
        self.max_run_share = max_run_share

    @sensitive_variables()
    def validate(self, password: str, user=None) -> None:
        """Raise ValidationError if ``password`` is repetitive or mostly sequential."""
        text = password.casefold()
        if _repeats_a_block(text, self.max_block):
            raise ValidationError(
                _(
                    "This password only repeats a short pattern (like “abcabcabc”). "
                    "Choose one that is harder to guess."
                ),
                code="password_repetitive",
            )
        if text and _characters_in_runs(text, self.min_run) > self.max_run_share * len(text):
            raise ValidationError(
                _(
                    "This password is mostly sequences or repeated characters (like “12345”, "
                    "“qwerty” or “aaaa”). Choose one that is harder to guess."
                ),
                code="password_sequential",
            )

    def get_help_text(self) -> str:
        """The rule, as shown next to password fields."""
        return gettext(
            "Your password can’t be mostly repeated or sequential characters (like “aaaa”, "
            "“abcabc”, “12345” or “qwerty”)."
        )


class _RangeClient(PwnedPasswords):
    """pwned-passwords-django's client for one range endpoint: it sends only the first five
    hex characters of the password's SHA-1 (and asks for padded answers)."""

    def __init__(self, endpoint: str, timeout: float):
        super().__init__()
        self.api_endpoint = endpoint
        self.request_timeout = httpx.Timeout(timeout)


@functools.lru_cache(maxsize=4)
def _range_client(endpoint: str, timeout: float) -> _RangeClient:
    # One per endpoint and process, so that connections (and TLS sessions) are reused.
    return _RangeClient(endpoint, timeout)


def _new_lookup_pool() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="pwned-passwords")


_lookups = _new_lookup_pool()  # starts no thread until its first lookup


def _forget_lookups_after_fork() -> None:
    # A forked child has none of its parent's threads, and must not share its sockets.
    global _lookups
    _lookups = _new_lookup_pool()
    _range_client.cache_clear()


os.register_at_fork(after_in_child=_forget_lookups_after_fork)


def _range_endpoint() -> str | None:
    """The range API URL to ask, ending in "/", or None when PWNED_PASSWORDS_URL is "off"."""
    configured = getattr(settings, "PWNED_PASSWORDS_URL", "").strip()
    if configured.lower() == "off":
        return None
    if not configured:
        return PwnedPasswords.api_endpoint
    return configured.rstrip("/") + "/"


class BreachedPasswordValidator(PwnedPasswordsValidator):
    """Refuse passwords that Pwned Passwords has seen in a data breach.

    Asks the range API at ``settings.PWNED_PASSWORDS_URL`` (read at each use; "off" skips the
    check) with the first five hex characters of the password's SHA-1 only (k-anonymity).
    If no answer comes within ``timeout`` seconds in all, or the lookup fails, the check is
    skipped with one warning in the log: a breach list that cannot be reached must not stop
    anyone from setting a password. (Django's CommonPasswordValidator, also configured, still
    applies; the library's own fallback to it would only repeat its message.)
    """

    def __init__(self, timeout: float = 1.0):
        super().__init__(
            error_message=_("This password has appeared in a data breach. Choose another one."),
            help_message=_("Your password can’t be one that has appeared in a data breach."),
        )
        self.timeout = timeout

    @sensitive_variables()
    def validate(self, password: str, user=None) -> None:
        """Raise ValidationError if the range API lists ``password``; skip if it cannot tell."""
        endpoint = _range_endpoint()
        if endpoint is None:
            return
        # httpx's timeouts bound each phase but not their sum, nor a DNS lookup: waiting on a
        # thread bounds the whole.
        lookup = _lookups.submit(_range_client(endpoint, self.timeout).check_password, password)
        try:
            count = lookup.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            lookup.cancel()
            logger.warning(
                "Breached-password check skipped: no answer from Pwned Passwords within %s s",
                self.timeout,
            )
            return
        except PwnedPasswordsError as exc:
            detail = exc.params.get("status_code") or exc.params.get("exception_class")
            logger.warning(
                "Breached-password check skipped: Pwned Passwords lookup failed (%s)",
                f"{exc.code.value} {detail}" if detail else exc.code.value,
            )
            return
        if count:
            raise ValidationError(self.error_message["singular"], code="password_breached")
