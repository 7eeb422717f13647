"""Reset by code with real processes: the API publishes, the Celery worker mails the link and
the code, the SMTP server receives them, and the code is exchanged and used as a client would."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model

from shared.devservices.redis import RedisServer
from shared.messaging.celery_app import app
from tests.brokers import use_redis
from tests.conftest import set_rates
from tests.processes import CeleryWorker, worker_env
from tests.unit.error_bodies import field_errors

RESET_URL = "/api/auth/password/reset/"
CODE_URL = "/api/auth/password/reset/code/"
CONFIRM_URL = "/api/auth/password/reset/confirm/"
LOGIN_URL = "/api/auth/login/"
DELIVERY_TIMEOUT = 20
OLD_PASSWORD = "an-old-long-passphrase"
NEW_PASSWORD = "a fresh and long passphrase"
INVALID_CODE = "This code is wrong, expired or already used. Check it, or ask for a new email."
IOS_TEMPLATE = "https://example.com/.well-known/r/{uid}/{token}"


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def code_of(message) -> str:
    """The code as a person reads it, in the text part (on a line of its own) and the HTML
    part (alone in its element): both parts must show one and the same code."""
    [in_text] = re.findall(r"^\s*(\d{8})\s*$", text_of(message), re.MULTILINE)
    [in_html] = re.findall(r">\s*(\d{8})\s*<", html_of(message))
    assert in_text == in_html
    return in_text


def service_link(message) -> tuple[str, str, str]:
    """The link to this service's own page in the text part: (link, uid, token)."""
    [match] = re.finditer(r"(https?://\S+/accounts/reset/([^/\s]+)/([^/\s]+)/)", text_of(message))
    return match.group(1), match.group(2), match.group(3)


def notice_arrives(mailbox, count: int, worker) -> bool:
    """Whether the ``count``-th message, and the last once ``worker`` is done, is the
    "password changed" notice (waiting for it also keeps it from landing in the next test's
    mailbox)."""
    mailbox.wait_for(count, timeout=DELIVERY_TIMEOUT)
    if not worker.wait_until_idle():
        return False
    messages = mailbox.messages
    return (
        len(messages) == count
        and messages[-1][1]["Subject"] == "Account security: Your password was changed"
    )


def only_message(mailbox, worker):
    """The one message received, once ``worker`` is done (a second would be in by then)."""
    mailbox.wait_for(1, timeout=DELIVERY_TIMEOUT)
    assert worker.wait_until_idle()
    [(envelope, message)] = mailbox.messages
    return envelope, message


def confirm(client, uid, token, password=NEW_PASSWORD):
    body = {"uid": uid, "token": token, "new_password1": password, "new_password2": password}
    return post(client, CONFIRM_URL, body)


@pytest.fixture
def frank(live_stack):
    return get_user_model().objects.create_user("frank", "frank@example.com", OLD_PASSWORD)


def test_the_mailed_code_sets_the_password_then_neither_code_nor_link_works_again(
    client, mailbox, frank, public_base_url, live_stack
):
    assert post(client, RESET_URL, {"email": "frank@example.com"}).status_code == 202
    envelope, message = only_message(mailbox, live_stack)
    assert envelope.rcpt_tos == ["frank@example.com"]
    assert message["Subject"] == "Account security: Reset your password"
    code = code_of(message)
    link, link_uid, link_token = service_link(message)
    assert link.startswith(public_base_url + "/accounts/reset/")
    assert link in html_of(message)

    exchanged = post(client, CODE_URL, {"email": "frank@example.com", "code": code})
    assert exchanged.status_code == 200
    pair = exchanged.json()
    assert set(pair) == {"uid", "token"}
    assert pair["uid"] == link_uid

    assert confirm(client, pair["uid"], pair["token"]).status_code == 200
    assert notice_arrives(mailbox, 2, live_stack)

    # Setting the password with the code's pair spent the code and the emailed link alike.
    again = post(client, CODE_URL, {"email": "frank@example.com", "code": code})
    assert again.status_code == 400
    assert field_errors(again) == {"non_field_errors": [INVALID_CODE]}
    by_link = confirm(client, link_uid, link_token, password="the link's other passphrase")
    assert by_link.status_code == 400
    assert set(field_errors(by_link)) == {"token"}

    login = post(client, LOGIN_URL, {"email": "frank@example.com", "password": NEW_PASSWORD})
    assert login.status_code == 200
    assert {"access", "refresh"} <= set(login.json())
    old = post(client, LOGIN_URL, {"email": "frank@example.com", "password": OLD_PASSWORD})
    assert old.status_code == 401


