"""Resets an administrator asks for: one user's (a link mailed or handed back), or a forced
reset of many users after a breach.

A forced reset makes each password unusable, a batch's users in one statement, so every
token and session of each user ends at once (tokens carry a fingerprint of the password
hash, Django sessions its auth hash) and ``password.changed`` (reason ``forced``) tells the
security worker and other systems. Each user is then mailed a fresh reset link. The work runs
on the workers (``workers/forced_resets.py``) in batches of ``FORCED_RESET_BATCH_SIZE`` users;
the API only records the request and queues its start.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Count, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from shared.infra.upsert import upsert
from shared.messaging.celery_app import app
from shared.messaging.events import PasswordChangedV1, make_event
from shared.messaging.publisher import publish_many
from shared.models import ForcedReset, ForcedResetUser

BATCH_SIZE = settings.FORCED_RESET_BATCH_SIZE
QUEUE = "email"  # the work ends in email: it shares that queue's workers, visible in Flower
START_TASK = "forced_resets.start"
BATCH_TASK = "forced_resets.batch"
MAIL_TASK = "admin_resets.mail_reset_link"
MAX_LISTED_USERS = 100_000


class QueueUnavailable(Exception):
    """The broker did not take the task: nothing was started."""


def _send(name: str, *, args: list, argsrepr: str, task_id: str | None = None) -> None:
    try:
        app.send_task(name, args=args, queue=QUEUE, task_id=task_id, argsrepr=argsrepr)
    except (KombuOperationalError, RedisError, OSError) as exc:
        raise QueueUnavailable(type(exc).__name__) from exc


class UnknownUsers(Exception):
    """Some of the ids given name no user."""

    def __init__(self, ids: list[int]):
        super().__init__(f"{len(ids)} unknown user id(s)")
        self.ids = ids


def _users():
    return get_user_model()._default_manager


# One user


def mail_reset_link_later(user) -> str:
    """Queue the reset email for ``user`` (the self-service one, with a fresh link) on the
    email workers. Returns the task id, which also makes a redelivered task mail once.
    Raises QueueUnavailable."""
    task_id = str(uuid.uuid4())
    _send(MAIL_TASK, args=[user.pk], task_id=task_id, argsrepr=f"(admin reset of user {user.pk})")
    return task_id


# Many users


def request_forced_reset(*, user_ids: list[int] | None, requested_by: str) -> ForcedReset:
    """Record a forced reset of ``user_ids`` (None: every active user) and queue its start.

    Raises UnknownUsers if an id names no user: a typo in a list after a breach should be
    seen, not counted quietly among the failures. Raises QueueUnavailable (and records
    nothing) if the broker cannot take the start.
    """
    if user_ids is not None:
        user_ids = sorted(set(user_ids))
        known: set[int] = set()
        for start in range(0, len(user_ids), 10_000):
            chunk = user_ids[start : start + 10_000]
            known.update(_users().filter(pk__in=chunk).values_list("pk", flat=True))
        unknown = [pk for pk in user_ids if pk not in known]
        if unknown:
            raise UnknownUsers(unknown)
    reset = ForcedReset.objects.create(user_ids=user_ids, requested_by=requested_by[:50])
    try:
        _send(START_TASK, args=[str(reset.id)], argsrepr=f"(forced reset {reset.id})")
    except QueueUnavailable:
        reset.delete()  # nothing would ever run it: the caller is told, and may ask again
        raise
    return reset


def batches_of(reset: ForcedReset) -> list[list[int]]:
    """The users of ``reset`` in id order, cut into batches; for ``all``, the users active now,
    read by keyset pagination (one indexed range read a batch, however many users)."""
    if reset.user_ids is not None:
        ids = reset.user_ids
        return [ids[i : i + BATCH_SIZE] for i in range(0, len(ids), BATCH_SIZE)]
    batches, last = [], 0
    active = _users().filter(is_active=True).order_by("pk")
    while batch := list(active.filter(pk__gt=last).values_list("pk", flat=True)[:BATCH_SIZE]):
        batches.append(batch)
        last = batch[-1]
    return batches


def begin(reset_id: str) -> list[list[int]] | None:
    """Mark the reset running with its total and return its batches; None if it is unknown
    or finished. A redelivered start returns the batches again: the batches skip the users
    already handled, so sending them twice costs nothing but the reads."""
    reset = ForcedReset.objects.filter(pk=reset_id).first()
    if reset is None or reset.state == ForcedReset.State.FINISHED:
        return None
    batches = batches_of(reset)
    total = sum(len(batch) for batch in batches)
    ForcedReset.objects.filter(pk=reset.pk, state=ForcedReset.State.QUEUED).update(
        state=ForcedReset.State.RUNNING, total=total
    )
    finish_if_complete(reset.pk)
    return batches


def handled_users(reset_id, user_ids: list[int]) -> set[int]:
    """Those of ``user_ids`` that this reset has already mailed or given up on."""
    rows = ForcedResetUser.objects.filter(reset_id=reset_id, user_id__in=user_ids)
    return set(rows.values_list("user_id", flat=True))


def make_passwords_unusable(users: list) -> None:
    """End every token and session of ``users`` at once (one statement) and publish
    ``password.changed`` (reason ``forced``) for each, in the same transaction. Users whose
    password is unusable already have nothing left to end (no password, no login) and are
    left as they are, so a retried batch publishes nothing twice. A password set between
    reading ``users`` and this write is overwritten: the forced reset wins."""
    changing = [user for user in users if user.has_usable_password()]
    if not changing:
        return
    now = timezone.now()
    for user in changing:
        user.password = make_password(None)
    events = [
        make_event(PasswordChangedV1(user_id=user.pk, reason="forced", changed_at=now))
        for user in changing
    ]
    with transaction.atomic():
        _users().bulk_update(changing, ["password"])
        publish_many(events)


def record(reset_id, user_id: int, *, mailed: bool) -> None:
    """Record one user as mailed or failed, once, however often it is recorded: one
    statement, on a row of its own (no lock shared with the other batches)."""
    upsert(ForcedResetUser, {"reset": reset_id, "user_id": user_id, "mailed": mailed},
           conflict=["reset", "user_id"], update=[])  # fmt: skip


def counts(reset_id) -> tuple[int, int]:
    """(done, failed) of a forced reset so far."""
    rows = ForcedResetUser.objects.filter(reset_id=reset_id).values("mailed")
    by_outcome = dict(rows.annotate(n=Count("id")).values_list("mailed", "n"))
    return by_outcome.get(True, 0), by_outcome.get(False, 0)


def progress(reset: ForcedReset) -> dict:
    """What the admin API shows of a forced reset: its state and its live counts."""
    done, failed = counts(reset.pk)
    return {"id": reset.pk, "state": reset.state, "total": reset.total, "done": done,
            "failed": failed}  # fmt: skip


def finish_if_complete(reset_id) -> bool:
    """Store the counts, and set ``finished`` once every user is counted: the last batch to
    end does it. Returns whether this call finished it."""
    done, failed = counts(reset_id)
    rows = ForcedReset.objects.filter(pk=reset_id)
    rows.update(done=Greatest("done", Value(done)), failed=Greatest("failed", Value(failed)))
    return bool(
        rows.filter(total__lte=done + failed)
        .exclude(state=ForcedReset.State.FINISHED)
        .update(state=ForcedReset.State.FINISHED)
    )
