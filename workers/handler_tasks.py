"""Declaring event handlers.

A handler is a plain function ``(event, payload) -> None`` registered with ``@handles``, which turns
it into a Celery task named ``handlers.<function name>`` on the queue that
``shared.messaging.events.SUBSCRIPTIONS`` assigns to it. The task validates the envelope, skips
events this handler already handled (``ProcessedEvent``, by event id), then calls the function.

Retries are Celery's (``HandlerTask``: ``autoretry_for``, ``max_retries``): a transient failure
(SMTP 4xx, network, database) is raised as ``TransientFailure`` and Celery retries it; when the
retries run out, or at once for a permanent failure, the task fails and its failure hook
records a dead letter. Only the wait between tries is ours (``retry_countdown``). What reaches
Celery, and so its logs and Flower, is the kind of failure, never its details (SMTP errors name
the recipients).
"""

from __future__ import annotations

import logging
import random
import smtplib
import uuid
from collections.abc import Callable

from celery import Task
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError

from shared.infra.upsert import row_exists, upsert
from shared.messaging import celery_wire, dead_letters
from shared.messaging.celery_app import app
from shared.messaging.events import SUBSCRIPTIONS, Event, EventError, Payload, parse_event
from shared.models import DeadLetter, ProcessedEvent

log = logging.getLogger(__name__)

Handler = Callable[[Event, Payload], None]

# Seconds before the first retry (doubling each time), the cap, and how many retries: between
# 4 and 8.5 minutes of trying with the defaults. The cap stays under the broker's visibility
# timeout.
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


class TransientFailure(HandlerFailure):
    """Another try may succeed: Celery retries it (``HandlerTask.autoretry_for``)."""


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
    failures (an SMTP outage) does not come back as a burst, and the retries last at least half
    their schedule. Celery's own ``retry_backoff`` draws the whole wait at random (full jitter):
    its eight retries may all come within seconds, and a 20-second SMTP outage then left 5
    emails of 20 as dead letters (tests/integration/test_faults.py)."""
    step = min(RETRY_BACKOFF_MAX, RETRY_BASE * 2**retries)
    return step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not a secret


class HandlerTask(Task):
    """The Celery task class of every handler."""

    autoretry_for = (TransientFailure,)
    max_retries = MAX_RETRIES
    retry_backoff = False  # the wait is retry_countdown's (see there why)

    def retry(self, args=None, kwargs=None, exc=None, throw=True, **options):
        if options.get("countdown") is None and options.get("eta") is None:
            options["countdown"] = retry_countdown(self.request.retries)
        # Celery re-sends a retried task without the argsrepr its first message had, so Flower
        # and the worker would show repr(args): the whole event, addresses included.
        message = (args if args is not None else self.request.args or [None])[0]
        options.setdefault("argsrepr", task_argsrepr(message))
        options.setdefault("kwargsrepr", "{}")
        if self.request.retries < self.max_retries:
            log.warning(
                "%s will retry event %s in %.1fs: %s",
                self.name, _id(message), options.get("countdown"), exc,
            )  # fmt: skip
        return super().retry(args, kwargs, exc, throw, **options)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        """The task gave up: a permanent failure, or a transient one out of retries. Its event
        goes to the dead letters, for operators to replay."""
        message = args[0] if args else None
        tries = self.request.retries + 1
        log.error("%s gave up on event %s after %d tries: %s", self.name, _id(message), tries, exc)
        reason = (
            DeadLetter.Reason.RETRIES_EXHAUSTED
            if isinstance(exc, TransientFailure)
            else DeadLetter.Reason.PERMANENT_FAILURE
        )
        try:
            dead_letters.record(
                task=self.name, message=message, reason=reason, error=str(exc), attempts=tries
            )
        except DatabaseError:
            # Not even the dead letter can be written: keep the message alive instead.
            log.error(
                "%s cannot record the dead letter of %s; retrying later", self.name, _id(message)
            )
            self.apply_async(
                args=args, task_id=self.request.id, countdown=RETRY_BACKOFF_MAX,
                retries=self.request.retries + 1, argsrepr=task_argsrepr(message),
                kwargsrepr="{}",
            )  # fmt: skip


def handles(event_type: str) -> Callable[[Handler], Handler]:
    """Register ``func`` as the handler of ``event_type`` named in SUBSCRIPTIONS."""

    def register(func: Handler) -> Handler:
        name = f"handlers.{func.__name__}"
        if not any(sub.task == name for sub in SUBSCRIPTIONS.get(event_type, ())):
            raise LookupError(
                f"{name} is not subscribed to {event_type} in shared.messaging.events"
            )

        @app.task(name=name, bind=True, base=HandlerTask)
        def task(self, message: dict) -> None:
            try:
                event, payload = parse_event(message)
                if event.type != event_type:
                    raise EventError(f"{name} does not handle {event.type}")
            except EventError:
                # Retrying cannot fix a malformed message. Its content may hold addresses, so
                # the log names only what it claimed to be.
                claimed = message.get("type") if isinstance(message, dict) else None
                log.error("%s refused a malformed event (type %r)", name, claimed)
                dead_letters.record(
                    task=name, message=message, reason=DeadLetter.Reason.MALFORMED,
                    error="malformed event", attempts=self.request.retries + 1,
                )  # fmt: skip
                return
            try:
                if row_exists(ProcessedEvent, event_id=event.id, handler=name):
                    log.info("%s already handled event %s; redelivery ignored", name, event.id)
                    return
                func(event, payload)
                upsert(ProcessedEvent, {"event_id": event.id, "handler": name},
                       conflict=["event_id", "handler"], update=[])  # fmt: skip
            except Exception as exc:
                # Only the kind of failure goes on; "from None" keeps the details (SMTP
                # recipients) out of the traceback Celery logs and Flower shows.
                failure = TransientFailure if is_transient(exc) else HandlerFailure
                raise failure(describe(exc)) from None

        func.task = task  # type: ignore[attr-defined]
        return func

    return register


def task_argsrepr(message) -> str:
    """What Celery shows of a task's arguments (Flower, worker logs): ``(<type> event <id>)``,
    as ``shared.messaging.celery_wire.task_messages`` writes it, from the event's type and id only
    if they
    look like ones, never its payload."""
    event_type = message.get("type") if isinstance(message, dict) else None
    if not (isinstance(event_type, str) and event_type in SUBSCRIPTIONS):
        event_type = "unknown"
    return celery_wire.argsrepr({"type": event_type, "id": _id(message)})


def _id(message) -> str:
    # Only a UUID: the id is logged and shown, and a malformed message may hold anything there.
    try:
        return str(uuid.UUID(str(message.get("id"))))
    except (AttributeError, ValueError):
        return "?"
