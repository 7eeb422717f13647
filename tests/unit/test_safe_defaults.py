"""Safe by default: a bare start (no DEBUG, no key) serves no debug aid, and refuses to run on a
key anyone could know; what `make run` turns on for local use stays on this machine."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.test import Client

from tests.processes import PRODUCTION, django_run, django_settings, manage

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


@pytest.mark.spawns
def test_debug_is_off_unless_set():
    result = django_settings("settings.DEBUG", **{**PRODUCTION, "DEBUG": None})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) is False
    without_a_key = manage("check", DEBUG=None)
    assert without_a_key.returncode != 0
    assert "SECRET_KEY must be set" in without_a_key.stderr


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "SECRET_KEY must be set"),
        ("Zq8" * 16, "at least 50 characters"),  # 48 characters
        ("change-me-insecure-compose-placeholder-" + "Zq8Wx" * 3, "placeholder"),
        ("django-insecure-" + "a1B2c3D4e5F6g7H8i9J0" * 2, "placeholder"),
        ("ab" * 40, "too few characters"),
    ],
)
@pytest.mark.spawns
def test_production_refuses_to_start_on_a_missing_short_or_known_key(key, why):
    result = manage("check", DEBUG="0", SECRET_KEY=key)
    assert result.returncode != 0
    assert why in result.stderr


@pytest.mark.spawns
def test_production_starts_on_a_random_key():
    result = manage("check", **PRODUCTION)
    assert result.returncode == 0, result.stderr


def _make_run_environment() -> dict[str, str]:
    """The variables `make run` gives its processes: its own recipe swapped for one that prints
    them (the install step it depends on is already done here)."""
    # A recipe given after the Makefile's replaces it (make warns about that on stderr).
    probe = "include Makefile\nrun:\n\t@env | grep -E '^(DEBUG|BIND_ADDRESS|FLOWER_ADDRESS)='\n"
    unset = {"DEBUG", "BIND_ADDRESS", "FLOWER_ADDRESS", "MAKEFLAGS", "MFLAGS"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", "-f", "-", "run"],
        input=probe, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.split())


@pytest.mark.spawns
def test_make_run_turns_debug_on_and_listens_on_loopback_only():
    assert _make_run_environment() == {
        "DEBUG": "1", "BIND_ADDRESS": "127.0.0.1", "FLOWER_ADDRESS": "127.0.0.1",
    }  # fmt: skip


@pytest.mark.spawns
def test_gunicorn_binds_loopback_unless_told_otherwise():
    code = "import runpy, json; print(json.dumps(runpy.run_path('api/gunicorn_conf.py')['bind']))"
    plain = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                           text=True, env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert json.loads(plain.stdout).startswith("127.0.0.1:")


def test_the_image_turns_nothing_on_and_compose_demands_a_key():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"\bDEBUG\b", dockerfile)
    assert not re.search(r"\bSECRET_KEY\b", dockerfile)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    secret = compose["services"]["api"]["environment"]["SECRET_KEY"]
    # ${VAR:?message}: compose stops with the message when the variable is unset or empty.
    assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]+\}", secret)


# The local mailbox page: every message there holds a live reset link.


@pytest.fixture
def a_message(tmp_path, settings, monkeypatch):
    monkeypatch.setattr("api.views.devmail.mail_dir", lambda: tmp_path)
    (tmp_path / "20260101T000000-abcd.eml").write_bytes(
        b"From: a@b\r\nTo: alice@example.com\r\nSubject: Reset your password\r\n\r\n"
        b"Open http://localhost:8000/accounts/reset/MQ/abc-123/\r\n"
    )
    settings.DEBUG = True


@pytest.mark.parametrize("remote", ["127.0.0.1", "::1"])
def test_the_mail_page_answers_a_client_on_this_machine(a_message, remote):
    client = Client(REMOTE_ADDR=remote)
    listing = client.get("/dev/mail/")
    assert listing.status_code == 200
    assert "Reset your password" in listing.content.decode()
    message = client.get("/dev/mail/20260101T000000-abcd/")
    assert message.status_code == 200
    assert "/accounts/reset/MQ/abc-123/" in message.content.decode()


@pytest.mark.parametrize(
    "request_meta",
    [
        {"REMOTE_ADDR": "203.0.113.9", "HTTP_HOST": "localhost"},
        {"REMOTE_ADDR": "192.168.1.20", "HTTP_HOST": "127.0.0.1"},
        # A reverse proxy on this machine makes every client look local: not trusted.
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_FORWARDED": "for=203.0.113.9"},
    ],
)
def test_the_mail_page_is_a_404_for_anyone_else(a_message, request_meta):
    client = Client(**request_meta)
    for path in ("/dev/mail/", "/dev/mail/20260101T000000-abcd/"):
        response = client.get(path)
        assert response.status_code == 404
        assert "/accounts/reset/MQ/abc-123/" not in response.content.decode()
        assert "Reset your password" not in response.content.decode()


def test_the_mail_page_is_a_404_with_debug_off(a_message, settings):
    settings.DEBUG = False
    response = Client(REMOTE_ADDR="127.0.0.1").get("/dev/mail/")
    assert response.status_code == 404
    assert "Reset your password" not in response.content.decode()


# Credentials inside *_URL settings.

# Made up at each run, so that no line of this file (which a debug page may quote) holds it.
PASSWORD = secrets.token_hex(8)
URLS = {
    "REDIS_URL": f"redis://:{PASSWORD}@redis.internal:6379/0",
    "DATABASE_URL": f"postgres://app:{PASSWORD}@db.internal:5432/app",
    "EMAIL_URL": f"smtp://mailer:{PASSWORD}@smtp.internal:587?tls=1",
}


def test_url_passwords_never_appear_on_a_debug_page(settings, rf):
    from django.views.debug import technical_500_response

    settings.DEBUG = True
    settings.REDIS_URL = settings.CELERY_BROKER_URL = URLS["REDIS_URL"]
    settings.EMAIL_URL = URLS["EMAIL_URL"]
    # runserver puts the process environment into every request's META.
    request = rf.get("/accounts/login/", **URLS)
    try:
        database_url = URLS["DATABASE_URL"]  # a local variable of the failing frame
        raise RuntimeError(f"cannot reach {database_url.split('@')[1]}")
    except RuntimeError:
        page = technical_500_response(request, *sys.exc_info()).content.decode()
    assert "redis.internal" in page and "db.internal" in page  # the page does show them
    assert PASSWORD not in page


def test_error_reports_hide_secret_settings_by_name_and_url_passwords_by_shape(settings):
    """What a debug page or an error report to ADMINS shows of the settings."""
    from shared.infra.redaction import SafeExceptionReporterFilter

    settings.REDIS_URL = URLS["REDIS_URL"]
    safe = SafeExceptionReporterFilter().get_safe_settings()
    assert safe["SECRET_KEY"] == "********************"  # Django's rule, by the name
    assert safe["REDIS_URL"] == "redis://:***@redis.internal:6379/0"  # ours, by the shape
    assert (safe["DEBUG"], safe["TIME_ZONE"]) == (settings.DEBUG, "UTC")  # the rest as it is


def test_error_reports_hide_a_requests_sensitive_form_fields_in_every_frame(settings, rf):
    """Django hides the fields a view marks sensitive (a new password) wherever the form data
    sits in the failing code's variables; our filter, which adds the URL masking, keeps that."""
    from shared.infra.redaction import SafeExceptionReporterFilter

    settings.DEBUG = False  # error reports by email, as in production
    request = rf.post("/accounts/password/change/", {"new_password": PASSWORD, "next": "/"})
    request.sensitive_post_parameters = ["new_password"]

    def save(form_data):
        raise RuntimeError("the database went away")

    try:
        save(request.POST)
    except RuntimeError:
        traceback = sys.exc_info()[2]
    while traceback.tb_next:
        traceback = traceback.tb_next
    frame_variables = dict(
        SafeExceptionReporterFilter().get_traceback_frame_variables(request, traceback.tb_frame)
    )
    form_data = frame_variables["form_data"]
    assert form_data["new_password"] == "********************"
    assert form_data["next"] == "/"


