"""The outbox: events kept in the database until every handler has finished with them.

An event published inside a transaction is written here in that transaction
(``shared.messaging.publisher``); one that Redis would not take is written here when it refused.
``relay_outbox`` sends what Redis never took; ``settle_outbox`` deletes what every handler has
finished, and sends again, to the handlers that have not, what Redis seems to have lost. The
relay process (``manage.py relay_outbox --loop``, the Procfile's ``relay``) runs both every
OUTBOX_RELAY_INTERVAL seconds.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from shared.messaging import celery_wire
from shared.messaging.celery_wire import PublishError
from shared.messaging.events import SUBSCRIPTIONS
from shared.models import DeadLetter, OutboxEvent, ProcessedEvent

log = logging.getLogger(__name__)

# Outbox rows the relay and the settling read per transaction.
RELAY_BATCH = 500


def keep(event_id: uuid.UUID, event_type: str, message: dict, exc: PublishError) -> None:
    """Keep an event Redis did not take, for the relay."""
    log.warning("broker unreachable, event %s %s kept in the outbox: %s", event_type, event_id, exc)
    OutboxEvent.objects.create(
        id=event_id, type=event_type, message=message, attempts=1, last_error=str(exc)
    )


def failed(ids: list, exc: PublishError) -> None:
    """Note on rows written in a transaction that Redis did not take them after commit."""
    log.warning("broker unreachable, %d event(s) left to the relay: %s", len(ids), exc)
    OutboxEvent.objects.filter(id__in=ids).update(attempts=1, last_error=str(exc))


def mark_sent(ids: list) -> None:
    """Sent, and kept until the handlers have finished (``settle_outbox``)."""
    OutboxEvent.objects.filter(id__in=ids).update(
        sent_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
    )


def relay_outbox(batch_size: int | None = None) -> int:
    """Send the events of the outbox that Redis never took, oldest first, and mark them sent.
    Returns how many were sent. ``settle_outbox`` then sees each through to its handlers.

    Rows are locked with SKIP LOCKED (on PostgreSQL), so several relays never send one row at
    the same time; if the process dies after sending and before marking, the event is sent
    again, which the handlers' idempotency absorbs.
    """
    batch_size = batch_size or RELAY_BATCH
    sent = 0
    while True:
        with transaction.atomic():
            unsent = OutboxEvent.objects.select_for_update(skip_locked=True).filter(
                sent_at__isnull=True
            )
            rows = list(unsent.order_by("created_at")[:batch_size])
            if not rows:
                return sent
            done = []
            for row in rows:
                try:
                    celery_wire.send(row.message)
                except PublishError as exc:
                    OutboxEvent.objects.filter(id=row.id).update(
                        attempts=row.attempts + 1, last_error=str(exc)
                    )
                    # The broker is down: stop here, the next run tries again.
                    mark_sent(done)
                    return sent + len(done)
                done.append(row.id)
            mark_sent(done)
            sent += len(done)
        if len(rows) < batch_size:
            return sent


def finished_handlers(event_ids: list) -> dict[uuid.UUID, set[str]]:
    """For each event, the handlers that are done with it: those that ran (``ProcessedEvent``)
    and those that gave up and left a dead letter for operators."""
    done: dict[uuid.UUID, set[str]] = defaultdict(set)
    ran = ProcessedEvent.objects.filter(event_id__in=event_ids).values_list("event_id", "handler")
    gave_up = DeadLetter.objects.filter(event_id__in=event_ids).values_list("event_id", "task")
    for event_id, handler in (*ran, *gave_up):
        done[event_id].add(handler)
    return done


class Settled(NamedTuple):
    finished: int  # rows deleted: every handler was done
    resent: int  # rows sent again to the handlers that were not


def settle_outbox(batch_size: int | None = None) -> Settled:
    """Delete the sent events that every handler has finished with; send again, to the
    handlers that have not, those sent more than OUTBOX_REDELIVER_AFTER seconds ago (Redis
    lost them: a restart without persistence, a failover to a replica that never got them).
    The handlers' idempotency absorbs a copy that was not lost after all."""
    batch_size = batch_size or RELAY_BATCH
    overdue = timezone.now() - timedelta(seconds=settings.OUTBOX_REDELIVER_AFTER)
    finished = resent = 0
    after = None  # keyset: (created_at, id) of the last row looked at
    while True:
        with transaction.atomic():
            sent = OutboxEvent.objects.select_for_update(skip_locked=True).filter(
                sent_at__isnull=False
            )
            if after is not None:
                sent = sent.filter(
                    Q(created_at__gt=after[0]) | Q(created_at=after[0], id__gt=after[1])
                )
            rows = list(sent.order_by("created_at", "id")[:batch_size])
            if not rows:
                return Settled(finished, resent)
            done = finished_handlers([row.id for row in rows])
            complete = []
            for row in rows:
                missing = {sub.task for sub in SUBSCRIPTIONS.get(row.type, ())} - done[row.id]
                if not missing:
                    complete.append(row.id)
                elif row.sent_at < overdue:
                    try:
                        celery_wire.send(row.message, only=missing)
                    except PublishError as exc:
                        OutboxEvent.objects.filter(id=row.id).update(last_error=str(exc))
                        OutboxEvent.objects.filter(id__in=complete).delete()
                        return Settled(finished + len(complete), resent)
                    log.warning(
                        "event %s %s sent again to %s: not finished %d s after it was sent",
                        row.type, row.id, ", ".join(sorted(missing)),
                        settings.OUTBOX_REDELIVER_AFTER,
                    )  # fmt: skip
                    mark_sent([row.id])
                    resent += 1
            OutboxEvent.objects.filter(id__in=complete).delete()
            finished += len(complete)
            after = (rows[-1].created_at, rows[-1].id)
        if len(rows) < batch_size:
            return Settled(finished, resent)
