"""Changing the address of an account: the current password is required, the new address
confirms by a link, an address in use is told instead (with the same answer to the caller),
the old address gets a notice with a "this wasn't me" link that gives it back, and the reset
links and codes sent before die. Handlers run here from the task messages the API queued."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core import mail
from django.test import Client
from django.utils import timezone

from shared.accounts import change_links
from shared.accounts.email_change import confirm_email_change
from shared.models import ChangeLink
from shared.operators.user_admin import update_user
from tests.api_client import Device
from tests.conftest import queued_messages, set_rates
from tests.factories import NEW_PASSWORD, PASSWORD, issue_link
from tests.unit.error_bodies import field_errors
from tests.unit.test_not_me import (
    INTRUDERS_PASSWORD,
    NOT_ME,
    RESET,
    csrf_post,
    events_queued,
    intruder_changes_password,
    lines_logged_by_the_lock,
    lock_with,
    not_me_path,
    open_link,
    run_queue,
)
from workers.celery import app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]

CONFIRM = re.compile(r"https?://[^/\s]+/accounts/email-change/confirm/([\w-]+)/([\w-]+)/")


@pytest.fixture
def signed_in(alice):
    device = Device("alice's laptop")
    assert device.login(PASSWORD, username="alice").status_code == 200
    return device


def ask(device: Device, new_email: str, password: str = PASSWORD):
    return device.post(
        "email/change/", {"password": password, "new_email": new_email}, **device.bearer()
    )


def confirmation_link(to: str) -> dict[str, str]:
    [message] = [m for m in mail.outbox if m.to == [to]]
    assert message.subject == "Account security: Confirm your new email address"
    uid, token = CONFIRM.search(message.body).groups()
    return {"uid": uid, "token": token}


def address_of(user) -> str:
    return get_user_model().objects.get(pk=user.pk).email


def test_a_confirmed_change_moves_the_account_and_tells_the_old_address(
    alice, signed_in, fake_redis
):
    response = ask(signed_in, "alice@new.example")
    assert response.status_code == 202
    assert address_of(alice) == "alice@example.com"  # nothing changes before the confirmation
    run_queue(fake_redis, "email")
    link = confirmation_link("alice@new.example")

    confirmed = Device().post("email/change/confirm/", link)

    assert confirmed.status_code == 200
    assert address_of(alice) == "alice@new.example"
    assert Device().login(PASSWORD, email="alice@new.example").status_code == 200
    [(_, payload)] = [
        (m["args"]["type"], m["args"]["payload"]) for m in queued_messages(fake_redis, "email")
    ]
    assert (payload["old_email"], payload["new_email"]) == (
        "alice@example.com",
        "alice@new.example",
    )
    assert [m["args"]["type"] for m in queued_messages(fake_redis, "webhooks")] == ["email.changed"]
    mail.outbox.clear()
    assert run_queue(fake_redis, "email") == ["handlers.send_email_changed_notice"]
    [notice] = mail.outbox
    assert notice.to == ["alice@example.com"]
    assert notice.subject == "Account security: The email address of your account was changed"
    assert "alice@new.example" in notice.body
    assert NOT_ME.search(notice.body)
    assert "The account gets this address back." in notice.body


def test_the_new_address_is_confirmed_once(alice, signed_in, fake_redis):
    ask(signed_in, "alice@new.example")
    run_queue(fake_redis, "email")
    link = confirmation_link("alice@new.example")
    assert Device().post("email/change/confirm/", link).status_code == 200
    again = Device().post("email/change/confirm/", link)
    assert again.status_code == 400
    assert list(field_errors(again)) == ["token"]


def test_the_current_password_is_required(alice, signed_in, fake_redis):
    response = ask(signed_in, "alice@new.example", password="not my password")
    assert response.status_code == 400
    assert list(field_errors(response)) == ["password"]
    assert queued_messages(fake_redis, "email") == []


@pytest.mark.parametrize("new_email", ["ALICE@example.com", "not an address", "", ["a@b.example"]])
def test_the_same_or_a_malformed_address_is_a_400(alice, signed_in, fake_redis, new_email):
    response = ask(signed_in, new_email)
    assert response.status_code == 400
    assert list(field_errors(response)) == ["new_email"]
    assert queued_messages(fake_redis, "email") == []


def test_without_a_bearer_token_nothing_is_asked(alice, fake_redis):
    response = Device().post(
        "email/change/", {"password": PASSWORD, "new_email": "alice@new.example"}
    )
    assert response.status_code == 401
    assert queued_messages(fake_redis, "email") == []


def test_an_address_in_use_answers_the_same_and_is_told_instead(alice, signed_in, fake_redis):
    get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    free = ask(signed_in, "nobody@example.com")
    taken = ask(signed_in, "Bob@Example.com")
    assert (
        (free.status_code, free.content)
        == (taken.status_code, taken.content)
        == (202, free.content)
    )
    assert free["Content-Type"] == taken["Content-Type"]

    run_queue(fake_redis, "email")

    [tried] = [m for m in mail.outbox if m.to == ["Bob@Example.com"]]
    assert tried.subject == "Account security: Someone tried to use this address"
    assert "/accounts/" not in tried.body  # no confirmation link, nothing to click
    assert not ChangeLink.objects.filter(new_email__iexact="bob@example.com").exists()
    assert address_of(alice) == "alice@example.com"


def test_an_address_taken_before_the_confirmation_is_not_given_twice(alice, signed_in, fake_redis):
    ask(signed_in, "contested@example.com")
    run_queue(fake_redis, "email")
    link = confirmation_link("contested@example.com")
    get_user_model().objects.create_user("carol", "contested@example.com", PASSWORD)
    response = Device().post("email/change/confirm/", link)
    assert response.status_code == 400
    assert address_of(alice) == "alice@example.com"


def test_reset_links_and_codes_sent_before_the_change_die(alice, signed_in, fake_redis):
    old_link = issue_link(alice)
    ask(signed_in, "alice@new.example")
    run_queue(fake_redis, "email")
    assert (
        Device().post("email/change/confirm/", confirmation_link("alice@new.example")).status_code
        == 200
    )
    body = {**old_link, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    response = Device().post("password/reset/confirm/", body)
    assert response.status_code == 400
    assert list(field_errors(response)) == ["token"]


def test_a_password_change_before_the_confirmation_kills_it(alice, signed_in, fake_redis):
    ask(signed_in, "alice@new.example")
    run_queue(fake_redis, "email")
    link = confirmation_link("alice@new.example")
    assert signed_in.change_password(PASSWORD, NEW_PASSWORD).status_code == 200
    assert Device().post("email/change/confirm/", link).status_code == 400
    assert address_of(alice) == "alice@example.com"


def test_only_the_newest_confirmation_works(alice, signed_in, fake_redis):
    ask(signed_in, "first@example.com")
    ask(signed_in, "second@example.com")
    run_queue(fake_redis, "email")
    first, second = confirmation_link("first@example.com"), confirmation_link("second@example.com")
    assert Device().post("email/change/confirm/", first).status_code == 400
    assert Device().post("email/change/confirm/", second).status_code == 200
    assert address_of(alice) == "second@example.com"


def test_an_older_request_handled_last_does_not_supersede_the_newer(alice, signed_in, fake_redis):
    """Workers may take requests out of order (a retry, two workers): the newest request's
    link is the one that works, and the older one is not even mailed."""
    ask(signed_in, "first@example.com")
    ask(signed_in, "second@example.com")
    newest_first = queued_messages(fake_redis, "email")
    fake_redis.delete("email")
    for message in newest_first:
        app.tasks[message["headers"]["task"]].apply(args=[message["args"]])
    assert [m.to for m in mail.outbox] == [["second@example.com"]]
    link = confirmation_link("second@example.com")
    assert Device().post("email/change/confirm/", link).status_code == 200


def test_a_confirmation_dies_after_email_change_timeout(alice, signed_in, fake_redis, settings):
    ask(signed_in, "alice@new.example")
    run_queue(fake_redis, "email")
    link = confirmation_link("alice@new.example")
    ChangeLink.objects.update(
        created_at=timezone.now() - timedelta(seconds=settings.EMAIL_CHANGE_TIMEOUT + 1)
    )
    assert Device().post("email/change/confirm/", link).status_code == 400


def test_a_forged_confirmation_is_refused(alice, signed_in, fake_redis):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    ask(signed_in, "alice@new.example")
    run_queue(fake_redis, "email")
    link = confirmation_link("alice@new.example")
    for forged in (
        {**link, "uid": issue_link(bob)["uid"]},
        {**link, "token": link["token"][::-1]},
        {"uid": link["uid"], "token": ""},
        {"uid": "%%%", "token": link["token"]},
    ):
        assert Device().post("email/change/confirm/", forged).status_code == 400
    assert (address_of(alice), address_of(bob)) == ("alice@example.com", "bob@example.com")


def test_requests_are_throttled_per_user(alice, signed_in, fake_redis, settings):
    set_rates(settings, change_user="1/min")
    assert ask(signed_in, "first@example.com").status_code == 202
    throttled = ask(signed_in, "second@example.com")
    assert throttled.status_code == 429
    assert "Retry-After" in throttled


def test_this_wasnt_me_after_a_change_gives_the_old_address_back(alice, signed_in, fake_redis):
    """An intruder with the password moves the account to their address, then asks to move it
    again: the owner's link, from the notice at the old address, locks the account, gives the
    address back, kills the pending confirmation, and the fresh reset link comes home."""
    ask(signed_in, "intruder@evil.example")
    run_queue(fake_redis, "email")
    Device().post("email/change/confirm/", confirmation_link("intruder@evil.example"))
    mail.outbox.clear()
    run_queue(fake_redis, "email")
    [notice] = mail.outbox
    not_me_path = NOT_ME.search(notice.body).group(1)
    intruder = Device("intruder")
    assert intruder.login(PASSWORD, email="intruder@evil.example").status_code == 200
    ask(intruder, "intruder2@evil.example")
    mail.outbox.clear()
    run_queue(fake_redis, "email")
    pending = confirmation_link("intruder2@evil.example")

    owner = Client(enforce_csrf_checks=True)
    done = csrf_post(owner, open_link(owner, not_me_path)[0])

    assert b"Your account is locked" in done.content
    assert address_of(alice) == "alice@example.com"
    assert not get_user_model().objects.get(pk=alice.pk).has_usable_password()
    assert Device().post("email/change/confirm/", pending).status_code == 400
    assert intruder.sessions().status_code == 401
    mail.outbox.clear()
    run_queue(fake_redis, "email")
    [reset_mail] = mail.outbox
    assert reset_mail.to == ["alice@example.com"]
    assert RESET.search(reset_mail.body)


def test_an_address_change_by_the_admin_api_is_told_to_the_old_address(alice, fake_redis):
    from shared.operators.user_admin import update_user

    update_user(alice, email="alice@work.example")
    run_queue(fake_redis, "email")
    [notice] = mail.outbox
    assert notice.to == ["alice@example.com"]
    assert "alice@work.example" in notice.body


def test_flower_and_the_logs_see_the_new_events_by_type_and_id_only(alice, signed_in, fake_redis):
    """What a worker shows of a task (its logs, Flower's task list) is the message's headers:
    for the new events, as for the others, the event's type and id, never an address."""
    ask(signed_in, "alice@new.example")
    requested = queued_messages(fake_redis, "email")
    run_queue(fake_redis, "email")
    Device().post("email/change/confirm/", confirmation_link("alice@new.example"))
    changed = queued_messages(fake_redis, "email") + queued_messages(fake_redis, "webhooks")
    run_queue(fake_redis, "email")
    [notice] = [m for m in mail.outbox if m.to == ["alice@example.com"]]
    owner = Client(enforce_csrf_checks=True)
    csrf_post(owner, open_link(owner, NOT_ME.search(notice.body).group(1))[0])
    locked = [m for q in ("security", "email", "webhooks") for m in queued_messages(fake_redis, q)]

    seen = {}
    for message in requested + changed + locked:
        event = message["args"]
        headers = message["headers"]
        assert headers["argsrepr"] == f"({event['type']} event {event['id']})"
        assert headers["kwargsrepr"] == "{}"
        assert not any(
            address in str(headers).lower()
            for address in ("alice@example.com", "alice@new.example")
        ), headers
        seen.setdefault(event["type"], set()).add(headers["task"])
    assert seen == {
        "email.change_requested": {"handlers.send_email_change_confirmation"},
        "email.changed": {
            "handlers.send_email_changed_notice", "handlers.send_email_changed_webhooks"
        },
        "account.locked": {
            "handlers.end_locked_account_sessions", "handlers.send_account_locked_reset_link",
            "handlers.send_account_locked_webhooks",
        },
    }  # fmt: skip


def test_one_account_cannot_make_the_service_mail_an_address_over_and_over(
    alice, signed_in, fake_redis, settings
):
    """The new address has not proved anything yet: it gets the per-address limits of a reset
    request (cooldown, daily cap), quietly, counted apart from resets."""
    set_rates(settings, reset_email="1/min", reset_email_daily="2/day", change_user=None)
    answers = [ask(signed_in, "victim@example.net") for _ in range(3)]
    assert {(a.status_code, a.content) for a in answers} == {(202, answers[0].content)}
    run_queue(fake_redis, "email")
    assert [m.to for m in mail.outbox] == [["victim@example.net"]]
    # The victim's own reset requests are not used up by it.
    get_user_model().objects.create_user("victor", "victim@example.net", PASSWORD)
    assert Device().post("password/reset/", {"email": "victim@example.net"}).status_code == 202
    assert [m["args"]["type"] for m in queued_messages(fake_redis, "email")] == [
        "password.reset_requested"
    ]


def test_the_page_needs_a_signed_in_browser_and_the_password(alice, fake_redis):
    anonymous = Client()
    response = anonymous.get("/accounts/email-change/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert anonymous.post("/accounts/email-change/", {}).status_code == 302

    browser = Client()
    assert browser.login(username="alice", password=PASSWORD)
    wrong = browser.post(
        "/accounts/email-change/", {"password": "not mine", "new_email": "alice@new.example"}
    )
    assert wrong.status_code == 200
    assert b"Your password was entered incorrectly." in wrong.content
    assert queued_messages(fake_redis, "email") == []

    right = browser.post(
        "/accounts/email-change/", {"password": PASSWORD, "new_email": "alice@new.example"}
    )
    assert right.status_code == 302 and right["Location"] == "/accounts/email-change/done/"
    [(message)] = queued_messages(fake_redis, "email")
    assert message["args"]["type"] == "email.change_requested"
    assert address_of(alice) == "alice@example.com"


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


def handle(message) -> None:
    """Run one task message's handler, as a worker that took it would."""
    app.tasks[message["headers"]["task"]].apply(args=[message["args"]])


def checked(link: dict[str, str]) -> ChangeLink:
    """The link as a confirm finds it, before it sets anything."""
    return change_links.find(ChangeLink.Purpose.CONFIRM_EMAIL, link["uid"], link["token"])


def test_the_request_says_who_asked_from_where_and_in_which_language(alice, fake_redis):
    device = Device(FIREFOX, ip="203.0.113.9")
    device.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "fr"
    assert device.login(PASSWORD, username="alice").status_code == 200
    assert ask(device, "alice@new.example").status_code == 202

    [(event_type, payload)] = events_queued(fake_redis, "email")
    assert event_type == "email.change_requested"
    assert (payload["ip"], payload["user_agent"], payload["language"]) == (
        "203.0.113.9", FIREFOX, "fr"
    )  # fmt: skip
    run_queue(fake_redis, "email")
    [confirmation] = mail.outbox
    assert "Confirmer votre nouvelle adresse e-mail" in confirmation.subject


def test_the_notice_names_the_address_browser_and_language_that_confirmed(
    alice, signed_in, fake_redis
):
    ask(signed_in, "alice@new.example")
    run_queue(fake_redis, "email")
    link = confirmation_link("alice@new.example")
    confirmer = Device(FIREFOX, ip="203.0.113.9")
    confirmer.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "fr"
    assert confirmer.post("email/change/confirm/", link).status_code == 200

    mail.outbox.clear()
    run_queue(fake_redis, "email")
    [notice] = mail.outbox
    assert notice.to == ["alice@example.com"]
    assert "L’adresse e-mail de votre compte a été modifiée" in notice.subject
    assert "203.0.113.9" in notice.body
    assert "Firefox 120" in notice.body


def test_the_new_addresss_daily_cap_counts_every_accounts_requests(
    alice, signed_in, fake_redis, settings
):
    set_rates(settings, reset_email=None, reset_email_daily="1/day", change_user=None)
    get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    bobs = Device("bob's laptop")
    assert bobs.login(PASSWORD, username="bob").status_code == 200

    assert ask(signed_in, "victim@example.net").status_code == 202
    assert ask(bobs, "victim@example.net").status_code == 202
    run_queue(fake_redis, "email")

    assert [m.to for m in mail.outbox] == [["victim@example.net"]]
    # The victim's own reset request is counted apart.
    get_user_model().objects.create_user("victor", "victim@example.net", PASSWORD)
    assert Device().post("password/reset/", {"email": "victim@example.net"}).status_code == 202
    assert [event_type for event_type, _ in events_queued(fake_redis, "email")] == [
        "password.reset_requested"
    ]


def test_one_accounts_change_neither_supersedes_nor_kills_anothers(alice, signed_in, fake_redis):
    get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    bobs = Device("bob's laptop")
    assert bobs.login(PASSWORD, username="bob").status_code == 200
    ask(signed_in, "alice@new.example")
    ask(bobs, "bob@new.example")
    run_queue(fake_redis, "email")
    alices, bobs_link = confirmation_link("alice@new.example"), confirmation_link("bob@new.example")

    assert Device().post("email/change/confirm/", alices).status_code == 200
    assert Device().post("email/change/confirm/", bobs_link).status_code == 200
    assert address_of(alice) == "alice@new.example"
    assert get_user_model().objects.get(username="bob").email == "bob@new.example"


def test_an_address_change_by_an_administrator_before_the_confirmation_kills_it(
    alice, signed_in, fake_redis
):
    ask(signed_in, "alice@new.example")
    run_queue(fake_redis, "email")
    link = confirmation_link("alice@new.example")
    update_user(alice, email="alice@work.example")

    assert Device().post("email/change/confirm/", link).status_code == 400
    assert address_of(alice) == "alice@work.example"


def test_an_account_without_an_address_can_confirm_one(fake_redis):
    dora = get_user_model().objects.create_user("dora", "", PASSWORD)
    device = Device()
    assert device.login(PASSWORD, username="dora").status_code == 200
    assert ask(device, "dora@example.com").status_code == 202
    run_queue(fake_redis, "email")

    assert (
        Device().post("email/change/confirm/", confirmation_link("dora@example.com")).status_code
        == 200
    )
    assert address_of(dora) == "dora@example.com"


def test_a_change_moves_its_own_account_only(alice, signed_in, fake_redis):
    """Accounts copied in from elsewhere can share an address and even a password hash."""
    twin = get_user_model().objects.create_user("twin", "alice@example.com", PASSWORD)
    alices_hash = get_user_model().objects.get(pk=alice.pk).password
    get_user_model().objects.filter(pk=twin.pk).update(password=alices_hash)
    ask(signed_in, "alice@new.example")
    run_queue(fake_redis, "email")

    assert (
        Device().post("email/change/confirm/", confirmation_link("alice@new.example")).status_code
        == 200
    )
    assert (address_of(alice), address_of(twin)) == ("alice@new.example", "alice@example.com")


def test_a_password_changed_while_a_confirm_runs_refuses_it(alice, signed_in, fake_redis):
    """The confirm checked the link, then the password changed before it set the address: the
    setting compares the password it read, so the change made meanwhile wins."""
    ask(signed_in, "alice@new.example")
    run_queue(fake_redis, "email")
    link = checked(confirmation_link("alice@new.example"))
    get_user_model().objects.filter(pk=alice.pk).update(password=make_password(NEW_PASSWORD))

    with pytest.raises(change_links.DeadLink):
        confirm_email_change(link, ip=None, user_agent="")

    assert address_of(alice) == "alice@example.com"


def test_an_address_changed_while_a_confirm_runs_refuses_it(alice, signed_in, fake_redis):
    ask(signed_in, "alice@new.example")
    run_queue(fake_redis, "email")
    link = checked(confirmation_link("alice@new.example"))
    get_user_model().objects.filter(pk=alice.pk).update(email="alice@work.example")

    with pytest.raises(change_links.DeadLink):
        confirm_email_change(link, ip=None, user_agent="")

    assert address_of(alice) == "alice@work.example"


def test_a_confirmed_change_kills_a_confirmation_two_workers_issued_at_once(
    alice, signed_in, fake_redis
):
    """Two workers handling two requests at the same moment can both issue a link, neither
    seeing the other's yet. Once one address is confirmed the other link is dead for good,
    even if the account gets its old address back (an administrator undoing the change)."""
    ask(signed_in, "first@example.com")
    ask(signed_in, "second@example.com")
    second, first = queued_messages(fake_redis, "email")  # newest first
    fake_redis.delete("email")
    handle(first)
    [first_row] = ChangeLink.objects.filter(new_email="first@example.com").values()
    handle(second)  # supersedes the first link...
    ChangeLink.objects.create(**first_row)  # ...which the other worker writes only now
    assert (
        Device().post("email/change/confirm/", confirmation_link("second@example.com")).status_code
        == 200
    )

    update_user(alice, email="alice@example.com")

    assert (
        Device().post("email/change/confirm/", confirmation_link("first@example.com")).status_code
        == 400
    )
    assert address_of(alice) == "alice@example.com"


def test_the_owners_link_from_a_password_change_outlives_the_intruders_address_change(
    alice, fake_redis
):
    """The intruder changes the password, then moves the address: confirming the move does not
    kill the link in the first notice, which locks the account and gives the address back."""
    intruder = intruder_changes_password(fake_redis)
    first_notice_link, _, _ = not_me_path()
    ask(intruder, "intruder@evil.example", password=INTRUDERS_PASSWORD)
    run_queue(fake_redis, "email")
    moved = Device().post("email/change/confirm/", confirmation_link("intruder@evil.example"))
    assert moved.status_code == 200
    fake_redis.delete("security", "email", "webhooks")

    owner = Client(enforce_csrf_checks=True)
    done = csrf_post(owner, open_link(owner, first_notice_link)[0])

    assert b"Your account is locked" in done.content
    assert address_of(alice) == "alice@example.com"
    [(event_type, payload)] = events_queued(fake_redis, "security")
    assert (event_type, payload["email"]) == ("account.locked", "alice@example.com")


def test_a_lock_cannot_give_back_an_address_another_account_took_and_says_so(
    alice, signed_in, fake_redis
):
    ask(signed_in, "intruder@evil.example")
    run_queue(fake_redis, "email")
    Device().post("email/change/confirm/", confirmation_link("intruder@evil.example"))
    mail.outbox.clear()
    run_queue(fake_redis, "email")
    [notice] = mail.outbox
    carol = get_user_model().objects.create_user("carol", "alice@example.com", PASSWORD)

    owner = Client(enforce_csrf_checks=True)
    page_path, _ = open_link(owner, NOT_ME.search(notice.body).group(1))
    with lines_logged_by_the_lock() as lines:
        done = csrf_post(owner, page_path)

    assert b"Your account is locked" in done.content
    assert (address_of(alice), address_of(carol)) == ("intruder@evil.example", "alice@example.com")
    assert (
        logging.WARNING, f"lock of user {alice.pk}: the old address is another account's now"
    ) in lines  # fmt: skip
    assert [levelno for levelno, _ in lines] == [logging.WARNING, logging.INFO]
    # The account kept the intruder's address: the fresh reset link is not mailed there.
    mail.outbox.clear()
    run_queue(fake_redis, "email")
    assert mail.outbox == []


# Events a worker handles late (a retry, a backlog): what decides is the account as it was when
# the change was asked, not as it is when the worker gets to it.


def test_a_request_handled_after_a_lock_gets_no_link(alice, signed_in, fake_redis):
    """The intruder asks to move the account; the owner locks before the worker gets to the
    request: the request is mailed nothing, and the account keeps its address."""
    intruder = intruder_changes_password(fake_redis)
    path, _, _ = not_me_path()
    ask(intruder, "intruder@evil.example", password=INTRUDERS_PASSWORD)
    waiting = queued_messages(fake_redis, "email")
    fake_redis.delete("email")
    assert b"Your account is locked" in lock_with(path).content
    fake_redis.delete("email", "security", "webhooks")
    mail.outbox.clear()

    for message in waiting:
        app.tasks[message["headers"]["task"]].apply(args=[message["args"]])

    assert [m.to for m in mail.outbox] == []
    assert not ChangeLink.objects.filter(purpose="confirm_email").exists()
    assert address_of(alice) == "alice@example.com"


def test_a_request_handled_after_a_newer_one_was_confirmed_gets_no_link(
    alice, signed_in, fake_redis
):
    ask(signed_in, "first@example.com")
    older = queued_messages(fake_redis, "email")
    fake_redis.delete("email")
    ask(signed_in, "second@example.com")
    run_queue(fake_redis, "email")
    assert (
        Device().post("email/change/confirm/", confirmation_link("second@example.com")).status_code
        == 200
    )
    mail.outbox.clear()

    for message in older:
        app.tasks[message["headers"]["task"]].apply(args=[message["args"]])

    assert [m.to for m in mail.outbox] == []
    assert address_of(alice) == "second@example.com"
