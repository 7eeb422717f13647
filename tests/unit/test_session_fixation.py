"""Session fixation on the browser reset flow: someone who planted their own session cookie in
the victim's browser (a sibling subdomain, plain HTTP before HSTS) must gain nothing when the
victim opens their reset link."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import NEW_PASSWORD, PASSWORD, issue_link, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]

ATTACKER_PASSWORD = "the-attackers-chosen-passphrase"


def link_path(link):
    return f"/accounts/reset/{link['uid']}/{link['token']}/"


def set_password_path(link):
    return f"/accounts/reset/{link['uid']}/set-password/"


def session_cookie(client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def session_exists(key: str) -> bool:
    return import_module(settings.SESSION_ENGINE).SessionStore().exists(key)


@pytest.fixture
def attacker():
    """A client holding a real, stored session: Django would replace a made-up key, so the
    attacker opens a reset link of their own account to get one."""
    mallory = make_user("mallory", "mallory@example.com")
    client = Client()
    assert client.get(link_path(issue_link(mallory))).status_code == 302
    assert session_exists(session_cookie(client))
    return client


@pytest.fixture
def victim_link(attacker):
    """The victim's browser carries the attacker's session cookie when it opens its link."""
    victim = make_user()
    link = issue_link(victim)
    browser = Client()
    browser.cookies[settings.SESSION_COOKIE_NAME] = session_cookie(attacker)
    response = browser.get(link_path(link))
    assert response.status_code == 302
    assert response["Location"] == set_password_path(link)
    return victim, link, browser


def test_a_planted_session_cookie_does_not_let_the_attacker_set_the_victims_password(
    attacker, victim_link, django_user_model
):
    victim, link, browser = victim_link

    form = attacker.get(set_password_path(link))
    assert b"This link no longer works" in form.content
    assert b'name="new_password1"' not in form.content

    response = attacker.post(
        set_password_path(link),
        {"new_password1": ATTACKER_PASSWORD, "new_password2": ATTACKER_PASSWORD},
    )
    assert response.status_code == 200
    assert b"This link no longer works" in response.content
    victim = django_user_model.objects.get(pk=victim.pk)
    assert victim.check_password(PASSWORD)
    assert not victim.check_password(ATTACKER_PASSWORD)
    # Because the victim's browser got a new key, and the planted one names nothing now.
    planted = session_cookie(attacker)
    assert session_cookie(browser) != planted
    assert not session_exists(planted)


def test_the_victim_can_still_set_their_password_after_the_attackers_attempt(
    attacker, victim_link, django_user_model
):
    victim, link, browser = victim_link
    attacker.post(
        set_password_path(link),
        {"new_password1": ATTACKER_PASSWORD, "new_password2": ATTACKER_PASSWORD},
    )

    response = browser.post(
        set_password_path(link), {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/reset/done/"
    assert django_user_model.objects.get(pk=victim.pk).check_password(NEW_PASSWORD)


def test_the_session_key_changes_again_once_the_password_is_set(client):
    link = issue_link(make_user())
    client.get(link_path(link))
    key_holding_the_token = session_cookie(client)

    response = client.post(
        set_password_path(link), {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert session_cookie(client) != key_holding_the_token
    assert not session_exists(key_holding_the_token)


def test_a_signed_in_browser_that_opens_a_link_can_still_be_signed_out_remotely(client, alice):
    from django.utils import timezone

    from shared.accounts.browser_sessions import end_browser_sessions

    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    alice.refresh_from_db()  # the token covers last_login
    assert client.get(link_path(issue_link(alice))).status_code == 302
    assert client.get("/accounts/password-change/").status_code == 200

    end_browser_sessions(alice.pk, before=timezone.now())
    assert client.get("/accounts/password-change/").status_code == 302


def test_with_auto_login_a_reset_signs_the_person_in_under_a_fresh_key(client, settings):
    settings.PASSWORD_RESET_AUTO_LOGIN = True
    link = issue_link(make_user())
    client.get(link_path(link))
    key_holding_the_token = session_cookie(client)

    client.post(
        set_password_path(link), {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert session_cookie(client) != key_holding_the_token
    assert client.get("/accounts/password-change/").status_code == 200


def test_a_planted_session_signed_in_to_the_attackers_account_is_signed_out(
    django_user_model,
):
    """The attacker plants a session signed in to their own account: after the victim's reset
    the browser must not stay in it (where the victim might then type their own data)."""
    make_user("mallory", "mallory@example.com")
    attacker = Client()
    assert attacker.login(username="mallory", password=PASSWORD)
    victim = make_user()
    link = issue_link(victim)
    browser = Client()
    browser.cookies[settings.SESSION_COOKIE_NAME] = session_cookie(attacker)

    assert browser.get(link_path(link))["Location"] == set_password_path(link)
    assert "_auth_user_id" not in browser.session
    assert browser.get("/accounts/password-change/").status_code == 302  # signed out
    done = browser.post(
        set_password_path(link), {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done.status_code == 302
    assert django_user_model.objects.get(pk=victim.pk).check_password(NEW_PASSWORD)
    assert "_auth_user_id" not in browser.session
