""" "This wasn't me": the notice of a password change carries a one-time link; opening it changes
nothing, confirming it (a CSRF-protected POST) locks the account at once. Handlers run here, in
this process, from the task messages the API queued (the worker's own code, as it would)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from shared.accounts import change_links
from shared.accounts.not_me import lock_account
from shared.models import ChangeLink
from shared.operators.user_admin import update_user
from tests.api_client import Device
from tests.conftest import queued_messages
from tests.factories import NEW_PASSWORD, PASSWORD, issue_link
from workers.celery import app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]

INTRUDERS_PASSWORD = "the intruder's long passphrase"
NOT_ME = re.compile(r"https?://[^/\s]+(/accounts/not-me/([\w-]+)/([\w-]+)/)")
RESET = re.compile(r"https?://[^/\s]+/accounts/reset/([\w-]+)/([\w-]+)/")


def run_queue(fake_redis, queue: str) -> list[str]:
    """Run the handler of each task message waiting in ``queue``, oldest first as a worker
    takes them; their names, in order."""
    app.loader.import_default_modules()  # the worker's handler modules (workers/celery.py)
    names = []
    for message in reversed(queued_messages(fake_redis, queue)):
        name = message["headers"]["task"]
        app.tasks[name].apply(args=[message["args"]], task_id=message["headers"]["id"])
        names.append(name)
    fake_redis.delete(queue)
    return names


def events_queued(fake_redis, queue: str) -> list[tuple[str, dict]]:
    return [(m["args"]["type"], m["args"]["payload"]) for m in queued_messages(fake_redis, queue)]


def intruder_changes_password(fake_redis) -> Device:
    """Someone who knows alice's password signs in and changes it; the notice goes out."""
    intruder = Device("intruder's browser", ip="203.0.113.66")
    assert intruder.login(PASSWORD, username="alice").status_code == 200
    assert intruder.change_password(PASSWORD, INTRUDERS_PASSWORD).status_code == 200
    mail.outbox.clear()
    run_queue(fake_redis, "email")
    fake_redis.delete("security", "webhooks")
    return intruder


def not_me_path() -> tuple[str, str, str]:
    """The path, uid and token of the "this wasn't me" link in the one notice sent."""
    [notice] = mail.outbox
    assert notice.subject == "Account security: Your password was changed"
    match = NOT_ME.search(notice.body)
    assert match, notice.body
    assert match.group(0) in notice.alternatives[0][0]
    return match.group(1), match.group(2), match.group(3)


def open_link(client: Client, path: str):
    """Open a link as a browser does: its redirect to the token-free page, then that page."""
    entered = client.get(path)
    assert entered.status_code == 302, entered
    assert entered["Referrer-Policy"] == "no-referrer"
    page_path = entered["Location"]
    assert path.rsplit("/", 2)[-2] not in page_path  # the token left the address bar
    return page_path, client.get(page_path)


