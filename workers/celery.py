"""Entry point for ``celery -A workers.celery ...``: the shared app plus every handler."""

import os

# Before the settings load: workers keep their PostgreSQL connections in a pool (api/settings.py),
# one connection per busy thread at most.
os.environ.setdefault("DB_POOL_SIZE", "32")

from shared.messaging.celery_app import app  # noqa: E402

app.conf.imports = (
    "workers.handlers.password_reset",
    "workers.handlers.password_changed",
    "workers.handlers.account_locked",
    "workers.handlers.email_change",
    "workers.handlers.webhooks",
    "workers.maintenance",
    "workers.admin_resets",
    "workers.forced_resets",
)

__all__ = ["app"]