@pytest.mark.spawns
def test_url_passwords_never_appear_in_logs():
    result = django_run(
        "logging.getLogger('shared.messaging.publisher').error('Redis at %s refused: %s', "
        f"{URLS['REDIS_URL']!r}, 'WRONGPASS'); "
        f"logging.getLogger('celery').warning({URLS['DATABASE_URL']!r})",
    )
    assert result.returncode == 0, result.stderr
    assert "redis://:***@redis.internal:6379/0" in result.stderr
    assert "postgres://app:***@db.internal" in result.stderr
    assert PASSWORD not in result.stderr + result.stdout


@pytest.mark.spawns
def test_a_bad_email_url_is_reported_without_its_password():
    result = manage("check", EMAIL_URL=URLS["EMAIL_URL"].replace("smtp:", "smtq:"))
    assert result.returncode != 0
    assert "EMAIL_URL scheme must be" in result.stderr
    assert PASSWORD not in result.stderr


# Headers and cookies in production.


def _production_response(path: str, **env) -> dict:
    """Headers and cookies of a GET over HTTPS with DEBUG off, in a process of its own."""
    code = (
        "from django.test import Client\n"
        f"r = Client().get({path!r}, secure=True, HTTP_HOST='localhost')\n"
        "print(json.dumps({'headers': dict(r.headers), 'cookies': "
        "{k: dict(v, secure=v['secure']) for k, v in r.cookies.items()}}))"
    )
    result = django_run(code, **{**PRODUCTION, **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.spawns
def test_hsts_is_sent_without_preload_unless_asked_for():
    plain = _production_response("/healthz")["headers"]["Strict-Transport-Security"]
    assert plain == "max-age=31536000; includeSubDomains"
    asked = _production_response("/healthz", SECURE_HSTS_PRELOAD="1")
    assert asked["headers"]["Strict-Transport-Security"].endswith("; preload")


@pytest.mark.spawns
def test_production_cookies_carry_the_host_prefix():
    response = _production_response("/accounts/login/")
    [(name, cookie)] = response["cookies"].items()
    assert name == "__Host-csrftoken"
    assert cookie["secure"] is True and cookie["path"] == "/" and not cookie["domain"]
    names = django_settings("settings.SESSION_COOKIE_NAME", **PRODUCTION)
    assert json.loads(names.stdout) == "__Host-sessionid"
