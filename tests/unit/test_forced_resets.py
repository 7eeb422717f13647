"""Resets an administrator asks for: one user's link (mailed or handed back), and forced
resets of many users, run here by calling the worker's tasks in this process."""

from __future__ import annotations

import json
import re
import smtplib
from datetime import datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from shared.messaging.celery_app import app
from shared.messaging.events import PasswordChangedV1, make_event
from shared.models import ForcedReset, OutboxEvent
from shared.operators.api_keys import create_api_key
from shared.operators.forced_resets import make_passwords_unusable
from tests.api_client import Device
from tests.conftest import queued_messages
from tests.factories import NEW_PASSWORD, PASSWORD, make_user
from tests.unit.error_bodies import field_errors
from workers import admin_resets, forced_resets
from workers.handlers.password_changed import send_password_changed_notice

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]
User = get_user_model()
LINK = re.compile(r"https?://\S+/reset/(?P<uid>[^/\s]+)/(?P<token>[^/\s]+)/")


class Admin:
    def __init__(self):
        self.client = Client(HTTP_AUTHORIZATION=f"Api-Key {create_api_key('crm')}")

    def post(self, path: str, body):
        return self.client.post(
            f"/api/admin/{path}", data=json.dumps(body), content_type="application/json"
        )

    def get(self, path: str):
        return self.client.get(f"/api/admin/{path}")


@pytest.fixture
def admin():
    return Admin()


def run_queued_tasks(fake_redis) -> None:
    """Run, here, what the API queued on the ``email`` queue, as the worker would; the batches
    that the start task queues run at once."""
    tasks = {
        "forced_resets.start": forced_resets.start,
        "admin_resets.mail_reset_link": admin_resets.mail_reset_link_to_user,
    }
    app.conf.task_always_eager = True
    try:
        for message in queued_messages(fake_redis, "email"):
            tasks[message["headers"]["task"]].apply(
                args=[message["args"]], task_id=message["headers"]["id"]
            )
    finally:
        app.conf.task_always_eager = False
    fake_redis.delete("email")


def confirm(link: str, password: str = NEW_PASSWORD):
    match = LINK.search(link)
    body = {**match.groupdict(), "new_password1": password, "new_password2": password}
    return Device().post("password/reset/confirm/", body)


def signed_in(user):
    device = Device()
    assert device.login(PASSWORD, email=user.email).status_code == 200
    browser = Client()
    browser.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert browser.get("/accounts/password-change/").status_code == 200
    return device, browser


def users(n: int, **extra):
    return [make_user(f"user{i}", f"user{i}@example.com", **extra) for i in range(n)]


# One user, by email or handed back


def test_an_admin_reset_by_email_queues_the_reset_email_for_the_workers(admin, alice, fake_redis):
    response = admin.post(f"users/{alice.pk}/password-reset/", {})

    assert response.status_code == 202
    assert mail.outbox == []  # the API sends no mail itself
    [message] = queued_messages(fake_redis, "email")
    assert message["headers"]["task"] == "admin_resets.mail_reset_link"
    assert "alice" not in message["headers"]["argsrepr"]
    run_queued_tasks(fake_redis)
    [email] = mail.outbox
    assert email.to == ["alice@example.com"]
    assert email.subject == "Account security: Reset your password"
    assert confirm(email.body).status_code == 200


def test_a_redelivered_admin_reset_task_mails_once(alice):
    task_id = "5f0c6b8e-3f8b-4d6e-9a51-0d7d6f9b2c11"
    for _ in range(2):
        admin_resets.mail_reset_link_to_user.apply(args=[alice.pk], task_id=task_id)

    assert len(mail.outbox) == 1


def test_a_returned_link_works_with_the_confirm_api_and_kills_the_older_ones(admin, alice):
    first = admin.post(f"users/{alice.pk}/password-reset/", {"deliver": "return"}).json()
    before = timezone.now()

    response = admin.post(f"users/{alice.pk}/password-reset/", {"deliver": "return"})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"link", "code", "expires_at", "code_expires_at"}
    expires_at = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert abs(expires_at - before - timedelta(hours=1)) < timedelta(seconds=5)
    assert confirm(first["link"]).status_code == 400
    assert confirm(body["link"]).status_code == 200
    assert Device().login(NEW_PASSWORD, email="alice@example.com").status_code == 200