def csrf_post(client: Client, path: str):
    return client.post(path, {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_opening_the_link_shows_what_a_lock_does_and_changes_nothing(alice, fake_redis):
    intruder = intruder_changes_password(fake_redis)
    path, _, _ = not_me_path()
    owner = Client(enforce_csrf_checks=True)

    page_path, page = open_link(owner, path)
    assert page.status_code == 200
    assert b"Lock your account?" in page.content
    assert page["Cache-Control"] == "no-store" or "no-store" in page["Cache-Control"]
    # Opening it a second time (a mail scanner, then the owner) changes nothing either.
    assert open_link(Client(), path)[1].status_code == 200

    user = get_user_model().objects.get(pk=alice.pk)
    assert user.check_password(INTRUDERS_PASSWORD)
    assert intruder.sessions().status_code == 200
    assert queued_messages(fake_redis, "security") == []
    assert ChangeLink.objects.get(purpose="not_me").used_at is None


def test_confirming_locks_the_account_at_once_and_mails_a_fresh_reset_link(alice, fake_redis):
    owner_device = Device("owner's phone")
    assert owner_device.login(PASSWORD, username="alice").status_code == 200
    intruder = intruder_changes_password(fake_redis)
    path, _, _ = not_me_path()
    owner = Client(enforce_csrf_checks=True)
    page_path, _ = open_link(owner, path)

    done = csrf_post(owner, page_path)

    assert done.status_code == 200
    assert b"Your account is locked" in done.content
    user = get_user_model().objects.get(pk=alice.pk)
    assert not user.has_usable_password()
    # No worker has run yet: every token is refused from the commit on.
    assert intruder.sessions().status_code == 401
    assert intruder.refresh_tokens().status_code == 401
    assert Device().login(INTRUDERS_PASSWORD, username="alice").status_code == 401
    assert Device().login(PASSWORD, username="alice").status_code == 401
    for queue in ("security", "email", "webhooks"):
        [(event_type, payload)] = events_queued(fake_redis, queue)
        assert (event_type, payload["reason"]) == ("account.locked", "not_me")

    mail.outbox.clear()
    assert run_queue(fake_redis, "email") == ["handlers.send_account_locked_reset_link"]
    [reset_mail] = mail.outbox
    assert reset_mail.to == ["alice@example.com"]
    assert reset_mail.subject == "Account security: Your account is locked: choose a new password"
    uid, token = RESET.search(reset_mail.body).groups()
    confirmed = Device().post(
        "password/reset/confirm/",
        {"uid": uid, "token": token, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert confirmed.status_code == 200
    assert Device().login(NEW_PASSWORD, username="alice").status_code == 200


def test_the_lock_ends_the_stored_sessions_too(alice, fake_redis):
    intruder_changes_password(fake_redis)
    path, _, _ = not_me_path()
    owner = Client(enforce_csrf_checks=True)
    csrf_post(owner, open_link(owner, path)[0])
    assert alice.refresh_tokens.exists()
    run_queue(fake_redis, "security")
    assert not alice.refresh_tokens.exists()


def test_a_post_without_the_csrf_token_locks_nothing(alice, fake_redis):
    intruder_changes_password(fake_redis)
    path, _, _ = not_me_path()
    owner = Client(enforce_csrf_checks=True)
    page_path, _ = open_link(owner, path)
    assert owner.post(page_path, {}).status_code == 403
    assert get_user_model().objects.get(pk=alice.pk).check_password(INTRUDERS_PASSWORD)
    assert queued_messages(fake_redis, "security") == []


def test_the_link_works_once(alice, fake_redis):
    intruder_changes_password(fake_redis)
    path, _, _ = not_me_path()
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    first_page, _ = open_link(first, path)
    second_page, _ = open_link(second, path)  # opened in two tabs before either confirms
    assert b"Your account is locked" in csrf_post(first, first_page).content
    fake_redis.delete("security", "email", "webhooks")

    late = csrf_post(second, second_page)
    assert late.status_code == 200
    assert b"This link no longer works" in late.content
    again = Client().get(path)
    assert again.status_code == 200 and b"This link no longer works" in again.content
    assert again["Referrer-Policy"] == "no-referrer"
    assert queued_messages(fake_redis, "security") == []


def test_the_link_answers_its_own_change_and_account_only(alice, fake_redis):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    intruder_changes_password(fake_redis)
    path, uid, token = not_me_path()
    bob_uid = issue_link(bob)["uid"]
    for forged in (
        path.replace(uid, bob_uid),  # alice's token on bob's account
        path.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B")),
        path.replace(uid, "not-base64!"),
        path.replace(token, "x" * 5),
    ):
        response = Client().get(forged)
        assert response.status_code == 200, forged
        assert b"This link no longer works" in response.content
    assert bob.password == get_user_model().objects.get(pk=bob.pk).password


def test_a_later_change_does_not_kill_the_earlier_link(alice, fake_redis):
    """The intruder changes the password again, hoping to kill the notice the owner got: the
    owner's link still locks the account."""
    intruder = intruder_changes_password(fake_redis)
    first_path, _, _ = not_me_path()
    assert intruder.change_password(INTRUDERS_PASSWORD, "yet another long passphrase").status_code
    owner = Client(enforce_csrf_checks=True)
    done = csrf_post(owner, open_link(owner, first_path)[0])
    assert b"Your account is locked" in done.content
    assert not get_user_model().objects.get(pk=alice.pk).has_usable_password()


def test_the_link_dies_after_not_me_timeout(alice, fake_redis, settings):
    intruder_changes_password(fake_redis)
    path, _, _ = not_me_path()
    ChangeLink.objects.update(
        created_at=timezone.now() - timedelta(seconds=settings.NOT_ME_TIMEOUT + 1)
    )
    response = Client().get(path)
    assert b"This link no longer works" in response.content
    assert get_user_model().objects.get(pk=alice.pk).check_password(INTRUDERS_PASSWORD)


def test_only_a_hash_of_the_link_is_stored(alice, fake_redis):
    intruder_changes_password(fake_redis)
    _, _, token = not_me_path()
    [link] = ChangeLink.objects.all()
    assert token not in str(link.__dict__)
    assert len(link.secret_hash) == 64


def test_a_browser_signed_in_as_the_owner_is_signed_out_by_the_lock(alice, fake_redis):
    owner = Client(enforce_csrf_checks=True)
    assert owner.login(username="alice", password=PASSWORD)
    intruder_changes_password(fake_redis)
    # The owner's own session ended with the change (the intruder's, not the owner's, was kept).
    path, _, _ = not_me_path()
    csrf_post(owner, open_link(owner, path)[0])
    assert owner.get("/accounts/password-change/").status_code == 302


def two_changes(fake_redis) -> tuple[str, str]:
    """The intruder changes the password twice: the paths of the two notices' links."""
    intruder = intruder_changes_password(fake_redis)
    first, _, _ = not_me_path()
    assert intruder.change_password(INTRUDERS_PASSWORD, "a second long passphrase").status_code
    mail.outbox.clear()
    run_queue(fake_redis, "email")
    second, _, _ = not_me_path()
    return first, second


def lock_with(path: str):
    browser = Client(enforce_csrf_checks=True)
    page_path, page = open_link(browser, path)
    assert b"Lock your account?" in page.content
    return csrf_post(browser, page_path)


def test_after_a_lock_the_links_of_later_changes_cannot_undo_it(alice, fake_redis):
    """Their notices may have gone to an address the intruder set: a lock with such a link
    would give that address back (and the fresh reset link with it)."""
    first, second = two_changes(fake_redis)
    assert b"Your account is locked" in lock_with(first).content
    dead = Client().get(second)
    assert b"This link no longer works" in dead.content
    assert not ChangeLink.objects.filter(purpose="not_me", used_at=None).exists()


def test_the_earliest_disowned_change_wins(alice, fake_redis):
    """An intruder who locks first, with a later change's link, does not kill the owner's."""
    first, second = two_changes(fake_redis)
    assert b"Your account is locked" in lock_with(second).content
    fake_redis.delete("security", "email", "webhooks")
    assert b"Your account is locked" in lock_with(first).content
    [(event_type, payload)] = events_queued(fake_redis, "security")
    assert (event_type, payload["reason"], payload["email"]) == (
        "account.locked", "not_me", "alice@example.com"
    )  # fmt: skip


@contextmanager
def lines_logged_by_the_lock() -> Iterator[list[tuple[int, str]]]:
    """The level and text of each line ``shared.accounts.not_me`` logs meanwhile. Its own
    handler, not caplog's: running a queue's handlers sets Django up again, and with it the
    logging configuration, which drops caplog's handler from the root logger."""
    lines: list[tuple[int, str]] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append((record.levelno, record.getMessage()))
    logger = logging.getLogger("shared.accounts.not_me")
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


def test_a_lock_is_logged_with_the_accounts_id(alice, fake_redis):
    intruder_changes_password(fake_redis)
    path, _, _ = not_me_path()
    with lines_logged_by_the_lock() as lines:
        assert b"Your account is locked" in lock_with(path).content
    assert lines == [(logging.INFO, f"user {alice.pk} locked their account (this wasn't me)")]


def test_of_two_locks_that_both_checked_the_link_the_second_is_refused(alice, fake_redis):
    """Two tabs confirm at the same moment: both found the link live before either spent it.
    Spending it decides: one lock, one ``account.locked``, one fresh reset link."""
    intruder_changes_password(fake_redis)
    _, uid, token = not_me_path()
    first = change_links.find(ChangeLink.Purpose.NOT_ME, uid, token)
    second = change_links.find(ChangeLink.Purpose.NOT_ME, uid, token)

    lock_account(first)
    with pytest.raises(change_links.DeadLink):
        lock_account(second)

    assert [event_type for event_type, _ in events_queued(fake_redis, "security")] == [
        "account.locked"
    ]


def test_a_lock_leaves_an_address_it_has_nothing_to_give_back_for(alice, fake_redis):
    """After a password change the address is still the account's own, even when an account
    copied in from elsewhere shares it: nothing to give back, and no warning that it was
    taken."""
    twin = get_user_model().objects.create_user("twin", "alice@example.com", PASSWORD)
    intruder_changes_password(fake_redis)
    path, _, _ = not_me_path()

    with lines_logged_by_the_lock() as lines:
        assert b"Your account is locked" in lock_with(path).content

    assert [levelno for levelno, _ in lines] == [logging.INFO]
    assert get_user_model().objects.get(pk=alice.pk).email == "alice@example.com"
    assert get_user_model().objects.get(pk=twin.pk).email == "alice@example.com"


def test_a_lock_gives_back_the_address_exactly_as_the_notice_was_sent_to(alice, fake_redis):
    """An administrator changed only the case of the address since the notice: the account is
    not someone else's, so the address comes back as it was, with no warning."""
    intruder_changes_password(fake_redis)
    path, _, _ = not_me_path()
    update_user(alice, email="ALICE@example.com")

    with lines_logged_by_the_lock() as lines:
        assert b"Your account is locked" in lock_with(path).content

    assert get_user_model().objects.get(pk=alice.pk).email == "alice@example.com"
    assert [levelno for levelno, _ in lines] == [logging.INFO]


def test_the_fresh_reset_link_speaks_the_language_of_the_browser_that_locked(alice, fake_redis):
    intruder_changes_password(fake_redis)
    path, _, _ = not_me_path()
    owner = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="fr")
    csrf_post(owner, open_link(owner, path)[0])
    mail.outbox.clear()
    run_queue(fake_redis, "email")
    [reset_mail] = mail.outbox
    assert "Votre compte est verrouillé" in reset_mail.subject


def test_a_lock_leaves_other_accounts_links_alone(alice, fake_redis):
    """Bob's "this wasn't me" link and his pending address confirmation, both made after the
    change alice disowns, still work once alice has locked her account."""
    intruder_changes_password(fake_redis)
    path, _, _ = not_me_path()
    bob = get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    bobs_not_me = change_links.issue(
        bob, ChangeLink.Purpose.NOT_ME, change_id=uuid.uuid4(), asked_at=timezone.now(),
        old_email="bob@example.com",
    )  # fmt: skip
    bobs_confirmation = change_links.issue(
        bob, ChangeLink.Purpose.CONFIRM_EMAIL, change_id=uuid.uuid4(), asked_at=timezone.now(),
        new_email="bob@new.example", state=change_links.account_state(bob),
    )  # fmt: skip

    assert b"Your account is locked" in lock_with(path).content

    assert b"Lock your account?" in open_link(Client(), urlsplit(bobs_not_me).path)[1].content
    uid, token = urlsplit(bobs_confirmation).path.rstrip("/").rsplit("/", 2)[-2:]
    assert Device().post("email/change/confirm/", {"uid": uid, "token": token}).status_code == 200
    assert get_user_model().objects.get(pk=bob.pk).email == "bob@new.example"


def test_a_change_undone_by_a_lock_gets_no_notice_when_handled_after_it(alice, fake_redis):
    """The intruder changed the password twice; the owner locked with the first notice's link
    before the worker got to the second notice (which may go to an address the intruder set):
    that notice is not sent, so no live link can undo the lock."""
    intruder = intruder_changes_password(fake_redis)
    first, _, _ = not_me_path()
    assert intruder.change_password(INTRUDERS_PASSWORD, "a second long passphrase").status_code
    late = queued_messages(fake_redis, "email")
    fake_redis.delete("email", "security", "webhooks")
    assert b"Your account is locked" in lock_with(first).content
    fake_redis.delete("email", "security", "webhooks")
    mail.outbox.clear()

    for message in late:
        app.tasks[message["headers"]["task"]].apply(args=[message["args"]])

    assert mail.outbox == []
    assert not ChangeLink.objects.filter(purpose="not_me", used_at=None).exists()


def test_a_change_after_the_lock_gets_its_notice_and_link(alice, fake_redis):
    """The owner's own change after the lock (the reset the lock's email offers) is told as
    usual, with a live link."""
    intruder_changes_password(fake_redis)
    first, _, _ = not_me_path()
    assert b"Your account is locked" in lock_with(first).content
    fake_redis.delete("security", "webhooks")
    mail.outbox.clear()
    run_queue(fake_redis, "email")
    [reset_mail] = mail.outbox
    uid, token = RESET.search(reset_mail.body).groups()
    body = {
        "uid": uid,
        "token": token,
        "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD,
    }
    assert Device().post("password/reset/confirm/", body).status_code == 200
    mail.outbox.clear()
    run_queue(fake_redis, "email")
    not_me_path()  # the notice, with a live "this wasn't me" link