def test_only_the_newest_emails_code_works(client, mailbox, frank, settings, live_stack):
    set_rates(settings, reset_email=None)  # no one-a-minute cooldown between the two requests
    assert post(client, RESET_URL, {"email": "frank@example.com"}).status_code == 202
    assert post(client, RESET_URL, {"email": "frank@example.com"}).status_code == 202

    # One worker process handles the requests in order: the second message is the newest.
    mailbox.wait_for(2, timeout=DELIVERY_TIMEOUT)
    assert live_stack.wait_until_idle()
    messages = mailbox.messages
    assert [envelope.rcpt_tos for envelope, _ in messages] == [["frank@example.com"]] * 2
    first, second = (code_of(message) for _, message in messages)

    stale = post(client, CODE_URL, {"email": "frank@example.com", "code": first})
    assert stale.status_code == 400
    assert field_errors(stale) == {"non_field_errors": [INVALID_CODE]}
    newest = post(client, CODE_URL, {"email": "frank@example.com", "code": second})
    assert newest.status_code == 200
    assert confirm(client, **newest.json()).status_code == 200
    assert notice_arrives(mailbox, 3, live_stack)
    frank.refresh_from_db()
    assert frank.check_password(NEW_PASSWORD)


@pytest.fixture
def ios_worker(live_stack, redis_url, public_base_url, smtp_server, settings):
    """A worker of this test's own whose RESET_CLIENTS names ``ios`` (the session's worker was
    started without it, and a settings override here does not reach another process), on a
    Redis of its own so that the session's worker never takes the request."""
    settings.RESET_CLIENTS = {"ios": IOS_TEMPLATE}  # the API accepts the name, too
    server = RedisServer().start()
    use_redis(server.url)
    env = worker_env(server.url, smtp_server.url, public_base_url,
                     RESET_CLIENTS=f"ios={IOS_TEMPLATE}")  # fmt: skip
    worker = CeleryWorker(env, queues="email,security")
    try:
        yield worker.start(app)
    finally:
        worker.stop()
        server.stop()
        use_redis(redis_url)


def test_a_named_client_gets_its_own_link_and_the_code_still_works(
    client, mailbox, frank, ios_worker, public_base_url
):
    body = {"email": "frank@example.com", "client": "ios"}
    assert post(client, RESET_URL, body).status_code == 202
    envelope, message = only_message(mailbox, ios_worker)
    assert envelope.rcpt_tos == ["frank@example.com"]

    text = text_of(message)
    [link] = re.findall(r"https?://\S+", text)
    match = re.fullmatch(r"https://example\.com/\.well-known/r/([^/]+)/([^/]+)", link)
    assert match, link
    assert link in html_of(message)
    assert public_base_url not in text  # no link to this service's own page
    uid, token = match.groups()

    # The app's link and the code in the same email stand for one and the same reset.
    code = code_of(message)
    exchanged = post(client, CODE_URL, {"email": "frank@example.com", "code": code})
    assert exchanged.status_code == 200
    assert exchanged.json()["uid"] == uid

    assert confirm(client, uid, token).status_code == 200
    assert notice_arrives(mailbox, 2, ios_worker)
    frank.refresh_from_db()
    assert frank.check_password(NEW_PASSWORD)
    spent = post(client, CODE_URL, {"email": "frank@example.com", "code": code})
    assert spent.status_code == 400
    assert field_errors(spent) == {"non_field_errors": [INVALID_CODE]}
