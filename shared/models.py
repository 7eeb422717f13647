import uuid

from django.conf import settings
from django.db import models


class OutboxEvent(models.Model):
    """An event that some handler may still need: the database's copy, kept until every
    handler has finished with it.

    A row is written in the same transaction as the change it reports (or, outside a
    transaction, when Redis could not be reached). Once Redis has the event, ``sent_at`` is
    set; the row stays until each subscribed handler has recorded that it ran
    (``ProcessedEvent``) or given up (``DeadLetter``). The relay (its own process,
    ``manage.py relay_outbox --loop``) sends the rows never sent, deletes the finished ones, and
    sends again, to the handlers that have not finished, the rows sent more than
    OUTBOX_REDELIVER_AFTER seconds ago: Redis restarted empty, or failed over to a replica
    that had not received them. ``manage.py outbox_status`` shows the backlog.
    """

    id = models.UUIDField(primary_key=True, editable=False, help_text="The event id.")
    type = models.CharField(max_length=64)
    message = models.JSONField(help_text="The whole envelope, as sent to the broker.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Times it was sent or tried.")
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When Redis last took it; empty: not sent yet."
    )

    class Meta:
        ordering = ["created_at"]
        verbose_name = "outbox event"
        indexes = [models.Index(fields=["sent_at", "created_at"], name="outbox_sent_created")]

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
    # The code mailed with the newest link, as a keyed hash over it and the state the link's
    # token covers (``shared.accounts.reset_codes``); empty when no code is live.
    code_hash = models.CharField(max_length=64, blank=True, default="")
    code_expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"reset nonce of user {self.user_id}"


class ChangeLink(models.Model):
    """A one-time link mailed about a change to an account: the confirmation of a new address
    (``confirm_email``, to that address), or "this wasn't me" (``not_me``, in the notice of a
    password or address change).

    Only a keyed hash of the link's secret is stored. Each link answers one change
    (``change_id``: the event that asked for it) and works once (``used_at``), within its
    lifetime (``EMAIL_CHANGE_TIMEOUT``, ``NOT_ME_TIMEOUT``)."""

    class Purpose(models.TextChoices):
        CONFIRM_EMAIL = "confirm_email", "confirm a new address"
        NOT_ME = "not_me", "this wasn't me"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="change_links"
    )
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    change_id = models.UUIDField(help_text="The event the link answers.")
    secret_hash = models.CharField(max_length=64, unique=True)
    # confirm_email: the address to set, and the account's state when it was asked (a password
    # or address change since then kills the link). not_me after an address change: the address
    # a lock gives back.
    new_email = models.EmailField(max_length=254, blank=True, default="")
    old_email = models.EmailField(max_length=254, blank=True, default="")
    state = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["purpose", "change_id"], name="one_link_per_change")
        ]
        indexes = [models.Index(fields=["user", "purpose"])]

    def __str__(self) -> str:
        return f"{self.purpose} link of user {self.user_id}"


class RefreshToken(models.Model):
    """The whitelist: one row per signed-in session (a refresh-token family), holding the jti
    of the family's current refresh token.

    A refresh token is honoured only while its jti is here. Each refresh swaps the jti (a
    compare-and-set); presenting a jti that was swapped out means a copy of an old token is in
    someone's hands, and the whole family is deleted.
    """

    jti = models.CharField(max_length=64, unique=True)
    family = models.UUIDField(unique=True, help_text="The session: stable across rotations.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="refresh_tokens"
    )
    created_at = models.DateTimeField(help_text="When the session began (login).")
    last_used_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"], name="refresh_user_created")]

    def __str__(self) -> str:
        return f"session {self.family} of user {self.user_id}"


