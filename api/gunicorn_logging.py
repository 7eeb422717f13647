"""gunicorn's access log, with reset tokens cut out of request paths."""

from __future__ import annotations

from gunicorn.glogging import Logger

# /accounts/reset/<uidb64>/<token>/ carries a live token until the view swaps it for the
# session; the log keeps the shape of the URL, not the secret.
from shared.logging import redact


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms
