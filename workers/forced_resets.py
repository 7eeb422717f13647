"""Forced resets on the ``email`` workers: ``forced_resets.start`` cuts the users into batches,
each ``forced_resets.batch`` ends every session of its users and mails each a reset link.

A batch is idempotent: each user handled is recorded (``shared.operators.forced_resets.record``)
right after their mail, and a redelivered or retried batch skips them. A transient failure (SMTP,
database) retries the batch with backoff; when retries run out, the users left are counted as
failed, so the reset still finishes and says how many were not mailed.
"""

from __future__ import annotations

import logging

from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.auth import get_user_model

from shared.accounts.password_reset import email_of
from shared.messaging.celery_app import app
from shared.operators import forced_resets
from workers.handler_tasks import MAX_RETRIES, describe, is_transient, retry_countdown
from workers.handlers.password_reset import mail_reset_link

log = logging.getLogger(__name__)


def batch_argsrepr(reset_id: str, user_ids: list[int]) -> str:
    """What Flower shows of a batch: ids, never addresses."""
    return f"(forced reset {reset_id}, users {user_ids[0]}-{user_ids[-1]})"


@app.task(name=forced_resets.START_TASK, ignore_result=True)
def start(reset_id: str) -> int:
    """Queue the batches of a forced reset. Returns how many."""
    batches = forced_resets.begin(reset_id)
    for user_ids in batches or ():
        batch.apply_async(
            args=[reset_id, user_ids], queue=forced_resets.QUEUE,
            argsrepr=batch_argsrepr(reset_id, user_ids),
        )  # fmt: skip
    log.info("forced reset %s: %d batch(es) queued", reset_id, len(batches or ()))
    return len(batches or ())


# A batch of 500 takes seconds; a slow SMTP server may stretch it, so it gets more time than
# an event handler (still under the broker's visibility timeout).
@app.task(
    name=forced_resets.BATCH_TASK, bind=True, ignore_result=True, max_retries=MAX_RETRIES,
    soft_time_limit=600, time_limit=660,
)  # fmt: skip
def batch(self, reset_id: str, user_ids: list[int]) -> None:
    """Make each user's password unusable, mail them a reset link, count them."""
    handled = forced_resets.handled_users(reset_id, user_ids)
    todo = [pk for pk in user_ids if pk not in handled]
    users = get_user_model()._default_manager.in_bulk(todo)
    try:
        for user_id in todo:
            user = users.get(user_id)
            if user is None or not user.is_active or not email_of(user):
                forced_resets.record(reset_id, user_id, mailed=False)
                users.pop(user_id, None)
        forced_resets.make_passwords_unusable(list(users.values()))
        for user_id, user in sorted(users.items()):
            try:
                mail_reset_link(user, template="password_reset_forced")
            except Exception as exc:
                if is_transient(exc):
                    raise
                log.error("forced reset %s: user %s not mailed: %s", reset_id, user_id,
                          describe(exc))  # fmt: skip
                forced_resets.record(reset_id, user_id, mailed=False)
                continue
            forced_resets.record(reset_id, user_id, mailed=True)
    except Exception as exc:
        summary = describe(exc)
        again = is_transient(exc) or isinstance(exc, SoftTimeLimitExceeded)
        if again and self.request.retries < MAX_RETRIES:
            log.warning("forced reset %s batch will retry: %s", reset_id, summary)
            raise self.retry(
                countdown=retry_countdown(self.request.retries), throw=False,
                argsrepr=batch_argsrepr(reset_id, user_ids), kwargsrepr="{}",
            ) from None  # fmt: skip
        log.error("forced reset %s batch gave up: %s", reset_id, summary)
        left = set(user_ids) - forced_resets.handled_users(reset_id, user_ids)
        for user_id in sorted(left):
            forced_resets.record(reset_id, user_id, mailed=False)
    finally:
        if forced_resets.finish_if_complete(reset_id):
            log.info("forced reset %s finished", reset_id)
