"""API keys of the admin API, by name: made and revoked by the operator's commands.

The key itself is shown once, when it is made; the database keeps only its hash (the
djangorestframework-api-key library's ``APIKey``). A name names at most one live key, so that
``revoke_api_key NAME`` ends exactly the key the operator means.
"""

from __future__ import annotations

from django.db import transaction
from rest_framework_api_key.models import APIKey


class KeyNameInUse(Exception):
    """A live (unrevoked) key already has this name."""


class NoSuchKey(Exception):
    """No live key has this name."""


def create_api_key(name: str) -> str:
    """A new key named ``name``; returns the key, which nothing stores in the clear."""
    with transaction.atomic():
        if APIKey.objects.select_for_update().filter(name=name, revoked=False).exists():
            raise KeyNameInUse(name)
        _, key = APIKey.objects.create_key(name=name)
    return key


def revoke_api_key(name: str) -> None:
    """End the live key named ``name`` (for good: the library refuses to unrevoke one)."""
    if not APIKey.objects.filter(name=name, revoked=False).update(revoked=True):
        raise NoSuchKey(name)
