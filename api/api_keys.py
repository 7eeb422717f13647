"""API keys of the admin API (djangorestframework-api-key): ``Authorization: Api-Key <key>``.

The library stores only a hash of each key and checks it; we add a check of the key's shape
before any database lookup, so that whatever an attacker sends in the header (any length,
any character) costs at most one indexed query and never reaches the database as an error.
"""

from __future__ import annotations

import re

from rest_framework_api_key.permissions import HasAPIKey, KeyParser

# The library's keys: an 8-character public prefix, a dot, a 32-character secret.
KEY_SHAPE = re.compile(r"[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}")


class AdminKeyParser(KeyParser):
    def get(self, request) -> str | None:
        key = super().get(request)
        return key if key is not None and KEY_SHAPE.fullmatch(key) else None


ADMIN_KEY_PARSER = AdminKeyParser()


class HasAdminAPIKey(HasAPIKey):
    """A valid (known, unrevoked, unexpired) key in the Authorization header."""

    key_parser = ADMIN_KEY_PARSER
