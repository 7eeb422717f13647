"""Password rules beyond Django's own: breached passwords (Pwned Passwords range API) and
repetitive or sequential ones, as a user setting a password and as the breach service see them.

The breach service here is a real HTTP server on 127.0.0.1 that answers the range API; no test
sends anything off this machine.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from shared.accounts.validators import RepetitiveOrSequentialValidator
from tests.api_client import Device
from tests.factories import NEW_PASSWORD, PASSWORD, issue_link, make_user

URL = "/api/auth/password/reset/confirm/"
BREACHED = "correct horse battery staple"
BREACHED_MESSAGE = "This password has appeared in a data breach. Choose another one."
SKIPPED = "Breached-password check skipped"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]


def sha1(password: str) -> str:
    return hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()


class RangeServer(ThreadingHTTPServer):
    """Answers GET /range/<5 hex> like api.pwnedpasswords.com: "SUFFIX:COUNT" lines for the
    hashes in ``breached`` that share the prefix, among padding lines of count 0. Records each
    request line and its headers. ``mode`` plays an outage: "hang" (no answer for 5 s),
    "trickle" (headers at once, then the body one byte every 0.2 s) or "error" (HTTP 503)."""

    daemon_threads = True

    def __init__(self, breached: dict[str, int]):
        super().__init__(("127.0.0.1", 0), RangeHandler)
        self.breached = breached
        self.mode = "answer"
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.released = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/range/"

    def body_for(self, prefix: str) -> bytes:
        lines = [f"{i:035X}:0" for i in range(40)]  # padding, as with Add-Padding: true
        lines += [
            f"{sha1(password)[5:]}:{count}"
            for password, count in self.breached.items()
            if sha1(password).startswith(prefix)
        ]
        return "\r\n".join(sorted(lines)).encode()


class RangeHandler(BaseHTTPRequestHandler):
    server: RangeServer

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.server.requests.append((self.requestline, dict(self.headers)))
        match = re.fullmatch(r"/range/([0-9A-F]{5})", self.path)
        try:
            if self.server.mode == "hang":
                self.server.released.wait(5)
            if self.server.mode == "error" or not match:
                self.send_error(503 if match else 400)
                return
            body = self.server.body_for(match[1])
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.server.mode == "trickle":
                for byte in body:
                    if self.server.released.wait(0.2):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
            else:
                self.wfile.write(body)
        except OSError:
            pass  # the service gave up on us, as it should

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        pass


@pytest.fixture
def range_api(settings):
    """A local Pwned Passwords range API listing BREACHED (seen 3861 times), and the service
    pointed at it."""
    server = RangeServer({BREACHED: 3861})
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    settings.PWNED_PASSWORDS_URL = server.url
    yield server
    server.released.set()
    server.shutdown()
    server.server_close()
    thread.join()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def confirm(client, link, password, **extra):
    body = {**link, "new_password1": password, "new_password2": password}
    return client.post(URL, data=json.dumps(body), content_type="application/json", **extra)


def can_log_in(user, password) -> bool:
    return get_user_model().objects.get(pk=user.pk).check_password(password)


def skipped_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if SKIPPED in r.getMessage()]


# Breached passwords


@pytest.mark.parametrize("slash", ["/", ""], ids=["url-with-slash", "url-without-slash"])
def test_a_breached_password_is_refused_and_the_link_is_not_spent(
    client, settings, range_api, slash
):
    settings.PWNED_PASSWORDS_URL = range_api.url.rstrip("/") + slash
    user = make_user()
    link = issue_link(user)
    refused = confirm(client, link, BREACHED)
    assert refused.status_code == 400
    assert refused.json()["new_password1"] == [BREACHED_MESSAGE]
    assert confirm(client, link, NEW_PASSWORD).status_code == 200
    assert can_log_in(user, NEW_PASSWORD)
    assert len(range_api.requests) == 2


def test_a_password_in_no_breach_is_accepted_after_asking(client, range_api):
    user = make_user()
    assert confirm(client, issue_link(user), NEW_PASSWORD).status_code == 200
    assert can_log_in(user, NEW_PASSWORD)
    [(request_line, _)] = range_api.requests
    assert request_line.startswith(f"GET /range/{sha1(NEW_PASSWORD)[:5]} ")


def test_a_breached_password_is_refused_on_password_change(alice, range_api):
    device = Device()
    assert device.login(PASSWORD, username="alice").status_code == 200
    refused = device.change_password(PASSWORD, BREACHED)
    assert refused.status_code == 400
    assert refused.json()["new_password1"] == [BREACHED_MESSAGE]
    assert can_log_in(alice, PASSWORD)


def test_the_breach_message_is_translated(client, range_api):
    response = confirm(client, issue_link(make_user()), BREACHED, HTTP_ACCEPT_LANGUAGE="fr")
    assert response.json()["new_password1"] == [
        "Ce mot de passe figure dans une fuite de données. Choisissez-en un autre."
    ]


def test_only_five_hex_characters_of_the_hash_leave_the_service(client, range_api):
    user = make_user()
    link = issue_link(user)
    confirm(client, link, BREACHED)
    confirm(client, link, NEW_PASSWORD)
    paths = [line.split()[1] for line, _ in range_api.requests]
    assert paths == [f"/range/{sha1(BREACHED)[:5]}", f"/range/{sha1(NEW_PASSWORD)[:5]}"]
    sent = json.dumps(range_api.requests).upper()
    for password in (BREACHED, NEW_PASSWORD):
        for secret in (password, password.replace(" ", "%20"), sha1(password)[5:]):
            assert secret.upper() not in sent


@pytest.mark.parametrize("mode", ["hang", "trickle"])
def test_a_stalling_breach_service_skips_the_check_instead_of_the_reset(
    client, range_api, caplog, mode
):
    """A server that never answers (hang: 5 s of silence), or answers a byte at a time
    (trickle: minutes for the whole list), is given up on after about a second (1.0 s on
    this machine: the figure is in the issue's closing note); the bound here only proves the
    reset did not wait for the server."""
    link = issue_link(make_user())
    assert confirm(client, link, BREACHED).status_code == 400  # refused while it answers
    range_api.mode = mode
    started = time.monotonic()
    response = confirm(client, link, BREACHED)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 4.5
    assert len(range_api.requests) == 2
    assert len(skipped_lines(caplog)) == 1


def test_an_unreachable_breach_service_skips_the_check_and_says_so(client, settings, caplog):
    settings.PWNED_PASSWORDS_URL = f"http://127.0.0.1:{closed_port()}/range/"
    user = make_user()
    assert confirm(client, issue_link(user), BREACHED).status_code == 200
    assert can_log_in(user, BREACHED)
    assert len(skipped_lines(caplog)) == 1


def test_a_breach_service_error_skips_the_check_and_says_so(client, range_api, caplog):
    range_api.mode = "error"
    assert confirm(client, issue_link(make_user()), BREACHED).status_code == 200
    assert len(range_api.requests) == 1
    assert len(skipped_lines(caplog)) == 1


def test_a_common_password_is_still_refused_once_when_the_breach_service_is_down(client, settings):
    settings.PWNED_PASSWORDS_URL = f"http://127.0.0.1:{closed_port()}/range/"
    refused = confirm(client, issue_link(make_user()), "cookiemonster")
    assert refused.json()["new_password1"] == ["This password is too common."]


def test_off_sends_nothing_to_the_breach_service(client, settings, range_api):
    link = issue_link(make_user())
    assert confirm(client, link, BREACHED).status_code == 400
    settings.PWNED_PASSWORDS_URL = "off"
    assert confirm(client, link, BREACHED).status_code == 200
    assert len(range_api.requests) == 1


# Repetitive and sequential passwords


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("aaaaaaaaaaaa", "password_repetitive"),
        ("abcabcabcabc", "password_repetitive"),
        ("ABab" * 4, "password_repetitive"),
        ("blue42blue42", "password_repetitive"),
        ("x" * 64, "password_repetitive"),
        ("123456789012", "password_sequential"),
        ("098765432109", "password_sequential"),
        ("pin 89012345", "password_sequential"),  # 9 then 0 continues the run
        ("abcdefghijkl", "password_sequential"),
        ("ZYXWVUTSRQPO", "password_sequential"),
        ("qwertyuiopas", "password_sequential"),
        ("azertyuiopqs", "password_sequential"),
        ("lkjhgfdsa321", "password_sequential"),
        ("aaaa1234bbbb", "password_sequential"),
        ("mydog1234567", "password_sequential"),
        ("p" * 200 + "!", "password_sequential"),
    ],
)
def test_repetitive_and_sequential_passwords_are_refused(password, code):
    with pytest.raises(ValidationError) as refused:
        RepetitiveOrSequentialValidator().validate(password)
    assert [error.code for error in refused.value.error_list] == [code]


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "a-brand-new-long-passphrase",
        "an-old-long-passphrase",
        "a fresh and long passphrase",
        "first worst thirst student",
        "Zürich-1234567",  # half of it in a run: not most
        "1qaz2wsx3edc",
        "twelve chars",
        "Tr0ub4dor&3-Xq9v-horse",
    ],
)
def test_passphrases_and_short_runs_are_accepted(password):
    RepetitiveOrSequentialValidator().validate(password)


def test_a_sequential_password_is_refused_with_the_reason_and_the_link_is_not_spent(client):
    user = make_user()
    link = issue_link(user)
    refused = confirm(client, link, "123456789012")
    assert refused.status_code == 400
    assert refused.json()["new_password1"] == [
        "This password is mostly sequences or repeated characters (like “12345”, “qwerty” or "
        "“aaaa”). Choose one that is harder to guess."
    ]
    german = confirm(client, link, "abcabcabcabc", HTTP_ACCEPT_LANGUAGE="de")
    assert german.json()["new_password1"] == [
        "Dieses Passwort wiederholt nur ein kurzes Muster (wie „abcabcabc“). Wählen Sie eines, "
        "das schwerer zu erraten ist."
    ]
    assert confirm(client, link, NEW_PASSWORD).status_code == 200