class UserSession(models.Model):
    """Which Django sessions (cookie logins) belong to which user, recorded at login.

    Django's session table is keyed by session key only; ending a user's sessions would mean
    decoding every row. This index makes it a lookup of that user's rows.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="browser_sessions"
    )
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"], name="usersession_user_created")]

    def __str__(self) -> str:
        return f"browser session of user {self.user_id}"


class ProcessedEvent(models.Model):
    """Handlers that already ran for an event: a redelivered event is not handled twice."""

    event_id = models.UUIDField()
    handler = models.CharField(max_length=100)
    processed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event_id", "handler"], name="processed_event_once")
        ]

    def __str__(self) -> str:
        return f"{self.handler} {self.event_id}"


class DeadLetter(models.Model):
    """An event a handler could not handle: retries ran out, the failure was permanent, or
    the message was malformed. Kept for operators to read (Django admin) and replay
    (``manage.py replay_dead_letters``); nothing is dropped silently."""

    class Reason(models.TextChoices):
        RETRIES_EXHAUSTED = "retries_exhausted", "retries exhausted"
        PERMANENT_FAILURE = "permanent_failure", "permanent failure"
        MALFORMED = "malformed", "malformed event"

    event_id = models.UUIDField(null=True, blank=True, db_index=True)
    event_type = models.CharField(max_length=64, blank=True, default="")
    task = models.CharField(max_length=100, help_text="The handler's task name.")
    message = models.JSONField(help_text="The event as received.")
    reason = models.CharField(max_length=32, choices=Reason.choices)
    error = models.TextField(help_text="What failed, without personal data.")
    attempts = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replay_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.task} {self.event_id} ({self.reason})"


class ForcedReset(models.Model):
    """A reset forced on many accounts at once (after a breach), and how far it has got.

    The workers make each password unusable, which ends every token and session of that user
    at once, and mail each user a fresh reset link, in batches (``workers/forced_resets.py``).
    ``done`` counts users mailed, ``failed`` users who could not be (gone, inactive by then, or
    refused by the mail server); the batch that brings ``done + failed`` to ``total`` sets
    ``finished`` (``done`` and ``failed`` are counted from ``ForcedResetUser`` rows, and stored
    here at the end of each batch).
    """

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        FINISHED = "finished"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    user_ids = models.JSONField(null=True, blank=True, help_text="None: every active user.")
    requested_by = models.CharField(max_length=50, blank=True, default="",
                                    help_text="The name of the API key that asked.")  # fmt: skip

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"forced reset {self.id} ({self.state}, {self.done + self.failed}/{self.total})"


class WebhookSubscription(models.Model):
    """Another system's URL that receives the events it names, signed with its own secret
    (Standard Webhooks). The secret is kept as it is, since signing needs it; the admin API
    shows it once, when the subscription is made (``shared/messaging/webhooks.py``)."""

    url = models.URLField(max_length=2000)
    events = models.JSONField(help_text="The event types it receives.")
    secret = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"webhook subscription {self.pk}"


class ForcedResetUser(models.Model):
    """One user handled by a forced reset, written right after their mail (or the failure to
    send it): a redelivered batch skips them, and the progress is counted from these rows.
    One row a user rather than a counter on ``ForcedReset``: dozens of batches incrementing one
    row would queue on its lock."""

    reset = models.ForeignKey(ForcedReset, on_delete=models.CASCADE, related_name="users")
    user_id = models.BigIntegerField(help_text="No foreign key: the user may be deleted since.")
    mailed = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["reset", "user_id"], name="forced_reset_user_once")
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} in {self.reset_id}"


class ResetCodeTries(models.Model):
    """Code exchanges tried for one address since its newest code was mailed.

    Keyed by a keyed hash of the normalised address, and written on every exchange, for
    addresses with an account or without one alike (``shared.accounts.reset_codes``): a wrong code
    and an unknown address then cost the same write. The count starts again at the first
    try after a newer code was mailed (``window_start``), so mailing a code writes nothing
    here; rows are purged RESET_CODE_TIMEOUT after their last try.
    """

    address_key = models.CharField(max_length=64, primary_key=True)
    tries = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField(help_text="The first try counted in ``tries``.")
    last_tried_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["last_tried_at"], name="reset_code_tries_last")]

    def __str__(self) -> str:
        return f"{self.tries} code tries for {self.address_key[:8]}"
