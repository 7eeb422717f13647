"""The event envelope: the only thing that crosses from the API to the workers.

Every event is ``{"id", "type", "version", "occurred_at", "payload"}``; each (type, version)
has a payload schema, checked when the API builds the event and again when a worker receives
it, so a malformed or unknown event is refused at both ends instead of half-handled.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PASSWORD_RESET_REQUESTED = "password.reset_requested"  # noqa: S105 - an event name
PASSWORD_CHANGED = "password.changed"  # noqa: S105 - an event name
ACCOUNT_LOCKED = "account.locked"
EMAIL_CHANGE_REQUESTED = "email.change_requested"
EMAIL_CHANGED = "email.changed"


class EventError(ValueError):
    """An envelope or payload that does not match its schema."""


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)
    event_type: ClassVar[str]
    version: ClassVar[int]


class RequestOrigin(Payload):
    """Who asked, for events a request causes: the client's IP address, its user agent (cut to
    512 characters: the requester chooses it) and the language the worker writes in."""

    ip: str | None = Field(default=None, max_length=45)
    user_agent: str = Field(default="", max_length=512)
    language: str = Field(default="en", max_length=16)

    @field_validator("user_agent", mode="before")
    @classmethod
    def _truncate_user_agent(cls, value: Any) -> Any:
        return value[:512] if isinstance(value, str) else value


class PasswordResetRequestedV1(RequestOrigin):
    """Someone asked for a reset link. The address is as typed: the worker, not the API,
    finds the accounts that use it."""

    event_type: ClassVar[str] = PASSWORD_RESET_REQUESTED
    version: ClassVar[int] = 1

    email: str = Field(min_length=3, max_length=254)
    # The front end (``RESET_CLIENTS``) whose link the email carries; None: the default link.
    client: str | None = Field(default=None, max_length=32)


class PasswordChangedV1(RequestOrigin):
    """A password was set, by a completed reset or by a change, or made unusable by a forced
    reset (``forced``: an administrator's, after a breach)."""

    event_type: ClassVar[str] = PASSWORD_CHANGED
    version: ClassVar[int] = 1

    user_id: int
    reason: str = Field(pattern=r"^(reset|change|forced)$")
    keep_session_key: str | None = Field(default=None, max_length=64)
    keep_token_family: str | None = Field(default=None, max_length=64)
    changed_at: datetime


class AccountLockedV1(Payload):
    """An account was closed to its holder: every session and token it had must end.

    ``deactivated`` and ``deleted`` come from the admin API; a deleted user's id names rows
    that are gone already, and tells other systems (webhooks) whom to forget. ``not_me``: its
    owner confirmed a "this wasn't me" link; the password is unusable and a fresh reset link
    goes to the address on the account (in ``language``)."""

    event_type: ClassVar[str] = ACCOUNT_LOCKED
    version: ClassVar[int] = 1

    user_id: int
    reason: str = Field(pattern=r"^(deactivated|deleted|not_me)$")
    locked_at: datetime
    language: str = Field(default="en", max_length=16)
    # not_me: the address the account has after the lock (it may have been given back), so
    # that subscribers who mirror addresses drop an intruder's.
    email: str | None = Field(default=None, max_length=254)
    # not_me: False when the address the notice went to could not be given back (another
    # account has it now): the account keeps an address the intruder may hold, so no reset
    # link is mailed to it; an operator must step in.
    reset_link: bool = True


class EmailChangeRequestedV1(RequestOrigin):
    """A signed-in user asked to move their account to ``new_email`` (their password checked).
    The worker mails that address a confirmation link, or, if another account uses it, a
    "someone tried to use this address" notice: the API answers the same either way."""

    event_type: ClassVar[str] = EMAIL_CHANGE_REQUESTED
    version: ClassVar[int] = 1

    user_id: int
    new_email: str = Field(min_length=3, max_length=254)
    # The account's state when asked (shared.accounts.change_links.account_state: a keyed
    # fingerprint of the password hash and address): a change since leaves it without a link.
    state: str = Field(default="", max_length=64)


class EmailChangedV1(RequestOrigin):
    """An account's address changed (a confirmed self-service change). The old address is told,
    with a "this wasn't me" link that locks the account and gives the old address back."""

    event_type: ClassVar[str] = EMAIL_CHANGED
    version: ClassVar[int] = 1

    user_id: int
    old_email: str = Field(max_length=254)
    new_email: str = Field(min_length=3, max_length=254)
    changed_at: datetime


PAYLOADS: dict[tuple[str, int], type[Payload]] = {
    (cls.event_type, cls.version): cls
    for cls in (
        PasswordResetRequestedV1,
        PasswordChangedV1,
        AccountLockedV1,
        EmailChangeRequestedV1,
        EmailChangedV1,
    )  # fmt: skip
}


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID
    type: str
    version: int = Field(ge=1)
    occurred_at: datetime
    payload: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _must_be_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() != UTC.utcoffset(None):
            raise ValueError("occurred_at must be in UTC")
        return value

    def typed_payload(self) -> Payload:
        schema = PAYLOADS.get((self.type, self.version))
        if schema is None:
            raise EventError(f"no schema for event {self.type} v{self.version}")
        try:
            return schema.model_validate(self.payload)
        except ValidationError as exc:
            raise EventError(f"{self.type} v{self.version}: {exc}") from exc

    def to_message(self) -> dict[str, Any]:
        """The JSON-safe dict that travels through the broker."""
        return {
            "id": str(self.id),
            "type": self.type,
            "version": self.version,
            "occurred_at": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "payload": self.payload,
        }


def make_event(payload: Payload) -> Event:
    return Event(
        id=uuid.uuid4(),
        type=payload.event_type,
        version=payload.version,
        occurred_at=datetime.now(UTC),
        payload=payload.model_dump(mode="json"),
    )


def parse_event(message: Any) -> tuple[Event, Payload]:
    """Validate a received message: the envelope, then the payload its type and version name."""
    if not isinstance(message, dict):
        raise EventError("an event must be a JSON object")
    try:
        event = Event.model_validate(message)
    except ValidationError as exc:
        raise EventError(f"bad envelope: {exc}") from exc
    if event.id.version != 4:
        raise EventError("event id must be a uuid4")
    return event, event.typed_payload()


class Subscription(BaseModel):
    model_config = ConfigDict(frozen=True)
    task: str
    queue: str


# Who handles what, and on which queue. The publisher sends one task message per subscription,
# so each handler retries and is deduplicated on its own. Worker side: workers/handlers/.
SUBSCRIPTIONS: dict[str, tuple[Subscription, ...]] = {
    PASSWORD_RESET_REQUESTED: (
        Subscription(task="handlers.send_password_reset_email", queue="email"),
    ),
    PASSWORD_CHANGED: (
        Subscription(task="handlers.revoke_user_sessions", queue="security"),
        Subscription(task="handlers.send_password_changed_notice", queue="email"),
        Subscription(task="handlers.send_password_changed_webhooks", queue="webhooks"),
    ),
    ACCOUNT_LOCKED: (
        Subscription(task="handlers.end_locked_account_sessions", queue="security"),
        Subscription(task="handlers.send_account_locked_reset_link", queue="email"),
        Subscription(task="handlers.send_account_locked_webhooks", queue="webhooks"),
    ),
    EMAIL_CHANGE_REQUESTED: (
        Subscription(task="handlers.send_email_change_confirmation", queue="email"),
    ),
    EMAIL_CHANGED: (
        Subscription(task="handlers.send_email_changed_notice", queue="email"),
        Subscription(task="handlers.send_email_changed_webhooks", queue="webhooks"),
    ),
}

# Tasks that handlers send on, rather than events: one webhook delivery per subscriber.
FOLLOW_UP_TASKS = {"webhooks.deliver": "webhooks"}

QUEUES = ("email", "security", "webhooks")


def queue_of(task: str) -> str:
    """The queue a handler's (or a follow-up) task runs on."""
    if task in FOLLOW_UP_TASKS:
        return FOLLOW_UP_TASKS[task]
    for subs in SUBSCRIPTIONS.values():
        for sub in subs:
            if sub.task == task:
                return sub.queue
    raise LookupError(f"{task} handles no event")
