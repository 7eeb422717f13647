"""Dead letters: recording the events a handler gave up on, and sending them again."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from shared.messaging.celery_app import app
from shared.messaging.celery_wire import task_id_for
from shared.messaging.events import SUBSCRIPTIONS, queue_of
from shared.models import DeadLetter


def record(*, task: str, message, reason: str, error: str, attempts: int) -> DeadLetter:
    event_id = event_type = None
    if isinstance(message, dict):
        try:
            event_id = uuid.UUID(str(message.get("id")))
        except ValueError:
            event_id = None
        event_type = str(message.get("type", ""))[:64]
    return DeadLetter.objects.create(
        event_id=event_id, event_type=event_type or "", task=task, message=message,
        reason=reason, error=error[:2000], attempts=attempts,
    )  # fmt: skip


def replay(letter: DeadLetter, *, again: bool = False) -> bool:
    """Hand the event to its handler again (a new task id; the handler's dedup still applies
    to handlers that did succeed). A letter replayed already, even by someone else since
    ``letter`` was read, is left alone unless ``again``; returns whether it was sent."""
    attempt = letter.replay_count + 1
    # Claimed by its replay count, so that two operators replaying at once send it once.
    claim = DeadLetter.objects.filter(pk=letter.pk, replay_count=letter.replay_count)
    if not again:
        claim = claim.filter(replayed_at__isnull=True)
    # A malformed event's type may hold anything: Flower and the logs show only known ones.
    event_type = letter.event_type if letter.event_type in SUBSCRIPTIONS else "unknown"
    replayed_at = timezone.now()
    with transaction.atomic():
        if not claim.update(replayed_at=replayed_at, replay_count=attempt):
            return False
        # Inside the transaction: if the broker refuses it, the letter stays as it was.
        app.send_task(
            letter.task,
            args=[letter.message],
            queue=queue_of(letter.task),
            task_id=f"{task_id_for(letter.event_id, letter.task)}.replay{attempt}",
            argsrepr=f"({event_type} event {letter.event_id}, replay {attempt})",
            kwargsrepr="{}",
        )
    letter.replayed_at, letter.replay_count = replayed_at, attempt
    return True


def pending():
    """Dead letters not replayed yet, oldest first; malformed ones cannot succeed on replay."""
    return (
        DeadLetter.objects.filter(replayed_at__isnull=True)
        .exclude(reason=DeadLetter.Reason.MALFORMED)
        .order_by("created_at")
    )
