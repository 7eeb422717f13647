"""Guessing passwords: failed logins are limited per account identifier, on every login form.

The identifier is counted as typed and normalised, so an address no account uses locks
exactly like one that exists: the lockout tells an attacker nothing about accounts. Nor does
the time a failed login takes: by username or by address, known or not, it costs one hash.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client

from shared.infra.redaction import hash_for_log
from tests.api_client import Device
from tests.conftest import set_rates
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture
def lockout(settings, fake_redis):
    """Three failures an hour per identifier; no per-IP limit in the way."""
    set_rates(settings, login_account=f"{LIMIT}/hour", login_ip=None)


def fail(times: int, **who) -> list[int]:
    """``times`` wrong passwords, each from another address (a botnet): the statuses."""
    return [
        Device(ip=f"198.51.100.{i}").login("not-the-password", **who).status_code
        for i in range(times)
    ]


@contextmanager
def hashed_passwords() -> Iterator[list[str]]:
    """The passwords hashed inside the block, one entry per hash: what a login costs in CPU,
    and so in time (the tests' hasher is MD5, see tests/conftest.py)."""
    hashed: list[str] = []
    real_encode = MD5PasswordHasher.encode

    def encode(hasher, password, salt):
        hashed.append(password)
        return real_encode(hasher, password, salt)

    with mock.patch.object(MD5PasswordHasher, "encode", encode):
        yield hashed


def test_an_account_is_locked_after_its_failed_logins_even_for_the_right_password(lockout, alice):
    assert fail(LIMIT, username="alice") == [401] * LIMIT
    locked = Device(ip="203.0.113.50").login(PASSWORD, username="alice")
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= 3600
    assert "access" not in locked.json()
    assert "Too many failed attempts" in locked.json()["detail"]


def test_retry_after_counts_from_the_oldest_failure_that_locked_the_account(lockout, alice, clock):
    fail(1, username="alice")
    clock.shift(1200)
    fail(LIMIT - 1, username="alice")
    locked = Device().login(PASSWORD, username="alice")
    assert (locked.status_code, locked["Retry-After"]) == (429, "2400")  # an hour after the first


def test_a_locked_account_opens_when_its_retry_after_has_passed_and_not_before(
    lockout, alice, clock
):
    fail(LIMIT, username="alice")
    assert Device().login(PASSWORD, username="alice")["Retry-After"] == "3600"
    clock.shift(3599.5)
    last_moment = Device().login(PASSWORD, username="alice")
    assert (last_moment.status_code, last_moment["Retry-After"]) == (429, "1")
    clock.shift(1)
    assert Device().login(PASSWORD, username="alice").status_code == 200


def test_the_lockout_fails_open_when_redis_is_down_and_logs_each_miss(
    lockout, alice, fake_redis, caplog
):
    fake_redis.server.connected = False
    with caplog.at_level(logging.WARNING, logger="shared.infra.ratelimit"):
        wrong = Device().login("not-the-password", username="alice")
        right = Device().login(PASSWORD, username="alice")
    assert (wrong.status_code, right.status_code) == (401, 200)
    down = "Redis unavailable: FakeRedis is emulating a connection error."
    assert [r.getMessage() for r in caplog.records if r.name == "shared.infra.ratelimit"] == [
        f"rate limit login_account not applied, {down}",
        f"rate limit login_account not recorded, {down}",
        f"rate limit login_account not applied, {down}",
    ]


def test_a_known_and_an_unknown_address_lock_identically(lockout, alice):
    def attempts(email):
        responses = [
            Device(ip=f"198.51.100.{i}").login("not-the-password", email=email)
            for i in range(LIMIT + 2)
        ]
        # The seconds left may differ by one between the two runs: compare all but them.
        return [(r.status_code, re.sub(rb"\d+", b"N", r.content), "Retry-After" in r)
                for r in responses]  # fmt: skip

    known = attempts("alice@example.com")
    assert [status for status, _, _ in known] == [401] * LIMIT + [429, 429]
    assert known == attempts("nobody@example.com")


def test_a_refused_login_is_logged_under_the_accounts_tag_not_its_name(lockout, alice, caplog):
    fail(LIMIT, username="alice")
    with caplog.at_level(logging.WARNING, logger="shared.accounts.login_attempts"):
        Device().login(PASSWORD, username="ALICE")
    lines = [r.getMessage() for r in caplog.records if r.name == "shared.accounts.login_attempts"]
    # The tag other log lines give alice, so an operator can follow one account's story.
    assert lines == [f"login refused: {hash_for_log('alice')} has too many failed attempts"]


def test_the_identifier_is_counted_normalised(lockout, alice):
    fail(1, email="alice@example.com")
    fail(1, email="ALICE@Example.COM")
    assert Device().login(PASSWORD, email="alice@example.com").status_code == 200
    fail(1, username="ALICE")
    fail(1, username="\uff41lice")  # a full-width "a": NFKC folds it to "a"
    fail(1, username="alice")
    assert Device().login(PASSWORD, username="alice").status_code == 429


def test_other_accounts_are_not_locked_by_one_being_attacked(lockout, alice):
    make_user("bob", "bob@example.com")
    fail(LIMIT, username="alice")
    assert Device().login(PASSWORD, username="bob").status_code == 200


def test_attempts_refused_by_the_lockout_do_not_prolong_it(lockout, alice, fake_redis):
    fail(LIMIT, username="alice")
    fail(5, username="alice")  # refused while locked: not counted
    [key] = fake_redis.keys("resetpass:rl:login_account:*")
    assert fake_redis.zcard(key) == LIMIT


def test_the_html_login_page_is_locked_too(lockout, alice):
    for _ in range(LIMIT):
        Client().post("/accounts/login/", {"username": "alice", "password": "wrong"})
    browser = Client()
    response = browser.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200  # the form again, not the redirect of a login
    assert b"Too many failed attempts to log in to this account" in response.content
    assert "_auth_user_id" not in browser.session


def test_the_django_admin_login_is_locked_too(lockout, db):
    make_user("root", "root@example.com", is_staff=True, is_superuser=True)
    for _ in range(LIMIT):
        Client().post("/admin/login/", {"username": "root", "password": "wrong"})
    admin = Client()
    response = admin.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 200
    assert b"Too many failed attempts to log in to this account" in response.content
    assert admin.get("/admin/").status_code == 302  # still sent to the login page


def test_failures_on_the_admin_and_the_api_add_up(lockout, alice):
    Client().post("/admin/login/", {"username": "alice", "password": "wrong"})
    Client().post("/accounts/login/", {"username": "alice", "password": "wrong"})
    fail(1, username="alice")
    assert Device().login(PASSWORD, username="alice").status_code == 429


def test_the_lockout_is_off_when_its_rate_is(settings, fake_redis, alice):
    set_rates(settings, login_account=None, login_ip=None)
    fail(LIMIT + 2, username="alice")
    assert Device().login(PASSWORD, username="alice").status_code == 200


@pytest.mark.parametrize(
    "who",
    [{"username": "alice"}, {"username": "nobody"}, {"email": "alice@example.com"},
     {"email": "nobody@example.com"}],
    ids=["known-username", "unknown-username", "known-address", "unknown-address"],
)  # fmt: skip
def test_a_failed_login_costs_one_password_hash_whether_the_account_exists_or_not(
    lockout, alice, who
):
    with hashed_passwords() as hashed:
        assert Device().login("not-the-password", **who).status_code == 401
    assert hashed == ["not-the-password"]


def test_a_login_by_address_hashes_for_at_most_five_of_the_accounts_sharing_it(lockout, db):
    for i in range(7):
        make_user(f"user{i}", "shared@example.com", password=f"passphrase-number-{i}")
    with hashed_passwords() as hashed:
        assert Device().login("not-the-password", email="shared@example.com").status_code == 401
    # However many accounts an attacker makes share one address, one guess costs five hashes.
    assert hashed == ["not-the-password"] * 5
