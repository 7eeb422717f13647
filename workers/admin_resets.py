"""A reset link an administrator asked to mail to one user (``POST
/api/admin/users/<id>/password-reset/``), sent by the ``email`` workers."""

from __future__ import annotations

import logging
import uuid

from django.contrib.auth import get_user_model

from shared.accounts.password_reset import email_of
from shared.messaging.celery_app import app
from shared.models import ProcessedEvent
from shared.operators import forced_resets
from workers.handler_tasks import MAX_RETRIES, describe, is_transient, retry_countdown
from workers.handlers.password_reset import mail_reset_link

log = logging.getLogger(__name__)


@app.task(name=forced_resets.MAIL_TASK, bind=True, ignore_result=True, max_retries=MAX_RETRIES)
def mail_reset_link_to_user(self, user_id: int) -> None:
    """The self-service reset email, with a fresh link, once per task (its id is recorded)."""
    task_id = uuid.UUID(self.request.id) if self.request.id else uuid.uuid4()
    if ProcessedEvent.objects.filter(event_id=task_id, handler=forced_resets.MAIL_TASK).exists():
        return
    user = get_user_model()._default_manager.filter(pk=user_id, is_active=True).first()
    if user is not None and email_of(user):
        try:
            mail_reset_link(user)
        except Exception as exc:
            if is_transient(exc) and self.request.retries < MAX_RETRIES:
                raise self.retry(
                    countdown=retry_countdown(self.request.retries), throw=False,
                    argsrepr=f"(admin reset of user {user_id})", kwargsrepr="{}",
                ) from None  # fmt: skip
            log.error("admin reset of user %s not mailed: %s", user_id, describe(exc))
            raise
    ProcessedEvent.objects.get_or_create(event_id=task_id, handler=forced_resets.MAIL_TASK)
