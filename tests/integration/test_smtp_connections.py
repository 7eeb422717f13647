"""The email worker's SMTP connection: kept open between messages, replaced when it goes stale."""

from __future__ import annotations

import threading

import pytest

from shared.devservices.mailsink import MailSink
from shared.infra.config import parse_email_url
from workers import emails


@pytest.fixture
def sink(settings):
    server = MailSink().start()
    for key, value in parse_email_url(server.url).items():
        setattr(settings, key, value)
    emails.close_connection()
    yield server
    emails.close_connection()
    server.stop()


def send(n: int, prefix: str = "user") -> None:
    for i in range(n):
        emails.send_templated_email(
            "password_reset_unknown", to=f"{prefix}{i}@example.com",
            context={"site_url": "https://x.example", "email": f"{prefix}{i}@example.com"},
        )  # fmt: skip


def test_one_thread_sends_many_messages_over_one_connection(sink):
    send(5)
    assert len(sink.handler.messages) == 5
    assert len(set(sink.handler.peers)) == 1


def test_each_thread_has_its_own_connection(sink):
    threads = [threading.Thread(target=send, args=(3, f"t{n}-")) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sink.handler.messages) == 9
    assert len(set(sink.handler.peers)) == 3


def test_a_connection_dropped_by_the_server_is_replaced_at_once(sink):
    send(1)
    sink.stop()
    sink.restart()  # the server went away and came back: the kept connection is dead
    send(1, "after")
    assert len(sink.handler.messages) == 2
    assert len(set(sink.handler.peers)) == 2


def test_each_message_comes_with_the_time_it_arrived(sink):
    send(3)
    timed = sink.handler.timed_messages()
    assert [envelope.rcpt_tos for envelope, _, _ in timed] == [
        [f"user{i}@example.com"] for i in range(3)
    ]
    times = [at for _, _, at in timed]
    assert times == sorted(times) == sink.handler.received_at


def test_a_message_goes_out_as_text_and_html_alternatives_around_one_boundary(sink):
    send(1)
    [(_, message)] = sink.handler.messages
    assert message.get_content_type() == "multipart/alternative"
    boundary = message.get_boundary()
    assert boundary
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert all(boundary not in part.get_content() for part in message.iter_parts())
