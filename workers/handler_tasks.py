"""Declaring event handlers.

A handler is a plain function ``(event, payload) -> None`` registered with ``@handles``, which turns
it into a Celery task named ``handlers.<function name>`` on the queue that
``shared.messaging.events.SUBSCRIPTIONS`` assigns to it. The task validates the envelope, skips
events this handler already handled (``ProcessedEvent``, by event id), then calls the function;
transient failures (SMTP, network, database) are retried with exponential backoff and jitter.
"""

from __future__ import annotations

import logging
import random
import smtplib
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError

from shared.infra.upsert import upsert
from shared.messaging import dead_letters
from shared.messaging.celery_app import app
from shared.messaging.events import SUBSCRIPTIONS, Event, EventError, Payload, parse_event
from shared.models import DeadLetter, ProcessedEvent

log = logging.getLogger(__name__)

Handler = Callable[[Event, Payload], None]

# Seconds before the first retry (doubling each time), the cap, and how many retries: about
# 17 minutes of trying with the defaults. The cap stays under the broker's visibility timeout.
RETRY_BASE = settings.HANDLER_RETRY_BASE
RETRY_BACKOFF_MAX = settings.HANDLER_RETRY_MAX_DELAY
MAX_RETRIES = settings.HANDLER_MAX_RETRIES


def is_transient(exc: BaseException) -> bool:
    """Whether another try may succeed: 4xx SMTP replies, dropped or refused connections,
    timeouts and database outages are; 5xx SMTP replies and programming errors are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPNotSupportedError):
        return isinstance(exc, smtplib.SMTPServerDisconnected)
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, ConnectionError | TimeoutError | OSError) and not isinstance(
        exc, smtplib.SMTPException
    )


class HandlerFailure(Exception):
    """What a failed or retried task reports to Celery (and so to its logs and Flower): the
    kind of failure without its details, which for SMTP name the recipients."""


def describe(exc: BaseException) -> str:
    """A log-safe summary: exception type and SMTP reply codes, never addresses."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        return f"SMTPRecipientsRefused codes={codes}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__} code={exc.smtp_code}"
    return type(exc).__name__


def retry_countdown(retries: int) -> float:
    """Exponential backoff with jitter: half the step fixed, half random, so that a burst of
    failures (an SMTP outage) does not come back as a burst."""
    step = min(RETRY_BACKOFF_MAX, RETRY_BASE * 2**retries)
    return step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not a secret


def handles(event_type: str) -> Callable[[Handler], Handler]:
    """Register ``func`` as the handler of ``event_type`` named in SUBSCRIPTIONS."""

    def register(func: Handler) -> Handler:
        name = f"handlers.{func.__name__}"
        if not any(sub.task == name for sub in SUBSCRIPTIONS.get(event_type, ())):
            raise LookupError(
                f"{name} is not subscribed to {event_type} in shared.messaging.events"
            )

        @app.task(
            name=name,
            bind=True,
            max_retries=MAX_RETRIES,
        )
        def task(self, message: dict) -> None:
            try:
                try:
                    event, payload = parse_event(message)
                    if event.type != event_type:
                        raise EventError(f"{name} does not handle {event.type}")
                except EventError:
                    # Retrying cannot fix a malformed message. Its content may hold
                    # addresses, so the log names only what it claimed to be.
                    claimed = message.get("type") if isinstance(message, dict) else None
                    log.error("%s refused a malformed event (type %r)", name, claimed)
                    dead_letters.record(
                        task=name, message=message, reason=DeadLetter.Reason.MALFORMED,
                        error="malformed event", attempts=self.request.retries + 1,
                    )  # fmt: skip
                    return
                if ProcessedEvent.objects.filter(event_id=event.id, handler=name).exists():
                    log.info("%s already handled event %s; redelivery ignored", name, event.id)
                    return
                func(event, payload)
                upsert(ProcessedEvent, {"event_id": event.id, "handler": name},
                       conflict=["event_id", "handler"], update=[])  # fmt: skip
            except Exception as exc:
                give_up(self, name, message, exc)

        func.task = task  # type: ignore[attr-defined]
        return func

    return register


def give_up(task, name: str, message, exc: Exception):
    """Retry a transient failure; otherwise record a dead letter. Always raises."""
    summary = describe(exc)
    transient = is_transient(exc)
    tries = task.request.retries + 1
    if transient and task.request.retries < MAX_RETRIES:
        countdown = retry_countdown(task.request.retries)
        log.warning("%s will retry event %s in %.1fs: %s", name, _id(message), countdown, summary)
        raise _retry(task, message, summary, countdown=countdown) from None
    log.error("%s gave up on event %s after %d tries: %s", name, _id(message), tries, summary)
    reason = (
        DeadLetter.Reason.RETRIES_EXHAUSTED if transient else DeadLetter.Reason.PERMANENT_FAILURE
    )
    try:
        dead_letters.record(
            task=name, message=message, reason=reason, error=summary, attempts=tries
        )
    except DatabaseError:
        # Not even the dead letter can be written: keep the message alive instead.
        log.error("%s cannot record the dead letter of %s; retrying later", name, _id(message))
        raise _retry(
            task, message, summary, countdown=RETRY_BACKOFF_MAX, max_retries=None
        ) from None
    raise HandlerFailure(summary) from None


def _retry(task, message, summary: str, **options):
    """Send the task again and return the Retry for the caller to raise ``from None``."""
    # Celery re-sends a retried task without the argsrepr its first message had, so Flower and
    # the worker would show repr(args): the whole event, addresses included. Give it again.
    # throw=False: raised inside task.retry, the Retry would carry the handler's exception as
    # its context, and Flower shows that traceback, SMTP recipients included.
    return task.retry(
        exc=HandlerFailure(summary), argsrepr=task_argsrepr(message), kwargsrepr="{}",
        throw=False, **options,
    )  # fmt: skip


def task_argsrepr(message) -> str:
    """What Celery shows of a task's arguments (Flower, worker logs): ``(<type> event <id>)``,
    as ``shared.messaging.celery_wire.task_messages`` writes it, from the event's type and id only
    if they
    look like ones, never its payload."""
    event_type = message.get("type") if isinstance(message, dict) else None
    if not (isinstance(event_type, str) and event_type in SUBSCRIPTIONS):
        event_type = "unknown"
    return f"({event_type} event {_id(message)})"


def _id(message) -> str:
    # Only a UUID: the id is logged and shown, and a malformed message may hold anything there.
    try:
        return str(uuid.UUID(str(message.get("id"))))
    except (AttributeError, ValueError):
        return "?"
