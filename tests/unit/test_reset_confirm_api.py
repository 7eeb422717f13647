"""POST /api/auth/password/reset/confirm/: every token rule, as a client or attacker sees it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils.encoding import force_bytes
from django.utils.http import int_to_base36, urlsafe_base64_encode

from shared.accounts.password_reset import InvalidResetLink, complete_password_reset, user_for_link
from shared.accounts.reset_tokens import reset_token_generator
from tests.conftest import queued_messages, set_rates
from tests.factories import NEW_PASSWORD, PASSWORD, issue_link, make_user
from tests.unit.error_bodies import field_errors

URL = "/api/auth/password/reset/confirm/"
INVALID = "This password reset link is invalid, expired or already used. Ask for a new one."

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]


def confirm(client, link, password=NEW_PASSWORD, password2=None, **extra):
    body = {**link, "new_password1": password, "new_password2": password2 or password}
    return client.post(URL, data=json.dumps(body), content_type="application/json", **extra)


def can_log_in(user, password) -> bool:
    return get_user_model().objects.get(pk=user.pk).check_password(password)


def test_a_valid_link_sets_the_new_password(client):
    user = make_user()
    response = confirm(client, issue_link(user))
    assert response.status_code == 200
    assert "detail" in response.json()
    assert can_log_in(user, NEW_PASSWORD)
    assert not can_log_in(user, PASSWORD)


def test_a_completed_reset_publishes_password_changed_saying_who_set_it(client, fake_redis):
    user = make_user()

    response = confirm(
        client, issue_link(user), REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="phone-browser",
        HTTP_ACCEPT_LANGUAGE="fr",
    )  # fmt: skip

    assert response.status_code == 200
    [message] = queued_messages(fake_redis, "security")
    payload = message["args"]["payload"]
    assert payload.pop("changed_at")
    assert payload == {
        "user_id": user.pk, "reason": "reset", "ip": "203.0.113.9",
        "user_agent": "phone-browser", "language": "fr",
        "keep_token_family": None, "keep_session_key": None,  # a reset keeps no session
    }  # fmt: skip


def test_a_link_works_only_once(client):
    user = make_user()
    link = issue_link(user)
    assert confirm(client, link).status_code == 200
    second = confirm(client, link, password="yet-another-long-passphrase")
    assert second.status_code == 400
    assert field_errors(second) == {"token": [INVALID]}
    assert can_log_in(user, NEW_PASSWORD)


def test_only_the_newest_link_sent_works(client):
    user = make_user()
    older = issue_link(user)
    newer = issue_link(user)
    assert field_errors(confirm(client, older)) == {"token": [INVALID]}
    assert confirm(client, newer).status_code == 200


def test_a_link_expires_after_password_reset_timeout(client, settings, monkeypatch):
    settings.PASSWORD_RESET_TIMEOUT = 3600
    user = make_user()
    link = issue_link(user)
    issued = datetime.now()
    monkeypatch.setattr(reset_token_generator, "_now", lambda: issued + timedelta(seconds=3601))
    assert field_errors(confirm(client, link)) == {"token": [INVALID]}
    monkeypatch.setattr(reset_token_generator, "_now", lambda: issued + timedelta(seconds=3590))
    assert confirm(client, link).status_code == 200


def test_an_expired_link_is_not_revived_by_rewriting_its_timestamp(client, settings, monkeypatch):
    user = make_user()
    link = issue_link(user)
    later = datetime.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)
    monkeypatch.setattr(reset_token_generator, "_now", lambda: later)
    _, signature = link["token"].split("-")
    now = int((later - datetime(2001, 1, 1)).total_seconds())  # a token's clock, as Django's

    revived = confirm(client, {**link, "token": f"{int_to_base36(now)}-{signature}"})

    assert field_errors(revived) == {"token": [INVALID]}
    assert can_log_in(user, PASSWORD)


def test_a_password_change_kills_outstanding_links(client):
    user = make_user()
    link = issue_link(user)
    user.set_password("changed-elsewhere-passphrase")
    user.save()
    assert field_errors(confirm(client, link)) == {"token": [INVALID]}


def test_an_email_change_kills_outstanding_links(client):
    user = make_user()
    link = issue_link(user)
    user.email = "new-address@example.com"
    user.save()
    assert field_errors(confirm(client, link)) == {"token": [INVALID]}


def test_of_two_confirms_of_one_link_the_one_that_sets_its_password_second_is_refused(client):
    """Both checked the link before either set a password: the swap compares the password
    hash each one read, so the second finds it changed (on PostgreSQL, for real, in
    tests/integration/test_reset_concurrency.py)."""
    user = make_user()
    link = issue_link(user)
    second = user_for_link(link["uid"], link["token"])  # checked, about to set its password

    assert confirm(client, link).status_code == 200
    with pytest.raises(InvalidResetLink):
        complete_password_reset(second, "the-second-long-passphrase", ip=None, user_agent="")

    assert can_log_in(user, NEW_PASSWORD)


def test_an_address_changed_while_a_confirm_runs_refuses_it(client):
    """The swap also compares the address: a link mailed to the old address cannot set a
    password once the account has a new one, even when the change lands mid-confirm."""
    user = make_user()
    link = issue_link(user)
    checked = user_for_link(link["uid"], link["token"])
    get_user_model().objects.filter(pk=user.pk).update(email="new-address@example.com")

    with pytest.raises(InvalidResetLink):
        complete_password_reset(checked, NEW_PASSWORD, ip=None, user_agent="")

    assert can_log_in(user, PASSWORD)


def test_a_reset_sets_the_password_of_its_own_account_only(client):
    """Accounts copied in from elsewhere can share an address and even a password hash; the
    link's account is the only one whose password changes."""
    ann = make_user("ann", "twin@example.com")
    bob = make_user("bob", "twin@example.com")
    get_user_model().objects.filter(pk=bob.pk).update(password=ann.password)

    assert confirm(client, issue_link(ann)).status_code == 200

    assert can_log_in(ann, NEW_PASSWORD)
    assert can_log_in(bob, PASSWORD)


