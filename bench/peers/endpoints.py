"""The password-reset endpoints the benchmarks compare, with the status each answers for any
well-formed address, known or not (checked by hand against gunicorn and a real SMTP sink).

* ours: 202, JSON ``{"detail": ...}``; the email is sent later by the ``email`` worker.
* dj-rest-auth: 200, JSON ``{"detail": "Password reset e-mail has been sent."}``; one email per
  active account with a usable password whose address matches case-insensitively, sent inside
  the request.
* djoser: 204, empty body; one email to the active account with a usable password whose
  address matches exactly (case-sensitive), sent inside the request.

All three answer 400 with ``{"email": [...]}`` for a missing or malformed address.
"""

from __future__ import annotations

import json

RESET_ENDPOINTS: dict[str, dict[str, object]] = {
    "ours": {"path": "/api/auth/password/reset/", "status": 202},
    "dj-rest-auth": {"path": "/dj-rest-auth/password/reset/", "status": 200},
    "djoser": {"path": "/auth/users/reset_password/", "status": 204},
}

HEADERS = {"Content-Type": "application/json"}


def body(email: str) -> bytes:
    """The JSON request body all three endpoints accept."""
    return json.dumps({"email": email}).encode()