def test_a_returned_code_works_like_its_link_and_dies_with_it(admin, alice):
    first = admin.post(f"users/{alice.pk}/password-reset/", {"deliver": "return"}).json()
    before = timezone.now()
    body = admin.post(f"users/{alice.pk}/password-reset/", {"deliver": "return"}).json()
    device = Device()

    assert re.fullmatch(r"\d{8}", body["code"])
    code_expires_at = datetime.fromisoformat(body["code_expires_at"].replace("Z", "+00:00"))
    assert abs(code_expires_at - before - timedelta(minutes=15)) < timedelta(seconds=5)
    stale = device.post("password/reset/code/", {"email": alice.email, "code": first["code"]})
    assert stale.status_code == 400
    pair = device.post("password/reset/code/", {"email": alice.email, "code": body["code"]})
    assert pair.status_code == 200
    done = device.post(
        "password/reset/confirm/",
        {**pair.json(), "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done.status_code == 200
    assert confirm(body["link"]).status_code == 400  # the code's use spent the link


def test_an_admin_reset_of_an_unknown_user_is_a_404(admin, alice, fake_redis):
    response = admin.post("users/987654/password-reset/", {})

    assert response.status_code == 404
    assert response.json() == {"detail": "No such user.", "code": "not_found"}
    assert queued_messages(fake_redis, "email") == []


def test_an_admin_reset_of_an_inactive_user_is_a_409(admin, alice, fake_redis):
    User.objects.filter(pk=alice.pk).update(is_active=False)

    response = admin.post(f"users/{alice.pk}/password-reset/", {"deliver": "return"})

    assert response.status_code == 409
    assert queued_messages(fake_redis, "email") == []


@pytest.mark.parametrize("deliver", ["sms", "", None, ["email"], 1])
def test_an_unknown_delivery_is_a_400(admin, alice, deliver, fake_redis):
    link = admin.post(f"users/{alice.pk}/password-reset/", {"deliver": "return"}).json()["link"]

    response = admin.post(f"users/{alice.pk}/password-reset/", {"deliver": deliver})

    assert response.status_code == 400
    assert list(field_errors(response)) == ["deliver"]
    # Nothing was started: no email queued, and the link issued before still works.
    assert queued_messages(fake_redis, "email") == []
    assert confirm(link).status_code == 200


# Forced resets


def test_a_forced_reset_ends_every_token_and_session_at_once_and_mails_each_user(admin, fake_redis):
    ann, bob, kept = users(3)
    (ann_device, ann_browser), (bob_device, _) = signed_in(ann), signed_in(bob)
    kept_device, _ = signed_in(kept)

    response = admin.post("forced-resets/", {"user_ids": [ann.pk, bob.pk]})
    assert response.status_code == 202
    run_queued_tasks(fake_redis)

    for device in (ann_device, bob_device):
        assert device.sessions().status_code == 401
        assert device.refresh_tokens().status_code == 401
    assert ann_browser.get("/accounts/password-change/").status_code == 302
    assert Device().login(PASSWORD, email=ann.email).status_code == 401
    assert kept_device.sessions().status_code == 200
    assert sorted(m.to[0] for m in mail.outbox) == [ann.email, bob.email]
    assert {m.subject for m in mail.outbox} == {
        "Account security: Choose a new password for your account"
    }
    progress = admin.get(f"forced-resets/{response.json()['id']}/").json()
    assert progress == {"id": response.json()["id"], "state": "finished", "total": 2,
                        "done": 2, "failed": 0}  # fmt: skip


def test_the_link_of_a_forced_reset_sets_a_new_password(admin, alice, fake_redis):
    admin.post("forced-resets/", {"user_ids": [alice.pk]})
    run_queued_tasks(fake_redis)

    [email] = mail.outbox
    assert confirm(email.body).status_code == 200
    assert Device().login(NEW_PASSWORD, email="alice@example.com").status_code == 200


def test_a_forced_reset_publishes_password_changed_with_reason_forced(admin, alice, fake_redis):
    admin.post("forced-resets/", {"user_ids": [alice.pk]})
    run_queued_tasks(fake_redis)

    [message] = queued_messages(fake_redis, "security")
    assert message["args"]["type"] == "password.changed"
    assert message["args"]["payload"]["user_id"] == alice.pk
    assert message["args"]["payload"]["reason"] == "forced"


def test_no_password_changed_notice_follows_a_forced_reset(alice):
    payload = PasswordChangedV1(
        user_id=alice.pk, reason="forced", ip=None, user_agent="", changed_at=timezone.now()
    )

    send_password_changed_notice(make_event(payload), payload)

    assert mail.outbox == []


def test_all_covers_every_active_user_and_no_inactive_one(admin, fake_redis, monkeypatch):
    monkeypatch.setattr("shared.operators.forced_resets.BATCH_SIZE", 2)
    active = users(5)
    make_user("gone", "gone@example.com", is_active=False)

    response = admin.post("forced-resets/", {"all": True})
    run_queued_tasks(fake_redis)

    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in active)
    progress = admin.get(f"forced-resets/{response.json()['id']}/").json()
    assert (progress["state"], progress["total"], progress["done"]) == ("finished", 5, 5)
    assert User.objects.get(username="gone").has_usable_password()


def test_progress_is_queued_until_a_worker_starts_it(admin, alice):
    reset_id = admin.post("forced-resets/", {"user_ids": [alice.pk]}).json()["id"]

    assert admin.get(f"forced-resets/{reset_id}/").json() == {
        "id": reset_id, "state": "queued", "total": 0, "done": 0, "failed": 0,
    }  # fmt: skip
    assert ForcedReset.objects.get().requested_by == "crm"


def test_batches_show_user_ids_and_never_addresses(admin, fake_redis, monkeypatch):
    monkeypatch.setattr("shared.operators.forced_resets.BATCH_SIZE", 2)
    first, second, third = users(3)
    reset_id = admin.post("forced-resets/", {"all": True}).json()["id"]
    [start] = queued_messages(fake_redis, "email")
    fake_redis.delete("email")

    forced_resets.start.apply(args=[start["args"]])

    shown = [m["headers"]["argsrepr"] for m in queued_messages(fake_redis, "email")]
    assert sorted(shown) == sorted([
        f"(forced reset {reset_id}, users {first.pk}-{second.pk})",
        f"(forced reset {reset_id}, users {third.pk}-{third.pk})",
    ])  # fmt: skip


def test_a_redelivered_batch_mails_nobody_twice_and_counts_once(admin, fake_redis):
    ann, bob = users(2)
    reset_id = admin.post("forced-resets/", {"user_ids": [ann.pk, bob.pk]}).json()["id"]
    fake_redis.delete("email")
    forced_resets.start.apply(args=[reset_id])

    for _ in range(2):
        forced_resets.batch.apply(args=[reset_id, [ann.pk, bob.pk]])

    assert len(mail.outbox) == 2
    reset = ForcedReset.objects.get()
    assert (reset.state, reset.done, reset.failed) == ("finished", 2, 0)
    assert len(queued_messages(fake_redis, "security")) == 2  # one password.changed each


def test_users_deactivated_before_their_batch_count_as_failed(admin, fake_redis):
    ann, bob = users(2)
    reset_id = admin.post("forced-resets/", {"user_ids": [ann.pk, bob.pk]}).json()["id"]
    User.objects.filter(pk=bob.pk).update(is_active=False)

    run_queued_tasks(fake_redis)

    progress = admin.get(f"forced-resets/{reset_id}/").json()
    assert (progress["state"], progress["done"], progress["failed"]) == ("finished", 1, 1)
    assert [m.to[0] for m in mail.outbox] == [ann.email]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"user_ids": [1], "all": True},
        {"user_ids": []},
        {"user_ids": ["1"]},
        {"user_ids": [1.5]},
        {"user_ids": [True]},
        {"user_ids": [0]},
        {"user_ids": 1},
        {"all": False},
        {"all": "true"},
        [],
    ],
    ids=[
        "neither",
        "both",
        "empty",
        "string",
        "float",
        "bool",
        "zero",
        "not-a-list",
        "all-false",
        "all-string",
        "not-an-object",
    ],  # fmt: skip
)
def test_a_bad_forced_reset_body_is_a_400_and_starts_nothing(admin, alice, fake_redis, body):
    response = admin.post("forced-resets/", body)

    assert response.status_code == 400
    assert not ForcedReset.objects.exists()
    assert queued_messages(fake_redis, "email") == []