def test_a_token_is_bound_to_its_user(client):
    alice = make_user()
    bob = make_user("bob", "bob@example.com")
    alices = issue_link(alice)
    bobs = issue_link(bob)
    response = confirm(client, {"uid": bobs["uid"], "token": alices["token"]})
    assert field_errors(response) == {"token": [INVALID]}
    assert can_log_in(bob, PASSWORD)


def test_forged_garbage_and_unknown_uids_get_the_very_same_answer(client):
    """Whether an account has this id must not show: every dead link, whatever is wrong with
    it, gets the same status, body and headers as a forged token for a real account."""
    user = make_user()
    gone = make_user("gone", "gone@example.com")
    gone_link = issue_link(gone)
    gone.delete()
    inactive = make_user("idle", "idle@example.com")
    inactive_link = issue_link(inactive)
    get_user_model().objects.filter(pk=inactive.pk).update(is_active=False)
    real_uid = issue_link(user)["uid"]
    never_mailed = make_user("quiet", "quiet@example.com")
    quiet_uid = urlsafe_base64_encode(force_bytes(never_mailed.pk))
    links = {
        "forged token, real account": {"uid": real_uid, "token": "cz1abc-0123456789abcdef01"},
        "forged token, never-mailed account": {"uid": quiet_uid, "token": "cz1abc-0123456789ab"},
        "garbage uid": {"uid": "not-base64!!", "token": "x"},
        "unknown id": {"uid": "OTk5OTk5", "token": "cz1abc-0123456789abcdef"},
        "non-numeric id": {"uid": "YWJj", "token": "cz1abc-0123456789abcdef"},
        "deleted account": gone_link,
        "inactive account": inactive_link,
    }

    answers = {name: confirm(client, link) for name, link in links.items()}

    for name, response in answers.items():
        assert response.status_code == 400, name
        assert field_errors(response) == {"token": [INVALID]}, name
    assert len({r.content for r in answers.values()}) == 1
    assert len({tuple(sorted(r.headers.items())) for r in answers.values()}) == 1


def test_an_empty_link_is_a_plain_field_error(client):
    response = confirm(client, {"uid": "", "token": ""})

    assert field_errors(response) == {
        "uid": ["This field may not be blank."],
        "token": ["This field may not be blank."],
    }


def test_a_refused_password_does_not_spend_the_link(client):
    user = make_user()
    link = issue_link(user)
    refused = confirm(client, link, password="short")
    assert refused.status_code == 400
    assert "too short" in " ".join(field_errors(refused)["new_password1"])
    assert confirm(client, link).status_code == 200


def test_two_different_passwords_are_refused_without_spending_the_link(client):
    user = make_user()
    link = issue_link(user)
    refused = confirm(client, link, password=NEW_PASSWORD, password2=NEW_PASSWORD + "x")
    assert refused.status_code == 400
    assert "didn’t match" in field_errors(refused)["new_password2"][0]
    assert confirm(client, link).status_code == 200


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("elevenchars", "too short"),
        ("a" * 4097, "no more than 4096"),
        ("qwerty123456", "too common"),
        ("alice@example.com", "too similar"),
    ],
)
def test_password_rules_say_why_a_password_is_refused(client, password, reason):
    user = make_user()
    response = confirm(client, issue_link(user), password=password)
    assert response.status_code == 400
    assert reason in json.dumps(response.json())


@pytest.mark.parametrize(
    "password",
    [
        "twelve chars",
        "all lowercase words are fine here",
        "sixty-four characters make a fine passphrase, and so would more!",
        ("a long passphrase that goes on " * 7)[:201],
        ("grüße aus köln " * 274)[:4096],
    ],
    ids=["12-chars", "no-composition-rules", "64-chars", "long", "4096-chars"],
)
def test_long_and_plain_passwords_are_accepted(client, password):
    user = make_user()
    assert confirm(client, issue_link(user), password=password).status_code == 200
    assert can_log_in(user, password)


@pytest.mark.parametrize(
    "field_value",
    [123, ["a"], {"a": 1}, None, True],
    ids=["number", "list", "object", "null", "bool"],
)
def test_non_string_fields_are_a_400(client, field_value):
    user = make_user()
    body = {**issue_link(user), "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    for field in body:
        bad = {**body, field: field_value}
        response = client.post(URL, data=json.dumps(bad), content_type="application/json")
        assert response.status_code == 400, field
        assert field in response.json()
    assert can_log_in(user, PASSWORD)


def test_confirm_responses_are_not_cached_and_refer_nowhere_else(client):
    user = make_user()
    for response in (
        confirm(client, issue_link(user)),
        confirm(client, {"uid": "x", "token": "y"}),
    ):
        assert response["Cache-Control"] == "no-store"
        assert response["Referrer-Policy"] == "same-origin"


def test_confirm_is_throttled_per_ip(client, settings):
    set_rates(settings, confirm_ip="3/min")
    statuses = [confirm(client, {"uid": "x", "token": "y"}).status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    throttled = confirm(client, {"uid": "x", "token": "y"})
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert "detail" in throttled.json()
    other_ip = confirm(client, {"uid": "x", "token": "y"}, REMOTE_ADDR="203.0.113.9")
    assert other_ip.status_code == 400
