from django.conf import settings
from django.db import models


class OutboxEvent(models.Model):
    """An event not yet handed to the broker.

    A row is written in the same transaction as the change it reports (or, outside a
    transaction, when Redis could not be reached), and deleted once the broker has the event.
    The relay (beat schedule, ``manage.py relay_outbox``) publishes whatever is left.
    """

    id = models.UUIDField(primary_key=True, editable=False, help_text="The event id.")
    type = models.CharField(max_length=64)
    message = models.JSONField(help_text="The whole envelope, as sent to the broker.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["created_at"]
        verbose_name = "outbox event"

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class PasswordResetNonce(models.Model):
    """The per-user value that every reset token of that user is bound to.

    It changes each time a link is sent, so only the newest link works, and each time a reset
    completes. It is not a secret on its own (tokens are HMACs keyed with SECRET_KEY), and no
    token is ever stored: there is nothing here to steal and replay.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="password_reset_nonce",
    )
    value = models.CharField(max_length=32)
    rotated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"reset nonce of user {self.user_id}"
