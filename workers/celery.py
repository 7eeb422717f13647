"""Entry point for ``celery -A workers.celery ...``: the shared app plus every handler."""

from shared.broker import app

app.conf.imports = (
    "workers.handlers.password_reset",
    "workers.handlers.password_changed",
    "workers.maintenance",
)

__all__ = ["app"]
