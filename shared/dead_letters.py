"""Dead letters: recording the events a handler gave up on, and sending them again."""

from __future__ import annotations

import uuid

from django.utils import timezone

from shared.broker import app
from shared.events import queue_of
from shared.models import DeadLetter
from shared.publisher import task_id_for


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


def replay(letter: DeadLetter) -> None:
    """Hand the event to its handler again (a new task id; the handler's dedup still applies
    to handlers that did succeed)."""
    attempt = letter.replay_count + 1
    app.send_task(
        letter.task,
        args=[letter.message],
        queue=queue_of(letter.task),
        task_id=f"{task_id_for(letter.event_id, letter.task)}.replay{attempt}",
        argsrepr=f"({letter.event_type} event {letter.event_id}, replay {attempt})",
        kwargsrepr="{}",
    )
    DeadLetter.objects.filter(pk=letter.pk).update(replayed_at=timezone.now(), replay_count=attempt)


def pending():
    """Dead letters not replayed yet, oldest first; malformed ones cannot succeed on replay."""
    return (
        DeadLetter.objects.filter(replayed_at__isnull=True)
        .exclude(reason=DeadLetter.Reason.MALFORMED)
        .order_by("created_at")
    )
