"""The admin API's users (``/api/admin/users/``), as another service holding a key sees them,
and what closing an account does to the sessions of its holder."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from shared.messaging.events import AccountLockedV1, make_event
from shared.models import RefreshToken, UserSession
from shared.operators.api_keys import create_api_key
from tests.api_client import Device
from tests.conftest import queued_messages
from tests.factories import NEW_PASSWORD, PASSWORD, issue_link, make_user
from tests.unit.error_bodies import field_errors
from workers.handlers.account_locked import end_locked_account_sessions

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]
User = get_user_model()


class Admin:
    """Another service, with its API key."""

    def __init__(self):
        self.client = Client(HTTP_AUTHORIZATION=f"Api-Key {create_api_key('crm')}")

    def post(self, path: str, body: dict):
        return self.client.post(
            f"/api/admin/{path}", data=json.dumps(body), content_type="application/json"
        )

    def patch(self, path: str, body: dict):
        return self.client.patch(
            f"/api/admin/{path}", data=json.dumps(body), content_type="application/json"
        )

    def get(self, path: str, **params):
        return self.client.get(f"/api/admin/{path}", params)

    def delete(self, path: str):
        return self.client.delete(f"/api/admin/{path}")


@pytest.fixture
def admin():
    return Admin()


@pytest.fixture
def real_hashers(settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
    ]


# Creating


def test_a_user_created_with_a_password_can_log_in_with_it(admin):
    response = admin.post("users/", {"email": "ann@example.com", "password": PASSWORD})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "username", "is_active", "has_usable_password",
                         "date_joined"}  # fmt: skip
    assert body["email"] == "ann@example.com"
    assert body["is_active"] is True and body["has_usable_password"] is True
    assert PASSWORD not in response.content.decode()
    assert User.objects.get().password not in response.content.decode()
    assert Device().login(PASSWORD, email="ann@example.com").status_code == 200


def test_a_username_is_derived_from_the_address_and_kept_unique(admin):
    first = admin.post("users/", {"email": "ann.lee@example.com"}).json()
    second = admin.post("users/", {"email": "Ann.Lee@example.org"}).json()

    assert first["username"] == "ann.lee"
    assert second["username"] == "Ann.Lee-2"


def test_a_username_already_taken_is_a_400(admin, alice):
    response = admin.post("users/", {"email": "other@example.com", "username": "ALICE"})

    assert response.status_code == 400
    assert field_errors(response) == {"username": ["A user with that username already exists."]}
    assert not User.objects.filter(email="other@example.com").exists()


def test_a_user_created_with_a_hash_logs_in_with_the_password_it_was_made_from(admin, real_hashers):
    hashed = make_password(PASSWORD, hasher="argon2")

    response = admin.post("users/", {"email": "moved@example.com", "password_hash": hashed})

    assert response.status_code == 201
    assert Device().login(PASSWORD, email="moved@example.com").status_code == 200


def test_a_hash_no_configured_hasher_recognises_is_a_400(admin, real_hashers):
    for bad in ("plaintext-password", "sha1$$abc", "argon2$garbage", "!unusable"):
        response = admin.post("users/", {"email": "moved@example.com", "password_hash": bad})
        assert response.status_code == 400, bad
        assert "password_hash" in response.json()
    assert not User.objects.filter(email="moved@example.com").exists()


def test_a_password_and_a_hash_together_are_a_400(admin, real_hashers):
    response = admin.post("users/", {
        "email": "ann@example.com", "password": PASSWORD,
        "password_hash": make_password(PASSWORD, hasher="argon2"),
    })  # fmt: skip

    assert response.status_code == 400
    assert not User.objects.filter(email="ann@example.com").exists()


def test_a_user_created_without_a_password_cannot_log_in_with_one(admin):
    response = admin.post("users/", {"email": "ann@example.com"})

    assert response.status_code == 201
    assert response.json()["has_usable_password"] is False
    assert Device().login("", email="ann@example.com").status_code in (400, 401)


def test_a_password_breaking_the_rules_is_a_400_naming_the_rule(admin):
    for weak, rule in (("short", "too short"), ("annlee@example.com", "too similar")):
        response = admin.post("users/", {"email": "annlee@example.com", "password": weak})
        assert response.status_code == 400, weak
        assert rule in " ".join(response.json()["password"]), weak
    assert not User.objects.filter(email="annlee@example.com").exists()


def test_an_address_in_use_in_any_case_is_a_409(admin, alice):
    response = admin.post("users/", {"email": "ALICE@Example.com", "password": NEW_PASSWORD})

    assert response.status_code == 409
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1


def test_is_active_must_be_a_json_boolean(admin):
    response = admin.post("users/", {"email": "ann@example.com", "is_active": "false"})

    assert response.status_code == 400
    assert not User.objects.filter(email="ann@example.com").exists()


def test_a_user_can_be_created_inactive(admin):
    response = admin.post("users/", {"email": "ann@example.com", "password": PASSWORD,
                                     "is_active": False})  # fmt: skip

    assert response.json()["is_active"] is False
    assert Device().login(PASSWORD, email="ann@example.com").status_code == 401


def test_an_api_key_cannot_make_a_staff_user(admin):
    body = {"email": "ann@example.com", "is_staff": True, "is_superuser": True}

    response = admin.post("users/", body)

    assert response.status_code == 201
    ann = User.objects.get(email="ann@example.com")
    assert not (ann.is_staff or ann.is_superuser)


# Reading


def test_users_are_found_by_address_in_any_case(admin, alice):
    make_user("bob", "bob@example.com")

    response = admin.get("users/", email="Alice@EXAMPLE.com")

    assert response.status_code == 200
    assert response.json()["count"] == 1
    assert [u["id"] for u in response.json()["results"]] == [alice.pk]


def test_an_address_no_account_can_have_finds_nobody(admin, alice):
    for email in ("nobody@example.com", "alice@example.com\x00", "%"):
        response = admin.get("users/", email=email)
        assert response.status_code == 200, email
        assert response.json()["results"] == [], email


def test_the_list_is_paginated_by_limit_and_offset(admin):
    ids = [make_user(f"u{n}", f"u{n}@example.com").pk for n in range(3)]

    first = admin.get("users/", limit=2).json()
    rest = admin.get("users/", limit=2, offset=2).json()

    assert first["count"] == 3 and first["next"]
    assert [u["id"] for u in first["results"] + rest["results"]] == ids


def test_one_user_by_id(admin, alice):
    response = admin.get(f"users/{alice.pk}/")

    assert response.status_code == 200
    assert response.json()["email"] == "alice@example.com"


def test_an_unknown_or_impossible_id_is_a_404(admin, alice):
    for user_id in (alice.pk + 1000, 0, 10**30):
        for method in ("get", "delete"):
            assert getattr(admin, method)(f"users/{user_id}/").status_code == 404
        assert admin.patch(f"users/{user_id}/", {"is_active": False}).status_code == 404


# Changing the address


def test_a_new_address_kills_the_reset_links_sent_to_the_old_one(admin, alice, client):
    link = issue_link(alice)

    response = admin.patch(f"users/{alice.pk}/", {"email": "alice@new.example.com"})

    assert response.status_code == 200
    assert response.json()["email"] == "alice@new.example.com"
    body = {**link, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    confirm = client.post("/api/auth/password/reset/confirm/", data=json.dumps(body),
                          content_type="application/json")  # fmt: skip
    assert confirm.status_code == 400
    dead = "This password reset link is invalid, expired or already used. Ask for a new one."
    assert field_errors(confirm) == {"token": [dead]}
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_an_address_another_user_has_is_a_409(admin, alice):
    bob = make_user("bob", "bob@example.com")

    response = admin.patch(f"users/{bob.pk}/", {"email": "ALICE@example.com"})

    assert response.status_code == 409
    bob.refresh_from_db()
    assert bob.email == "bob@example.com"


def test_a_user_may_keep_their_own_address_in_another_case(admin, alice):
    response = admin.patch(f"users/{alice.pk}/", {"email": "Alice@example.com"})

    assert response.status_code == 200
    assert response.json()["email"] == "Alice@example.com"
    alice.refresh_from_db()
    assert alice.email == "Alice@example.com"


# Closing an account: every session and token ends at once


def signed_in_everywhere(user_email="alice@example.com"):
    device = Device()
    assert device.login(PASSWORD, email=user_email).status_code == 200
    browser = Client()
    browser.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert browser.get("/accounts/password-change/").status_code == 200
    return device, browser


def test_deactivating_ends_the_users_tokens_and_sessions_at_once(admin, alice, fake_redis):
    device, browser = signed_in_everywhere()

    response = admin.patch(f"users/{alice.pk}/", {"is_active": False})

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    # No worker has run: an inactive user authenticates nowhere.
    assert device.sessions().status_code == 401
    assert device.refresh_tokens().status_code == 401
    assert browser.get("/accounts/password-change/").status_code == 302
    assert Device().login(PASSWORD, email="alice@example.com").status_code == 401
    [message] = queued_messages(fake_redis, "security")
    assert message["args"]["type"] == "account.locked"
    assert message["args"]["payload"]["user_id"] == alice.pk
    assert message["args"]["payload"]["reason"] == "deactivated"


def test_deactivating_an_inactive_user_publishes_nothing_more(admin, alice, fake_redis):
    admin.patch(f"users/{alice.pk}/", {"is_active": False})
    admin.patch(f"users/{alice.pk}/", {"is_active": False})

    assert len(queued_messages(fake_redis, "security")) == 1


def test_a_reactivated_user_logs_in_again(admin, alice):
    admin.patch(f"users/{alice.pk}/", {"is_active": False})

    response = admin.patch(f"users/{alice.pk}/", {"is_active": True})

    assert response.json()["is_active"] is True
    assert Device().login(PASSWORD, email="alice@example.com").status_code == 200


def test_sessions_from_before_a_deactivation_do_not_come_back_with_the_account(admin, alice):
    device, browser = signed_in_everywhere()
    admin.patch(f"users/{alice.pk}/", {"is_active": False})  # no worker runs in this test

    admin.patch(f"users/{alice.pk}/", {"is_active": True})

    assert device.refresh_tokens().status_code == 401
    assert browser.get("/accounts/password-change/").status_code == 302


def test_deleting_ends_the_users_tokens_and_sessions_at_once(admin, alice, fake_redis):
    device, browser = signed_in_everywhere()
    user_id = alice.pk

    response = admin.delete(f"users/{user_id}/")

    assert response.status_code == 204
    assert admin.get(f"users/{user_id}/").status_code == 404
    assert device.sessions().status_code == 401
    assert device.refresh_tokens().status_code == 401
    assert browser.get("/accounts/password-change/").status_code == 302
    assert not RefreshToken.objects.filter(user_id=user_id).exists()
    assert not Session.objects.exists()  # the session rows are not linked to the user: gone too
    [message] = queued_messages(fake_redis, "security")
    assert message["args"]["type"] == "account.locked"
    payload = message["args"]["payload"]
    assert (payload["user_id"], payload["reason"]) == (user_id, "deleted")


# The worker's part (the handler run directly)


def whitelist(user, created_at):
    return RefreshToken.objects.create(
        jti=uuid.uuid4().hex, family=uuid.uuid4(), user=user, created_at=created_at,
        last_used_at=created_at, expires_at=created_at + timedelta(days=14),
    )  # fmt: skip


def test_the_security_worker_ends_the_locked_users_stored_sessions(alice):
    bob = make_user("bob", "bob@example.com")
    _, browser = signed_in_everywhere()
    Device().login(PASSWORD, email="alice@example.com")
    Device().login(PASSWORD, username="bob")
    payload = AccountLockedV1(user_id=alice.pk, reason="deactivated", locked_at=timezone.now())
    later = whitelist(alice, timezone.now() + timedelta(minutes=1))  # a login after reactivation

    end_locked_account_sessions(make_event(payload), payload)

    assert list(RefreshToken.objects.filter(user=alice)) == [later]
    assert not UserSession.objects.filter(user=alice).exists()
    assert Session.objects.count() == 0
    assert RefreshToken.objects.filter(user=bob).count() == 1
