"""Hostile input: every answer is a JSON error with a 4xx status (a 503 when the database is
down), never a 500, an HTML page or a traceback."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client

from shared.accounts import sessions
from tests.conftest import queued_messages, set_rates
from tests.factories import NEW_PASSWORD, PASSWORD, make_user
from tests.unit.error_bodies import field_errors

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 1024 * 1024  # DATA_UPLOAD_MAX_MEMORY_SIZE, MAX_REQUEST_BODY's default


@dataclass(frozen=True)
class Target:
    path: str
    body: dict
    bearer: bool = False
    anonymous: bool = False  # Bearer-protected, called without a token: 401 whatever the body

    @property
    def url(self) -> str:
        return f"/api/auth/{self.path}"


PASSWORDS = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
CHANGE = {"old_password": PASSWORD, **PASSWORDS}
TARGETS = {
    "login": Target("login/", {"username": "alice", "password": PASSWORD}),
    "refresh": Target("token/refresh/", {"refresh": "a.b.c"}),
    "logout": Target("logout/", {"refresh": "a.b.c"}),
    "reset": Target("password/reset/", {"email": "alice@example.com"}),
    "confirm": Target("password/reset/confirm/", {"uid": "MQ", "token": "a-b", **PASSWORDS}),
    "change": Target("password/change/", CHANGE, bearer=True),
    "change-anonymous": Target("password/change/", CHANGE, anonymous=True),
}
ALL = pytest.mark.parametrize("target", TARGETS.values(), ids=TARGETS.keys())


@pytest.fixture(autouse=True)
def _redis_and_no_throttles(fake_redis, settings):
    # Throttles would answer 429 before the body is read; they have their own tests.
    set_rates(settings, **dict.fromkeys(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]))
    return fake_redis


@pytest.fixture
def alice():
    return make_user()


@pytest.fixture
def access(alice) -> str:
    return sessions.start_session(alice, ip="198.51.100.7", user_agent="test").access


def send(client, target: Target, access: str, body: bytes, content_type: str, method="POST"):
    extra = {"HTTP_AUTHORIZATION": f"Bearer {access}"} if target.bearer else {}
    return client.generic(method, target.url, body, content_type=content_type, **extra)


def expected(target: Target, status: int) -> int:
    return 401 if target.anonymous else status


def assert_json_error(response, status: int) -> dict:
    assert response.status_code < 500
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body, dict)
    assert body
    return body


def as_json(body) -> bytes:
    return json.dumps(body).encode()


def every_field(target: Target, value: str) -> bytes:
    return as_json(dict.fromkeys(target.body, value))


def multipart(fields: dict[str, bytes], file: bytes | None = None) -> bytes:
    parts = [
        b'--xyz\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (k.encode(), v)
        for k, v in fields.items()
    ]
    if file is not None:
        parts.append(
            b'--xyz\r\nContent-Disposition: form-data; name="upload"; filename="a.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n" + file + b"\r\n"
        )
    return b"".join(parts) + b"--xyz--\r\n"


MULTIPART = "multipart/form-data; boundary=xyz"
FORM = "application/x-www-form-urlencoded"


# Size.


@ALL
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"email": "' + b"a" * LIMIT + b'"}', "application/json"),
        (b"email=" + b"a" * LIMIT, "application/x-www-form-urlencoded"),
        (multipart({"email": b"a" * LIMIT}), MULTIPART),
        (multipart({"email": b"a@example.com"}, file=b"\0" * LIMIT), MULTIPART),
    ],
    ids=["json", "form", "multipart-field", "multipart-file"],
)
def test_a_body_over_one_mebibyte_is_a_413(client, access, target, body, content_type):
    assert len(body) > LIMIT
    response = send(client, target, access, body, content_type)
    assert_json_error(response, expected(target, 413))


def test_a_body_just_under_the_limit_is_read(client, fake_redis):
    body = as_json({"email": "alice@example.com", "padding": "a" * (LIMIT - 100)})
    assert len(body) <= LIMIT
    response = client.post("/api/auth/password/reset/", body, content_type="application/json")
    assert response.status_code == 202
    [message] = queued_messages(fake_redis, "email")
    assert message["args"]["payload"]["email"] == "alice@example.com"


# Content types and encodings.


@ALL
@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"email=alice@example.com", "text/plain", 415),
        (b"<email>alice@example.com</email>", "application/xml", 415),
        (b"\x00\x01garbage", "application/octet-stream", 415),
        (b"garbage", "multipart/form-data", 400),  # no boundary
        (b"garbage", "multipart/form-data; boundary=\xff\xfe", 400),
        (b"--xyz\r\ngarbage\x00\xff\r\n--xyz--", MULTIPART, 400),
        (b'{"email": "alice@example.com"}', "application/json; charset=rot13", 400),
        (b'{"email": "alice@example.com"}', "application/json; charset=zlib", 400),
        (b"email=%2B2AA-%40example.com", "application/x-www-form-urlencoded; charset=utf-7", 400),
        (multipart({"email": b"+2AA-@example.com"}), MULTIPART + "; charset=utf-7", 400),
    ],
    ids=[
        "text-plain", "xml", "octet-stream", "multipart-no-boundary", "multipart-bad-boundary",
        "multipart-garbage", "json-rot13", "json-zlib", "form-utf7", "multipart-utf7",
    ],
)  # fmt: skip
def test_wrong_content_types_and_charsets_are_a_415_or_400(
    client, access, target, body, content_type, status
):
    response = send(client, target, access, body, content_type)
    assert_json_error(response, expected(target, status))


@ALL
@pytest.mark.parametrize(
    "body",
    [b'{"email": "\xff\xfe"}', b"\xc3\x28", b'{"password": "\xed\xa0\x80"}', b"\x80" * 100],
    ids=["invalid-start-byte", "truncated-sequence", "encoded-surrogate", "continuation-bytes"],
)
def test_invalid_utf8_in_a_json_body_is_a_400(client, access, target, body):
    response = send(client, target, access, body, "application/json")
    assert_json_error(response, expected(target, 400))


# Shapes and values.


@ALL
@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"a": ' * 100_000, b"[" * 100_000 + b"]" * 100_000],
    ids=["open-arrays", "open-objects", "balanced-arrays"],
)
def test_deeply_nested_json_is_a_400(client, access, target, body):
    response = send(client, target, access, body, "application/json")
    assert_json_error(response, expected(target, 400))


@ALL
@pytest.mark.parametrize(
    "body",
    [b"", b"   ", b"null", b"[]", b'"text"', b"12", b"NaN", b'{"a": 1, "a": 2}', b"1" * 5000],
    ids=["empty", "blank", "null", "array", "string", "number", "nan", "dup-key", "huge-int"],
)
def test_json_bodies_that_are_not_the_expected_object_are_a_400(client, access, target, body):
    response = send(client, target, access, body, "application/json")
    assert_json_error(response, expected(target, 400))


@ALL
def test_null_bytes_inside_string_fields_are_a_400(client, access, target):
    response = send(client, target, access, every_field(target, "alice\x00@example.com"),
                    "application/json")  # fmt: skip
    assert_json_error(response, expected(target, 400))
    if not target.anonymous:
        assert set(field_errors(response)) == set(target.body)  # each field refused on its own


@ALL
def test_null_bytes_in_a_form_body_are_a_400(client, access, target):
    fields = "&".join(f"{name}=a%00b" for name in target.body)
    response = send(client, target, access, fields.encode(), "application/x-www-form-urlencoded")
    assert_json_error(response, expected(target, 400))


@ALL
def test_very_long_strings_are_a_400(client, access, target):
    response = send(client, target, access, every_field(target, "a" * 100_000), "application/json")
    assert_json_error(response, expected(target, 400))
    if not target.anonymous:
        assert set(field_errors(response)) == set(target.body)


@ALL
@pytest.mark.parametrize(
    "value",
    ["\ud800", "a\udfffb@example.com", "\ud83d"],
    ids=["high-surrogate", "low-surrogate-in-address", "half-an-emoji"],
)
def test_lone_surrogates_are_a_400(client, access, target, value):
    # json.dumps escapes them as \ud800: valid JSON, but no UTF-8 (nor database) can hold them.
    response = send(client, target, access, every_field(target, value), "application/json")
    assert_json_error(response, expected(target, 400))


@ALL
@pytest.mark.parametrize(
    "value", [12, 1.5, True, None, [], {}, ["a"], {"a": "b"}], ids=lambda v: type(v).__name__
)
def test_non_string_values_are_a_400(client, access, target, value):
    body = as_json(dict.fromkeys(target.body, value))
    response = send(client, target, access, body, "application/json")
    assert_json_error(response, expected(target, 400))


def test_nothing_is_published_for_a_refused_reset_request(client, fake_redis):
    for body in (b"[" * 100_000, every_field(TARGETS["reset"], "a\x00@example.com")):
        response = client.post("/api/auth/password/reset/", body, content_type="application/json")
        assert response.status_code == 400  # refused, not accepted and then dropped
    assert queued_messages(fake_redis, "email") == []


# URLs and methods.


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
@pytest.mark.parametrize(
    "path",
    ["/api/nope/", "/api/auth/", "/api/auth/login/extra/", "/api", "/api/auth/sessions/not-a-uuid/",
     "/api/%00/", "/api/" + "a" * 5000 + "/"],
    ids=["unknown", "prefix", "extra", "no-slash", "bad-uuid", "nul", "long"],
)  # fmt: skip
def test_an_unknown_api_url_is_a_json_404(client, method, path):
    response = client.generic(method, path, b"{}", content_type="application/json")
    assert_json_error(response, 404)


def test_an_unknown_api_url_is_a_json_404_with_debug_on_too(client, settings):
    settings.DEBUG = True
    assert_json_error(client.get("/api/nope/"), 404)


def test_pages_outside_the_api_keep_their_html_404(client):
    response = client.get("/accounts/nope/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@ALL
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_another_method_on_a_post_only_endpoint_is_a_json_405(client, access, target, method):
    response = send(client, target, access, b"{}", "application/json", method=method)
    if target.anonymous:
        assert_json_error(response, 401)
        return
    assert_json_error(response, 405)
    assert "POST" in response["Allow"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_probes_answer_other_methods_with_a_json_405(client, path):
    response = client.post(path, b"{}", content_type="application/json")
    assert_json_error(response, 405)
    assert response["Allow"] == "GET"


def test_an_accept_header_the_api_cannot_satisfy_is_a_json_406(client):
    response = client.post(
        "/api/auth/password/reset/", as_json({"email": "alice@example.com"}),
        content_type="application/json", HTTP_ACCEPT="text/html",
    )  # fmt: skip
    assert_json_error(response, 406)


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer \x00", "Bearer " + "a" * 10_000, "Bearer a.b.c",
     "Bearer \xff\xfe.\xff.\xff", "Basic YTpi"],
    ids=["no-token", "two-tokens", "nul", "long", "garbage-jwt", "latin1", "basic"],
)  # fmt: skip
def test_a_malformed_bearer_header_is_a_json_401(client, header):
    response = client.get("/api/auth/sessions/", HTTP_AUTHORIZATION=header)
    assert_json_error(response, 401)


# The database is unreachable: 503 with Retry-After, JSON under the API.


def down(exc_class=OperationalError):
    def raiser(*args, **kwargs):
        raise exc_class("connection to server failed: Connection refused")

    return raiser


DB_FLOWS = {
    "login": "api.views.sessions.authenticate",
    "refresh": "shared.accounts.sessions.rotate",
    "logout": "shared.accounts.sessions.end_session",
    "reset": "api.views.password_reset.request_password_reset",
    "confirm": "api.views.password_reset.user_for_link",
    "change": "api.views.password_change.change_password",
}


def assert_database_unavailable(response):
    body = assert_json_error_5xx(response)
    assert body["code"] == "database_unavailable"
    assert "temporarily unavailable" in body["detail"]
    assert response["Retry-After"] == "5"


def assert_json_error_5xx(response) -> dict:
    # The one 5xx the API may give: the database is down, and the client should come back.
    assert response.status_code == 503, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body
    return body


@pytest.mark.parametrize("exc_class", [OperationalError, InterfaceError])
@pytest.mark.parametrize("name", DB_FLOWS)
def test_database_unreachable_is_a_503_with_retry_after(
    client, access, monkeypatch, name, exc_class
):
    monkeypatch.setattr(DB_FLOWS[name], down(exc_class))
    target = TARGETS[name]
    response = send(client, target, access, as_json(target.body), "application/json")
    assert_database_unavailable(response)


def test_database_unreachable_while_authenticating_is_a_503(client, access, monkeypatch):
    monkeypatch.setattr(
        "api.authentication.SessionJWTAuthentication.get_user", down(OperationalError)
    )
    response = client.get("/api/auth/sessions/", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert_database_unavailable(response)


def test_database_unreachable_in_an_html_page_is_a_short_503_page(client, monkeypatch):
    monkeypatch.setattr("api.views.accounts.LoginView.get", down(OperationalError))
    response = client.get("/accounts/login/")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert response["Retry-After"] == "5"
    assert b"Traceback" not in response.content


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/api/auth/sessions/", "application/json"), ("/accounts/login/", "text/html")],
)
def test_database_unreachable_in_a_middleware_is_a_503_too(monkeypatch, path, content_type):
    # Raised outside any view: Django's handler500 sees it, and answers 503 instead.
    monkeypatch.setattr(
        "django.contrib.sessions.middleware.SessionMiddleware.process_request",
        down(OperationalError),
    )
    response = Client(raise_request_exception=False).get(path)
    assert response.status_code == 503
    assert response["Content-Type"].startswith(content_type)
    assert response["Retry-After"] == "5"
    if content_type == "application/json":
        assert response.json()["code"] == "database_unavailable"


# The HTML pages, with a valid CSRF token: refused bodies are 4xx there too.


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"email=a%40example.com", "application/x-www-form-urlencoded; charset=utf-7", 400),
        (b"email=a%40example.com", "application/x-www-form-urlencoded; charset=rot13", 400),
        (b"email=" + b"a" * LIMIT, "application/x-www-form-urlencoded", 413),
        (multipart({"username": b"+2AA-", "password": b"+2AA-"}), MULTIPART + "; charset=utf-7",
         400),
        (b"garbage", "multipart/form-data", 400),
        (b"&".join(b"f%d=1" % i for i in range(2000)), "application/x-www-form-urlencoded", 400),
    ],
    ids=["form-utf7", "form-rot13", "too-large", "multipart-utf7", "multipart-garbage",
         "too-many-fields"],
)  # fmt: skip
@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/password-reset/"])
def test_html_forms_refuse_unreadable_bodies_with_a_4xx(path, body, content_type, status):
    client = Client(enforce_csrf_checks=True)
    client.get(path)
    token = client.cookies["csrftoken"].value
    response = client.generic("POST", path, body, content_type=content_type,
                              HTTP_X_CSRFTOKEN=token)  # fmt: skip
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "body",
    [b"email=" + b"a" * LIMIT, b"&".join(b"f%d=1" % i for i in range(2000))],
    ids=["too-large", "too-many-fields"],
)
def test_an_unreadable_form_posted_to_an_unknown_page_is_still_a_404(body):
    # Django's 404 page runs the CSRF check, which reads the body Django refuses.
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    token = client.cookies["csrftoken"].value
    response = client.post("/accounts/nope/", body, content_type=FORM, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db(transaction=True)
def test_a_user_agent_with_control_characters_is_stored_printable(client, fake_redis):
    from shared.models import RefreshToken

    make_user()
    response = client.post(
        "/api/auth/login/", data=json.dumps({"username": "alice", "password": PASSWORD}),
        content_type="application/json", HTTP_USER_AGENT="evil\x00agent\x1b[31m",
    )  # fmt: skip
    assert response.status_code == 200
    assert RefreshToken.objects.get().user_agent == "evilagent[31m"
