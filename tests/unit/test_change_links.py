"""The one-time links of ``shared.accounts.change_links``, whatever the flow that mails them: each
opens only the page it was made for, for its own lifetime, for any account's id; a uid no
database can hold is a dead link like any other, never an error. Links are made here as the
email worker makes them (``change_links.issue``) and opened as a browser or a client would."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from shared.accounts import change_links
from shared.accounts.not_me import lock_account
from shared.models import ChangeLink
from tests.api_client import Device
from tests.factories import PASSWORD
from tests.unit.test_not_me import open_link

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]

DEAD = b"This link no longer works"


def uid_and_token(url: str) -> tuple[str, str]:
    _, _, uid, token, _ = urlsplit(url).path.rsplit("/", 4)
    return uid, token


def not_me_link(user, *, asked_at=None) -> tuple[str, str]:
    """The uid and token of the "this wasn't me" link in the notice of a change to ``user``."""
    url = change_links.issue(
        user, ChangeLink.Purpose.NOT_ME, change_id=uuid.uuid4(),
        asked_at=asked_at or timezone.now(), old_email=user.email,
    )  # fmt: skip
    return uid_and_token(url)


def confirmation_link(user, new_email: str) -> tuple[str, str]:
    """The uid and token of the link that confirms ``new_email`` for ``user``."""
    url = change_links.issue(
        user, ChangeLink.Purpose.CONFIRM_EMAIL, change_id=uuid.uuid4(),
        asked_at=timezone.now(), new_email=new_email, state=change_links.account_state(user),
    )  # fmt: skip
    return uid_and_token(url)


def not_me_page(uid: str, token: str) -> str:
    return reverse("not_me", kwargs={"uidb64": uid, "token": token})


def confirm_by_api(uid: str, token: str):
    return Device().post("email/change/confirm/", {"uid": uid, "token": token})


def unchanged(user) -> bool:
    row = get_user_model().objects.get(pk=user.pk)
    return row.check_password(PASSWORD) and row.email == user.email


@pytest.mark.parametrize("account_id", [1, 1_000_000])
def test_a_link_works_for_any_accounts_id(account_id):
    """The first account (id 1) and one far down the table: ids are only refused where no
    database integer can hold them."""
    ann = get_user_model().objects.create_user("ann", "ann@example.com", PASSWORD, id=account_id)
    _, page = open_link(Client(), not_me_page(*not_me_link(ann)))
    assert b"Lock your account?" in page.content
    assert confirm_by_api(*confirmation_link(ann, "ann@new.example")).status_code == 200


@pytest.mark.parametrize("account_id", [0, -1, 2**63, 2**64, 3**63])
def test_a_uid_no_account_can_have_is_a_dead_link_not_an_error(alice, account_id):
    """A uid past the database's integer range would make the lookup itself fail (a 500, and
    on PostgreSQL an aborted transaction): it is refused before any lookup."""
    forged_uid = urlsafe_base64_encode(force_bytes(account_id))
    _, token = not_me_link(alice)
    response = Client().get(not_me_page(forged_uid, token))
    assert response.status_code == 200 and DEAD in response.content

    _, token = confirmation_link(alice, "alice@new.example")
    assert confirm_by_api(forged_uid, token).status_code == 400
    assert unchanged(alice)


def test_a_link_opens_only_the_page_it_was_made_for(alice):
    """A confirmation goes to the new address, which the requester chose: on the "this wasn't
    me" page it must not lock the account; nor does a "this wasn't me" link set an address."""
    confirm_uid, confirm_token = confirmation_link(alice, "alice@new.example")
    not_me_uid, not_me_token = not_me_link(alice)

    response = Client().get(not_me_page(confirm_uid, confirm_token))
    assert response.status_code == 200 and DEAD in response.content
    assert confirm_by_api(not_me_uid, not_me_token).status_code == 400
    assert unchanged(alice)


def test_a_not_me_link_lives_for_not_me_timeout_not_email_change_timeout(alice, settings):
    settings.EMAIL_CHANGE_TIMEOUT = 3600
    settings.NOT_ME_TIMEOUT = 7 * 24 * 3600
    days_ago = timezone.now() - timedelta(seconds=settings.NOT_ME_TIMEOUT - 60)
    _, page = open_link(Client(), not_me_page(*not_me_link(alice, asked_at=days_ago)))
    assert b"Lock your account?" in page.content


def test_a_change_made_before_the_disowned_one_keeps_its_link_when_told_after_the_lock(alice):
    """The owner changed something, then an intruder did, and the owner locked with the
    intruder's change's link before the worker told of the owner's change (a backlog): that
    change was the owner's, so its notice still gets a live "this wasn't me" link. Only the
    changes made between the disowned one and the lock lose theirs."""
    owners_change = timezone.now() - timedelta(minutes=2)
    intruders = not_me_link(alice, asked_at=timezone.now() - timedelta(minutes=1))
    lock_account(change_links.find(ChangeLink.Purpose.NOT_ME, *intruders))

    url = change_links.issue(
        alice, ChangeLink.Purpose.NOT_ME, change_id=uuid.uuid4(), asked_at=owners_change,
        old_email=alice.email,
    )  # fmt: skip
    assert url is not None
    _, page = open_link(Client(), not_me_page(*uid_and_token(url)))
    assert b"Lock your account?" in page.content
