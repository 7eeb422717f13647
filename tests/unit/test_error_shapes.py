"""Errors a front end can rely on (README, "Errors"): every error body the API gives has one of
two documented shapes, each with a machine-readable ``code``, and the OpenAPI schema shows an
example of every request and response.

* an error: exactly ``{"detail": "<message>", "code": "<code>"}``;
* a refused body (400): dj-rest-auth's lists of messages per field, ``"code": "invalid"``,
  and ``field_codes``, the same keys with one code per message.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.db import OperationalError
from django.test import Client, RequestFactory
from django.utils import timezone
from jsonschema import Draft4Validator

from api import errors
from api.schema import ERROR_CODES
from shared.accounts import sessions
from shared.operators.api_keys import create_api_key
from tests.conftest import set_rates
from tests.factories import NEW_PASSWORD, PASSWORD, issue_link, make_user
from tests.unit.error_bodies import error, field_codes, field_errors

pytestmark = pytest.mark.django_db(transaction=True)

README = Path(__file__).resolve().parents[2] / "README.md"
DOCUMENTED = {(status, code) for status, code, _ in ERROR_CODES}


@pytest.fixture(autouse=True)
def _redis(fake_redis):
    return fake_redis


@pytest.fixture
def alice():
    return make_user()


@pytest.fixture
def access(alice) -> str:
    return sessions.start_session(alice, ip="198.51.100.7", user_agent="test").access


@pytest.fixture
def api_key() -> str:
    return create_api_key("front-end-tests")


def post(path: str, body, client=None, **extra):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return (client or Client()).post(path, data, content_type="application/json", **extra)


def confirm(link, password1, password2=None):
    body = {**link, "new_password1": password1, "new_password2": password2 or password1}
    return post("/api/auth/password/reset/confirm/", body)


def change(access, password1, password2=None, old=PASSWORD):
    body = {
        "old_password": old,
        "new_password1": password1,
        "new_password2": password2 or password1,
    }
    return post("/api/auth/password/change/", body, **bearer(access))


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def api_key_header(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Api-Key {key}"}


def expired_access_token(user) -> str:
    """A token of a real session, issued longer ago than ACCESS_TOKEN_LIFETIME."""
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    with time_machine.travel(timezone.now() - lifetime - timedelta(minutes=1)):
        return sessions.start_session(user, ip="198.51.100.7", user_agent="test").access


def db_down(*args, **kwargs):
    raise OperationalError("connection to server failed: Connection refused")


# Each request a front end may send that ends in an error, with the status and ``code`` it
# observes. ``f`` holds the fixtures a case may need (see ``fixtures``).
CASES = {}


def case(name: str, status: int, code: str):
    def register(make_request):
        CASES[name] = (status, code, make_request)
        return make_request

    return register


@case("400 refused field", 400, "invalid")
def _(f):
    return post("/api/auth/password/reset/", {"email": "not an address"})


@case("400 malformed JSON", 400, "parse_error")
def _(f):
    return post("/api/auth/password/reset/", b'{"email": ')


@case("400 a field given twice", 400, "parse_error")
def _(f):
    return post("/api/auth/password/reset/", b'{"email": "a@x.org", "email": "b@x.org"}')


@case("401 no token", 401, "not_authenticated")
def _(f):
    return Client().get("/api/auth/sessions/")


@case("401 malformed token", 401, "token_not_valid")
def _(f):
    return Client().get("/api/auth/sessions/", **bearer("a.b.c"))


@case("401 expired token", 401, "token_not_valid")
def _(f):
    return Client().get("/api/auth/sessions/", **bearer(expired_access_token(f["alice"])))


@case("401 header without a token", 401, "bad_authorization_header")
def _(f):
    return Client().get("/api/auth/sessions/", HTTP_AUTHORIZATION="Bearer")


@case("401 token from before a password change", 401, "password_changed")
def _(f):
    f["alice"].set_password(NEW_PASSWORD)
    f["alice"].save()
    return Client().get("/api/auth/sessions/", **bearer(f["access"]))


@case("401 token of a deactivated user", 401, "user_inactive")
def _(f):
    f["alice"].is_active = False
    f["alice"].save()
    return Client().get("/api/auth/sessions/", **bearer(f["access"]))


@case("401 ended refresh token", 401, "token_not_valid")
def _(f):
    return post("/api/auth/token/refresh/", {"refresh": "a.b.c"})


@case("401 bad credentials", 401, "invalid_credentials")
def _(f):
    return post("/api/auth/login/", {"username": "alice", "password": "wrong"})


@case("401 admin API without a key", 401, "not_authenticated")
def _(f):
    return Client().get("/api/admin/users/")


@case("404 unknown URL", 404, "not_found")
def _(f):
    return Client().get("/api/auth/no/such/path/")


@case("404 unknown object", 404, "not_found")
def _(f):
    path = "/api/auth/sessions/6b0f8c1e-6a5e-4a0c-8f6e-2f5a3c9d1b7e/"
    return Client().delete(path, **bearer(f["access"]))


@case("404 unknown admin path", 404, "not_found")
def _(f):
    return Client().get("/api/admin/nothing/", **api_key_header(f["api_key"]))


@case("405 DRF view", 405, "method_not_allowed")
def _(f):
    return Client().get("/api/auth/login/")


@case("405 probe", 405, "method_not_allowed")
def _(f):
    return Client().post("/healthz")


@case("405 JWKS", 405, "method_not_allowed")
def _(f):
    return Client().post("/.well-known/jwks.json")


@case("406", 406, "not_acceptable")
def _(f):
    return post("/api/auth/password/reset/", {"email": "a@x.org"}, HTTP_ACCEPT="text/html")


@case("409", 409, "email_taken")
def _(f):
    return post("/api/admin/users/", {"email": "ALICE@example.com"}, **api_key_header(f["api_key"]))


@case("413", 413, "request_too_large")
def _(f):
    return post("/api/auth/password/reset/", b'{"email": "' + b"a" * 2**20 + b'"}')


@case("415", 415, "unsupported_media_type")
def _(f):
    return Client().post("/api/auth/login/", "x", content_type="text/plain")


@case("429 throttled", 429, "throttled")
def _(f):
    set_rates(f["settings"], reset_ip="1/min")
    post("/api/auth/password/reset/", {"email": "a@x.org"})
    return post("/api/auth/password/reset/", {"email": "a@x.org"})


@case("429 account locked after failed logins", 429, "too_many_failed_logins")
def _(f):
    set_rates(f["settings"], login_account="1/hour")
    post("/api/auth/login/", {"username": "alice", "password": "wrong"})
    return post("/api/auth/login/", {"username": "alice", "password": "wrong"})


@case("500", 500, "server_error")
def _(f):
    f["monkeypatch"].setattr(
        "api.views.password_reset.request_password_reset", lambda **kwargs: 1 / 0
    )
    client = Client(raise_request_exception=False)
    return post("/api/auth/password/reset/", {"email": "a@x.org"}, client=client)


@case("503 database down", 503, "database_unavailable")
def _(f):
    f["monkeypatch"].setattr("api.views.password_reset.user_for_link", db_down)
    return confirm({"uid": "MQ", "token": "a-b"}, NEW_PASSWORD)


@case("503 work queue down", 503, "queue_unavailable")
def _(f):
    f["fake_redis"].server.connected = False
    path = f"/api/admin/users/{f['alice'].pk}/password-reset/"
    return post(path, {}, **api_key_header(f["api_key"]))


@pytest.fixture
def fixtures(alice, access, api_key, monkeypatch, settings, fake_redis) -> dict:
    return {
        "alice": alice, "access": access, "api_key": api_key, "monkeypatch": monkeypatch,
        "settings": settings, "fake_redis": fake_redis,
    }  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_every_error_has_a_documented_shape_and_code(fixtures, case):
    status, code, make_request = CASES[case]

    response = make_request(fixtures)

    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    if code == "invalid":
        field_errors(response)
    else:
        error(response)
    assert response.json()["code"] == code
    assert (status, code) in DOCUMENTED
    if status in (429, 503):
        assert int(response["Retry-After"]) > 0


def test_a_403_from_django_has_the_error_shape_too():
    request = RequestFactory().get("/api/auth/sessions/")
    response = errors.permission_denied(request, PermissionError())
    assert response.status_code == 403
    assert json.loads(response.content) == {
        "detail": "You do not have permission to perform this action.",
        "code": "permission_denied",
    }


def test_an_unknown_url_and_an_unknown_admin_path_answer_the_same_bytes(api_key):
    unknown_url = Client().get("/api/nothing/")
    unknown_admin_path = Client().get(
        "/api/admin/nothing/", HTTP_AUTHORIZATION=f"Api-Key {api_key}"
    )

    assert unknown_url.content == unknown_admin_path.content
    assert unknown_url.content == b'{"detail":"Not found.","code":"not_found"}'


def test_an_expired_token_says_so_without_simplejwts_messages(alice):
    response = Client().get("/api/auth/sessions/", **bearer(expired_access_token(alice)))

    assert response.status_code == 401
    assert response.json() == {"detail": "Token is expired", "code": "token_not_valid"}


def test_a_malformed_token_says_so_without_simplejwts_messages():
    response = Client().get("/api/auth/sessions/", **bearer("a.b.c"))

    assert response.json() == {"detail": "Token is invalid", "code": "token_not_valid"}


def test_a_token_from_before_a_password_change_keeps_its_code(alice, access):
    alice.set_password(NEW_PASSWORD)
    alice.save()

    response = Client().get("/api/auth/sessions/", **bearer(access))

    assert response.json() == {"detail": "This session has ended.", "code": "password_changed"}


def test_the_database_outage_and_a_drf_error_render_alike(monkeypatch):
    """An error from a Django view (503, 404) is compact UTF-8 JSON, byte for byte as DRF
    renders the same body."""
    monkeypatch.setattr("api.views.password_reset.user_for_link", db_down)
    response = confirm({"uid": "MQ", "token": "a-b"}, NEW_PASSWORD)

    assert (
        response.content
        == json.dumps(response.json(), separators=(",", ":"), ensure_ascii=False).encode()
    )


# A refused body: dj-rest-auth's fields, each refusal where the person can act on it.


def test_a_password_that_breaks_a_rule_is_reported_where_it_was_typed_on_reset(alice):
    response = confirm(issue_link(alice), "short")

    assert list(field_errors(response)) == ["new_password1"]
    assert "too short" in field_errors(response)["new_password1"][0]
    assert field_codes(response) == {"new_password1": ["password_too_short"]}


def test_a_password_that_breaks_a_rule_is_reported_where_it_was_typed_on_change(alice, access):
    response = change(access, "qwerty123456")

    assert list(field_errors(response)) == ["new_password1"]
    assert "password_too_common" in field_codes(response)["new_password1"]


@pytest.mark.parametrize("flow", ["reset", "change"])
def test_two_different_passwords_are_reported_on_the_confirmation(alice, access, flow):
    typed = (NEW_PASSWORD, NEW_PASSWORD + "x")
    response = confirm(issue_link(alice), *typed) if flow == "reset" else change(access, *typed)

    assert list(field_errors(response)) == ["new_password2"]
    assert field_codes(response) == {"new_password2": ["password_mismatch"]}


def test_a_wrong_old_password_is_reported_on_it(alice, access):
    response = change(access, NEW_PASSWORD, old="not-my-password")

    assert field_codes(response) == {"old_password": ["wrong_password"]}


def test_login_with_an_empty_body_names_both_ways_to_log_in():
    response = post("/api/auth/login/", {})

    errors_by_field = field_errors(response)
    [message] = errors_by_field["non_field_errors"]
    assert "email" in message
    assert "username" in message
    assert field_codes(response) == {
        "non_field_errors": ["email_or_username"],
        "password": ["required"],
    }


def test_login_with_a_password_alone_names_both_ways_to_log_in():
    response = post("/api/auth/login/", {"password": PASSWORD})

    assert field_codes(response) == {"non_field_errors": ["email_or_username"]}


def test_a_dead_reset_link_has_a_code_of_its_own(alice):
    response = confirm({"uid": "MQ", "token": "a-b"}, NEW_PASSWORD)

    assert field_codes(response) == {"token": ["invalid_link"]}


def test_a_wrong_reset_code_is_a_body_error_since_code_names_the_error():
    """The request field ``code`` cannot also be the body's key: its messages are under
    non_field_errors, and ``code`` stays the error code."""
    response = post("/api/auth/password/reset/code/", {"email": "a@x.org", "code": "12345678"})

    assert response.json()["code"] == "invalid"
    assert field_codes(response) == {"non_field_errors": ["invalid_code"]}


def test_a_missing_reset_code_says_what_is_missing():
    response = post("/api/auth/password/reset/code/", {"email": "a@x.org"})

    assert field_errors(response) == {"non_field_errors": ["Enter the code from the email."]}
    assert field_codes(response) == {"non_field_errors": ["required"]}


def test_an_unknown_client_has_a_code_of_its_own():
    response = post("/api/auth/password/reset/", {"email": "a@x.org", "client": "nope"})

    assert field_codes(response) == {"client": ["unknown_client"]}


def test_readyz_503_is_an_error_body_that_still_names_what_is_down(fake_redis):
    fake_redis.server.connected = False

    response = Client().get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "not_ready"
    assert "redis" in body["detail"]
    assert body["checks"] == {"database": "ok", "redis": "unavailable"}


# The OpenAPI schema: every operation shows examples, every error its shape.


@pytest.fixture(scope="module")
def schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_every_operation_has_request_and_response_examples(schema):
    missing = []
    for label, operation in operations(schema):
        body = operation.get("requestBody")
        if body and not body["content"]["application/json"].get("examples"):
            missing.append(f"{label} request")
        for status, response in operation["responses"].items():
            for media_type, content in response.get("content", {}).items():
                if not content.get("examples"):
                    missing.append(f"{label} {status} {media_type}")
    assert missing == []


def test_no_object_in_the_schema_is_free_form(schema):
    """Swagger UI fills a free-form object (``additionalProperties``) with ``additionalProp1``:
    every object lists its properties instead."""
    found = []

    def walk(node, where):
        if isinstance(node, dict):
            if node.get("additionalProperties", False) is not False:
                found.append(where)
            if node.get("type") == "object" and "properties" not in node:
                found.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    walk(schema, "#")
    assert found == []


def test_every_example_fits_its_schema(schema):
    """The examples are what the API sends: each one is valid against its own schema (the
    error examples are built by the functions that build the API's error bodies)."""
    wrong = []
    for label, operation in operations(schema):
        contents = [("request", operation.get("requestBody", {}).get("content", {}))]
        contents += [(status, r.get("content", {})) for status, r in operation["responses"].items()]
        for where, content in contents:
            media = content.get("application/json")
            if not media:
                continue
            # The document's components beside the schema, so that "#/components/..." resolves.
            validator = Draft4Validator({**media["schema"], "components": schema["components"]})
            for name, example in media.get("examples", {}).items():
                for problem in validator.iter_errors(example["value"]):
                    wrong.append(f"{label} {where} {name}: {problem.message}")
    assert wrong == []


def test_every_error_response_has_the_documented_shape(schema):
    error_ref = {"$ref": "#/components/schemas/Error"}
    for label, operation in operations(schema):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            documented = response["content"]["application/json"]["schema"]
            if status == "400" and "requestBody" in operation:
                [invalid, other] = documented["oneOf"]
                assert invalid["$ref"].endswith("ValidationError"), label
                assert other == error_ref, label
            else:
                assert documented == error_ref, f"{label} {status}"


def test_the_readme_lists_every_error_code():
    section = README.read_text().split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`([a-z_]+)`", section))
    assert {code for _, code, _ in ERROR_CODES} <= listed