@pytest.mark.parametrize("as_json", [str, float, lambda pk: True], ids=["string", "float", "bool"])
def test_an_id_that_is_not_a_json_integer_is_a_400_even_when_it_names_a_user(admin, alice, as_json):
    User.objects.filter(pk=alice.pk).update(id=1)

    response = admin.post("forced-resets/", {"user_ids": [as_json(1)]})

    assert response.status_code == 400
    assert response.json()["user_ids"] == ["Item 0: A valid integer is required."]
    assert not ForcedReset.objects.exists()


def test_unknown_user_ids_are_a_400_naming_them(admin, alice):
    response = admin.post("forced-resets/", {"user_ids": [alice.pk, 987654]})

    assert response.status_code == 400
    assert "987654" in response.json()["user_ids"][0]
    assert not ForcedReset.objects.exists()


def test_an_unknown_forced_reset_is_a_404(admin):
    unknown = admin.get("forced-resets/6b0f8c1e-6a5e-4a0c-8f6e-2f5a3c9d1b7e/")
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"detail": "No such forced reset.", "code": "not_found"},
    )
    malformed = admin.get("forced-resets/not-a-uuid/")  # matches no route
    assert (malformed.status_code, malformed.json()) == (
        404,
        {"detail": "Not found.", "code": "not_found"},
    )


