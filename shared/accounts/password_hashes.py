"""Password hashes made elsewhere: which ones this service can take as they are.

A team moving its users in brings their hashes, not their passwords. A hash is taken when one
of the configured hashers (``PASSWORD_HASHERS``: PBKDF2, argon2, bcrypt, scrypt) recognises its
algorithm and can read it; the password it was made from then logs in, and Django rehashes it
with the preferred hasher at that first login.
"""

from __future__ import annotations

from django.contrib.auth.hashers import identify_hasher


def is_recognised_hash(value: object) -> bool:
    """Whether ``value`` is a password hash a configured hasher can check."""
    if not isinstance(value, str) or not value or value.startswith("!"):
        return False
    try:
        hasher = identify_hasher(value)
        hasher.decode(value)  # the parts must parse, not only the algorithm prefix
    except (ValueError, TypeError, NotImplementedError):
        return False
    return True
