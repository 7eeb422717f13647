"""Periodic tasks (scheduled by Celery beat, see shared/broker.py)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from shared.broker import app
from shared.models import ProcessedEvent
from shared.publisher import relay_outbox as relay_outbox_service
from shared.sessions import purge_expired

log = logging.getLogger(__name__)


@app.task(name="maintenance.relay_outbox", ignore_result=True)
def relay_outbox() -> int:
    """Publish the events that wait in the outbox (the broker was down, or a process died)."""
    sent = relay_outbox_service()
    if sent:
        log.info("relayed %d event(s) from the outbox", sent)
    return sent


@app.task(name="maintenance.purge_expired_tokens", ignore_result=True)
def purge_expired_tokens() -> int:
    """Delete whitelist rows whose refresh token has expired."""
    deleted = purge_expired()
    if deleted:
        log.info("purged %d expired refresh token(s)", deleted)
    return deleted


PROCESSED_EVENTS_KEPT = timedelta(days=7)  # far longer than any redelivery or retry


@app.task(name="maintenance.purge_processed_events", ignore_result=True)
def purge_processed_events() -> int:
    """Forget handled events once no redelivery of them can still arrive."""
    cutoff = timezone.now() - PROCESSED_EVENTS_KEPT
    deleted, _ = ProcessedEvent.objects.filter(processed_at__lt=cutoff).delete()
    return deleted