def test_a_user_the_mail_server_refuses_counts_as_failed_and_the_reset_still_finishes(
    admin, fake_redis, monkeypatch
):
    ann, bob = users(2)
    send = forced_resets.mail_reset_link

    def refuse_bob(user, **kwargs):
        if user.pk == bob.pk:
            raise smtplib.SMTPRecipientsRefused({bob.email: (550, b"no such mailbox")})
        send(user, **kwargs)

    monkeypatch.setattr("workers.forced_resets.mail_reset_link", refuse_bob)
    reset_id = admin.post("forced-resets/", {"user_ids": [ann.pk, bob.pk]}).json()["id"]

    run_queued_tasks(fake_redis)

    progress = admin.get(f"forced-resets/{reset_id}/").json()
    assert (progress["state"], progress["done"], progress["failed"]) == ("finished", 1, 1)
    assert [m.to[0] for m in mail.outbox] == [ann.email]


def test_a_batchs_events_wait_in_the_outbox_while_redis_is_down(alice, fake_redis):
    fake_redis.server.connected = False
    make_passwords_unusable([alice])
    fake_redis.server.connected = True

    [row] = OutboxEvent.objects.all()
    assert (row.type, row.message["payload"]["reason"]) == ("password.changed", "forced")
    alice.refresh_from_db()
    assert not alice.has_usable_password()


def test_a_batchs_events_are_marked_sent_once_redis_has_them(alice, fake_redis):
    make_passwords_unusable([alice])

    [row] = OutboxEvent.objects.all()  # kept until its handlers have finished
    assert row.sent_at is not None
    [message] = queued_messages(fake_redis, "security")
    assert message["args"]["payload"]["user_id"] == alice.pk


def test_a_forced_reset_asked_while_redis_is_down_is_a_503_and_records_nothing(
    admin, alice, fake_redis
):
    fake_redis.server.connected = False

    response = admin.post("forced-resets/", {"user_ids": [alice.pk]})

    fake_redis.server.connected = True
    assert response.status_code == 503
    assert not ForcedReset.objects.exists()


def test_an_admin_reset_by_email_while_redis_is_down_is_a_503(admin, alice, fake_redis):
    fake_redis.server.connected = False

    response = admin.post(f"users/{alice.pk}/password-reset/", {})

    fake_redis.server.connected = True
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The work queue cannot be reached. Nothing was started; try again.",
        "code": "queue_unavailable",
    }
    assert int(response["Retry-After"]) > 0
    assert queued_messages(fake_redis, "email") == []
