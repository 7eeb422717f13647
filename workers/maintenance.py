"""Periodic tasks (scheduled by Celery beat, see shared/broker.py)."""

from __future__ import annotations

import logging

from shared.broker import app
from shared.publisher import relay_outbox as relay_outbox_service

log = logging.getLogger(__name__)


@app.task(name="maintenance.relay_outbox", ignore_result=True)
def relay_outbox() -> int:
    """Publish the events that wait in the outbox (the broker was down, or a process died)."""
    sent = relay_outbox_service()
    if sent:
        log.info("relayed %d event(s) from the outbox", sent)
    return sent
