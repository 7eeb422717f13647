"""Admin API keys: made and revoked by command, and what a caller without a valid one sees."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from rest_framework_api_key.models import APIKey

from shared.accounts import sessions
from shared.models import WebhookSubscription
from shared.operators.api_keys import create_api_key, revoke_api_key
from tests.conftest import set_rates
from tests.factories import make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_redis")]

METHODS = ("get", "post", "put", "patch", "delete", "options")


def new_key(name: str = "crm") -> str:
    out = StringIO()
    call_command("create_api_key", name, stdout=out)
    return out.getvalue().splitlines()[-1]


def with_key(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Api-Key {key}"}


def call(method: str, path: str, **headers):
    if method in {"get", "head"}:
        return getattr(Client(), method)(path, **headers)
    return getattr(Client(), method)(path, data="{}", content_type="application/json", **headers)


def headers_of(response) -> tuple:
    return tuple(sorted((k, v) for k, v in response.headers.items() if k != "Date"))


def test_create_api_key_prints_a_key_alone_on_the_last_line_that_opens_the_admin_api():
    key = new_key()

    assert Client().get("/api/admin/users/", **with_key(key)).status_code == 200


def test_the_database_keeps_only_a_hash_of_the_key():
    key = new_key()
    secret = key.partition(".")[2]

    row = APIKey.objects.get(name="crm")
    assert secret not in f"{row.pk} {row.prefix} {row.hashed_key}"


def test_a_second_live_key_of_one_name_is_refused():
    new_key("crm")
    with pytest.raises(CommandError, match="A live key is named 'crm' already"):
        new_key("crm")
    assert APIKey.objects.filter(name="crm").count() == 1


def test_revoke_api_key_shuts_the_key_out_at_once():
    key = new_key()
    call_command("revoke_api_key", "crm", stdout=StringIO())

    assert Client().get("/api/admin/users/", **with_key(key)).status_code == 401


def test_revoking_leaves_other_keys_working():
    kept = new_key("billing")
    new_key("crm")
    call_command("revoke_api_key", "crm", stdout=StringIO())

    assert Client().get("/api/admin/users/", **with_key(kept)).status_code == 200


def test_revoking_an_unknown_name_is_an_error():
    with pytest.raises(CommandError, match="No live key is named 'nobody'"):
        call_command("revoke_api_key", "nobody", stdout=StringIO())


def test_revoking_a_name_twice_is_an_error_the_second_time():
    """The operator learns the name had no live key left, rather than a second 'revoked'."""
    new_key()
    call_command("revoke_api_key", "crm", stdout=StringIO())
    with pytest.raises(CommandError, match="No live key is named 'crm'"):
        call_command("revoke_api_key", "crm", stdout=StringIO())


@pytest.mark.parametrize(
    "key",
    ["x" * 5000, "abcdefgh.!" + "a" * 31, "abcdefgh.short", "no-dot-at-all" * 3, "é" * 41],
    ids=["long", "punctuation", "short", "no-dot", "non-ascii"],
)
def test_a_key_of_the_wrong_shape_is_refused_before_any_database_query(
    key, django_assert_num_queries
):
    new_key()  # a live key exists, so a lookup would have a table to search
    with django_assert_num_queries(0):
        response = Client().get("/api/admin/users/", **with_key(key))
    assert response.status_code == 401


def test_a_revoked_name_can_be_given_to_a_new_key():
    old = new_key()
    call_command("revoke_api_key", "crm", stdout=StringIO())
    new = new_key()

    assert Client().get("/api/admin/users/", **with_key(new)).status_code == 200
    assert Client().get("/api/admin/users/", **with_key(old)).status_code == 401


def test_without_a_valid_key_every_admin_path_and_method_gets_the_same_answer():
    alice = make_user()
    hook = WebhookSubscription.objects.create(
        url="https://hooks.example.com/", events=["password.changed"], secret="whsec_AAAA"
    )
    valid = create_api_key("valid")
    revoked = create_api_key("revoked")
    revoke_api_key("revoked")
    bearer = sessions.start_session(alice, ip=None, user_agent="t").access
    credentials = {
        "none": {},
        "garbage": with_key("garbage"),
        "well-formed but unknown": with_key(f"{valid[:8]}.{'x' * 32}"),
        "revoked": with_key(revoked),
        "a user's JWT": {"HTTP_AUTHORIZATION": f"Bearer {bearer}"},
        "another scheme": {"HTTP_AUTHORIZATION": f"Token {valid}"},
        "huge": with_key("A" * 100_000),
    }
    paths = [
        "/api/admin/users/",
        f"/api/admin/users/{alice.pk}/",
        "/api/admin/users/987654/",
        "/api/admin/users/not-an-id/",
        "/api/admin/",
        "/api/admin/users",
        "/api/admin/forced-resets/",
        f"/api/admin/users/{alice.pk}/password-reset/",
        "/api/admin/users/987654/password-reset/",
        "/api/admin/forced-resets/6b0f8c1e-6a5e-4a0c-8f6e-2f5a3c9d1b7e/",
        "/api/admin/forced-resets/not-a-uuid/",
        "/api/admin/webhooks/",
        f"/api/admin/webhooks/{hook.pk}/",
        "/api/admin/webhooks/987654/",
        "/api/admin/no/such/path/",
    ]
    reference = call("get", "/api/admin/users/")
    assert reference.status_code == 401
    assert reference.json() == {
        "detail": "A valid API key is required.",
        "code": "not_authenticated",
    }

    answers = set()
    for label, headers in credentials.items():
        for path in paths:
            for method in METHODS:
                response = call(method, path, **headers)
                answers.add((response.status_code, response.content, headers_of(response)))
                assert (response.status_code, response.content) == (
                    reference.status_code, reference.content,
                ), (label, method, path)  # fmt: skip
            assert call("head", path, **headers).status_code == 401

    assert len(answers) == 1
    alice.refresh_from_db()  # neither deleted nor changed by any of these
    assert alice.is_active and alice.email == "alice@example.com"
    assert [u.pk for u in type(alice).objects.all()] == [alice.pk]
    assert list(WebhookSubscription.objects.values_list("pk", flat=True)) == [hook.pk]


def test_with_a_valid_key_an_unknown_path_is_a_404():
    key = create_api_key("crm")

    response = Client().get("/api/admin/no/such/path/", **with_key(key))

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_requests_are_throttled_per_key(settings):
    set_rates(settings, admin_key="2/min")
    busy, other = create_api_key("busy"), create_api_key("other")
    for _ in range(2):
        assert Client().get("/api/admin/users/", **with_key(busy)).status_code == 200

    refused = Client().get("/api/admin/users/", **with_key(busy))

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert Client().get("/api/admin/users/", **with_key(other)).status_code == 200
