"""Browser pages wired so far, the local mail page, and the access log's redaction."""

from __future__ import annotations

import re

import pytest
from django.core.mail import EmailMultiAlternatives

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


def test_every_page_names_the_service_in_its_title_and_header(client, db, settings):
    settings.SITE_NAME = "Example Accounts"
    for path, title in [
        ("/accounts/login/", "Log in"),
        ("/accounts/password-reset/", "Reset your password"),
        ("/accounts/password-reset/code/", "Enter your code"),
    ]:
        html = client.get(path).content.decode()
        assert f"<title>{title} · Example Accounts</title>" in html
        assert re.search(r'<header class="site"><a [^>]*>.*Example Accounts</a></header>', html)


def test_the_completion_pages_say_what_happened_and_lead_on(db, fake_redis):
    from django.test import Client

    from tests.factories import make_user

    alice = make_user()
    account = Client()
    account.force_login(alice)
    changed = account.get("/accounts/password-change/done/").content.decode()
    assert "Every other device signed in to your account has been signed out" in changed
    assert "A notice has been sent to alice@example.com" in changed
    # Done is done: no way back to the form it came from, a way out instead.
    assert 'href="/accounts/password-change/"' not in changed
    assert re.search(r'<form method="post" action="/accounts/logout/">', changed)

    reset = Client().get("/accounts/reset/done/").content.decode()
    assert "Every device that was signed in to your account has been signed out" in reset
    assert "a notice has been sent to the address on the account" in reset
    assert 'href="/accounts/login/"' in reset


def test_the_favicon_is_served_and_linked(client, db):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon["Content-Type"].startswith("image/")
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    for path in ("/accounts/login/", "/api/docs/"):
        html = client.get(path).content.decode()
        links = re.findall(r'<link rel="icon" href="([^"]+)"', html)
        assert "/favicon.ico" in links, path
        for href in links:
            assert client.get(href).status_code == 200, href


def test_the_mail_page_shows_the_html_part_in_a_sandboxed_frame(
    client, settings, tmp_path, monkeypatch
):
    monkeypatch.setattr("api.views.devmail.mail_dir", lambda: tmp_path)
    message = EmailMultiAlternatives("Reset", "text part", "a@b.c", ["to@example.com"])
    message.attach_alternative(
        '<html><head><title>t</title></head><body><p style="color:red">Hi</p>'
        "<script>alert(1)</script></body></html>",
        "text/html",
    )
    (tmp_path / "m1.eml").write_bytes(message.message().as_bytes())
    settings.DEBUG = True

    page = client.get("/dev/mail/m1/")
    html = page.content.decode()
    [frame] = re.findall(r"<iframe [^>]*>", html)
    assert 'src="/dev/mail/m1/?part=html"' in frame
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame  # no scripts
    assert "frame-src 'self'" in page["Content-Security-Policy"]
    assert "text part" in html

    part = client.get("/dev/mail/m1/?part=html")
    assert part.status_code == 200
    assert '<p style="color:red">Hi</p>' in part.content.decode()
    assert '<head><base target="_blank">' in part.content.decode()  # links leave the frame
    policy = part["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in policy  # emails style themselves inline
    assert "script-src" not in policy and "default-src 'none'" in policy
    assert "sandbox allow-popups allow-popups-to-escape-sandbox" in policy
    assert "frame-ancestors 'self'" in policy
    assert part["X-Frame-Options"] == "SAMEORIGIN"

    # Only with DEBUG on, and only for this machine, like the rest of the mail pages.
    assert client.get("/dev/mail/m1/?part=html", REMOTE_ADDR="192.0.2.7").status_code == 404
    assert client.get("/dev/mail/m1/?part=html", HTTP_X_FORWARDED_FOR="1.2.3.4").status_code == 404
    settings.DEBUG = False
    assert client.get("/dev/mail/m1/?part=html").status_code == 404
