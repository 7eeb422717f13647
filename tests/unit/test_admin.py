"""The Django admin sets passwords the way a change does: the user's sessions end, and they are
told (a password.changed event)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.api_client import Device
from tests.conftest import queued_messages
from tests.factories import NEW_PASSWORD, PASSWORD, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]

ADMIN_IP, ADMIN_BROWSER = "192.0.2.10", "admin-browser/1.0"


@pytest.fixture
def admin():
    user = make_user("root", "root@example.com", is_staff=True, is_superuser=True)
    client = Client(REMOTE_ADDR=ADMIN_IP, HTTP_USER_AGENT=ADMIN_BROWSER)
    client.force_login(user)
    return client


@pytest.fixture
def alices_phone(alice):
    phone = Device("alice-phone")
    assert phone.login(PASSWORD, username="alice").status_code == 200
    return phone


def set_password_in_admin(admin, user, **form):
    return admin.post(f"/admin/auth/user/{user.pk}/password/", form)


def password_changed_messages(fake_redis, user) -> dict[str, dict]:
    """The password.changed task messages queued for ``user``, by queue."""
    return {
        queue: message["args"]
        for queue in ("security", "email")
        for message in queued_messages(fake_redis, queue)
        if message["args"]["type"] == "password.changed"
        and message["args"]["payload"]["user_id"] == user.pk
    }


def test_a_password_set_in_the_admin_ends_the_users_sessions_and_tells_them(
    admin, alice, alices_phone, fake_redis
):
    old_access, old_refresh = alices_phone.access, alices_phone.refresh
    response = set_password_in_admin(
        admin, alice, usable_password="true", password1=NEW_PASSWORD, password2=NEW_PASSWORD
    )
    assert response.status_code == 302

    assert alices_phone.refresh_tokens(old_refresh).status_code == 401
    assert alices_phone.sessions(old_access).status_code == 401
    assert Device().login(NEW_PASSWORD, username="alice").status_code == 200
    queued = password_changed_messages(fake_redis, alice)
    assert set(queued) == {"security", "email"}  # revocation, and the "password changed" notice
    payload = queued["security"]["payload"]
    assert payload["reason"] == "change"
    assert payload["keep_token_family"] is None and payload["keep_session_key"] is None
    assert (payload["ip"], payload["user_agent"]) == (ADMIN_IP, ADMIN_BROWSER)
    assert payload["language"] == "en"  # the admin form names no language: English


def test_disabling_password_login_in_the_admin_ends_the_users_sessions_too(
    admin, alice, alices_phone, fake_redis
):
    old_refresh = alices_phone.refresh
    response = set_password_in_admin(admin, alice, usable_password="false", **{"unset-password": 1})
    assert response.status_code == 302

    assert not get_user_model().objects.get(pk=alice.pk).has_usable_password()
    assert alices_phone.refresh_tokens(old_refresh).status_code == 401
    assert Device().login(PASSWORD, username="alice").status_code == 401
    queued = password_changed_messages(fake_redis, alice)
    assert set(queued) == {"security", "email"}
    assert queued["security"]["payload"]["reason"] == "change"


def test_a_password_the_rules_refuse_is_not_set_from_the_admin(admin, alice, fake_redis):
    response = set_password_in_admin(
        admin, alice, usable_password="true", password1="short", password2="short"
    )
    assert response.status_code == 200  # the form again, with the reason
    assert b"too short" in response.content
    assert get_user_model().objects.get(pk=alice.pk).check_password(PASSWORD)
    assert password_changed_messages(fake_redis, alice) == {}
