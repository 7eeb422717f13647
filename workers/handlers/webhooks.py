"""``password.changed``, ``email.changed`` and ``account.locked`` for other systems (``webhooks``).

A handler fans an event out: one ``webhooks.deliver`` task per subscription that names it, on
the same queue, each retried on its own, so one slow or failing receiver delays no other, and
nothing here delays email or revocation (their queues have their own workers).
"""

from __future__ import annotations

import logging
import uuid

import httpx
from django.conf import settings

from shared.infra.upsert import upsert
from shared.messaging import dead_letters, webhooks
from shared.messaging.celery_app import app
from shared.messaging.events import ACCOUNT_LOCKED, EMAIL_CHANGED, PASSWORD_CHANGED, Event, Payload
from shared.models import DeadLetter, ProcessedEvent, WebhookSubscription
from workers.handler_tasks import HandlerFailure, handles, retry_countdown, task_argsrepr

log = logging.getLogger(__name__)

DELIVER = "webhooks.deliver"


@handles(PASSWORD_CHANGED)
def send_password_changed_webhooks(event: Event, payload: Payload) -> None:
    """One delivery per subscription to ``password.changed``."""
    fan_out(event, payload)


@handles(EMAIL_CHANGED)
def send_email_changed_webhooks(event: Event, payload: Payload) -> None:
    """One delivery per subscription to ``email.changed`` (``data.email``: the new address)."""
    fan_out(event, payload)


@handles(ACCOUNT_LOCKED)
def send_account_locked_webhooks(event: Event, payload: Payload) -> None:
    """One delivery per subscription to ``account.locked``."""
    fan_out(event, payload)


def fan_out(event: Event, payload: Payload) -> None:
    body = webhooks.delivery_body(event, payload)
    for subscription in webhooks.subscribers(event.type):
        delivery = {"id": str(event.id), "type": event.type, "subscription": subscription.pk,
                    "body": body}  # fmt: skip
        deliver.apply_async(
            args=[delivery], queue="webhooks", task_id=message_id(delivery),
            # Flower and the logs show the event's type and id, never the body (addresses).
            argsrepr=task_argsrepr(delivery), kwargsrepr="{}",
        )  # fmt: skip


def message_id(delivery: dict) -> str:
    """``<event id>.<subscription id>``: the task id and the receiver's ``webhook-id``, the
    same on every try, so either end can drop a repeat."""
    return f"{delivery['id']}.{delivery['subscription']}"


@app.task(name=DELIVER, bind=True, max_retries=None)
def deliver(self, delivery: dict) -> None:
    """POST one event to one subscription; retried with backoff on non-2xx answers, timeouts
    and connection failures, then dead-lettered (``replay_dead_letters`` sends it again).

    A subscription deleted or deactivated meanwhile gets nothing, silently."""
    if not _well_formed(delivery):
        log.error("%s refused a malformed delivery", DELIVER)
        _dead_letter(self, delivery, DeadLetter.Reason.MALFORMED, "malformed delivery")
        return
    done_marker = f"{DELIVER}:{delivery['subscription']}"
    subscription = WebhookSubscription.objects.filter(
        pk=delivery["subscription"], active=True
    ).first()
    if subscription is None:
        return
    if ProcessedEvent.objects.filter(event_id=delivery["id"], handler=done_marker).exists():
        return
    try:
        response = webhooks.post(subscription, message_id(delivery), delivery["body"])
        if not response.is_success:
            raise HandlerFailure(f"HTTP {response.status_code}")
    except webhooks.RefusedURL as exc:
        # The name resolves elsewhere now: no retry sends there. Kept for an operator.
        log.warning("webhook %s of event %s refused: %s", subscription.pk, delivery["id"], exc)
        _dead_letter(self, delivery, DeadLetter.Reason.PERMANENT_FAILURE, "refused address")
        return
    except (HandlerFailure, httpx.HTTPError) as exc:
        summary = str(exc) if isinstance(exc, HandlerFailure) else type(exc).__name__
        if self.request.retries < settings.WEBHOOK_MAX_RETRIES:
            countdown = retry_countdown(self.request.retries)
            log.warning("webhook %s of event %s will retry in %.1fs: %s",
                        subscription.pk, delivery["id"], countdown, summary)  # fmt: skip
            raise self.retry(
                exc=HandlerFailure(summary), countdown=countdown, throw=False,
                argsrepr=task_argsrepr(delivery), kwargsrepr="{}",
            ) from None  # fmt: skip
        log.error("webhook %s gave up on event %s: %s", subscription.pk, delivery["id"], summary)
        _dead_letter(self, delivery, DeadLetter.Reason.RETRIES_EXHAUSTED, summary)
        return
    upsert(ProcessedEvent, {"event_id": delivery["id"], "handler": done_marker},
           conflict=["event_id", "handler"], update=[])  # fmt: skip


def _well_formed(delivery) -> bool:
    if not isinstance(delivery, dict):
        return False
    try:
        uuid.UUID(str(delivery.get("id")))
    except ValueError:
        return False
    subscription = delivery.get("subscription")
    return (
        delivery.get("type") in webhooks.EVENT_TYPES
        and isinstance(subscription, int)
        and not isinstance(subscription, bool)
        and isinstance(delivery.get("body"), str)
    )


def _dead_letter(task, delivery: dict, reason: str, error: str) -> None:
    dead_letters.record(
        task=DELIVER, message=delivery, reason=reason, error=error,
        attempts=task.request.retries + 1,
    )  # fmt: skip
