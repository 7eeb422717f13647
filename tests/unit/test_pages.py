"""Browser pages wired so far, the local mail page, and the access log's redaction."""

from __future__ import annotations

import pytest

from shared.infra.redaction import redact
from tests.conftest import queued_messages


@pytest.mark.django_db(transaction=True)
def test_html_reset_form_publishes_the_same_event_as_the_api(client, fake_redis):
    response = client.post("/accounts/password-reset/", {"email": "someone@example.com"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password-reset/done/"
    [message] = queued_messages(fake_redis, "email")
    assert message["args"]["type"] == "password.reset_requested"
    assert message["args"]["payload"]["email"] == "someone@example.com"


def test_login_page_links_to_the_reset_page(client, db):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'href="/accounts/password-reset/"' in response.content
    assert b"Forgot password?" in response.content


def test_reset_pages_refer_nowhere_else_and_are_not_cached(client, db):
    response = client.get("/accounts/password-reset/")
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]


def test_mail_page_lists_received_messages_only_with_debug_on(
    client, settings, tmp_path, monkeypatch
):
    monkeypatch.setattr("api.views.devmail.mail_dir", lambda: tmp_path)
    (tmp_path / "20260101T000000-abcd.eml").write_bytes(
        b"To: a@example.com\r\nSubject: Reset your password\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000"
        b"\r\n\r\nOpen http://localhost:8000/accounts/reset/MQ/abc-123/\r\n"
    )
    settings.DEBUG = True
    listing = client.get("/dev/mail/")
    assert listing.status_code == 200
    assert b"Reset your password" in listing.content
    detail = client.get("/dev/mail/20260101T000000-abcd/")
    assert b"/accounts/reset/MQ/abc-123/" in detail.content
    assert client.get("/dev/mail/..%2Fsecret_key/").status_code == 404

    settings.DEBUG = False
    assert client.get("/dev/mail/").status_code == 404


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "GET /accounts/reset/MQ/cz3xyz-0123abcd/ HTTP/1.1",
            "GET /accounts/reset/MQ/[token]/ HTTP/1.1",
        ),
        (
            "GET /accounts/reset/MQ/set-password/ HTTP/1.1",
            "GET /accounts/reset/MQ/set-password/ HTTP/1.1",
        ),
        ("POST /api/auth/password/reset/ HTTP/1.1", "POST /api/auth/password/reset/ HTTP/1.1"),
    ],
)
def test_access_log_never_holds_a_reset_token(line, expected):
    assert redact(line) == expected


def test_the_benchmark_floor_endpoint_is_not_served_by_default(client, db):
    response = client.post("/bench/floor/reset/", {"email": "a@example.com"},
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 404
