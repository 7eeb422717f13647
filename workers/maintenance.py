"""Periodic tasks (scheduled by Celery beat, see shared/messaging/celery_app.py). The outbox
relay is not one of them: it is a process of its own (``manage.py relay_outbox --loop``)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from shared.accounts import reset_codes
from shared.accounts.sessions import purge_expired
from shared.messaging.celery_app import app
from shared.models import DeadLetter, ProcessedEvent

log = logging.getLogger(__name__)


@app.task(name="maintenance.purge_expired_tokens", ignore_result=True)
def purge_expired_tokens() -> int:
    """Delete whitelist rows whose refresh token has expired."""
    deleted = purge_expired()
    if deleted:
        log.info("purged %d expired refresh token(s)", deleted)
    return deleted


@app.task(name="maintenance.purge_reset_code_tries", ignore_result=True)
def purge_reset_code_tries() -> int:
    """Delete the code-try counters that no live code can need any more."""
    return reset_codes.purge_stale_tries()


PROCESSED_EVENTS_KEPT = timedelta(days=7)  # far longer than any redelivery or retry


@app.task(name="maintenance.purge_processed_events", ignore_result=True)
def purge_processed_events() -> int:
    """Forget handled events once no redelivery of them can still arrive."""
    cutoff = timezone.now() - PROCESSED_EVENTS_KEPT
    deleted, _ = ProcessedEvent.objects.filter(processed_at__lt=cutoff).delete()
    return deleted


@app.task(name="maintenance.purge_dead_letters", ignore_result=True)
def purge_dead_letters() -> int:
    """Delete dead letters older than DEAD_LETTER_RETENTION_DAYS: the events they keep hold
    addresses, IPs and user agents, which are not kept forever."""
    days = settings.DEAD_LETTER_RETENTION_DAYS
    old = DeadLetter.objects.filter(created_at__lt=timezone.now() - timedelta(days=days))
    never_replayed = old.filter(replayed_at__isnull=True).count()
    deleted, _ = old.delete()
    if deleted:
        # Not silently: an operator may never have looked at some of them.
        log.log(
            logging.WARNING if never_replayed else logging.INFO,
            "purged %d dead letter(s) older than %d days, %d of them never replayed",
            deleted, days, never_replayed,
        )  # fmt: skip
    return deleted
