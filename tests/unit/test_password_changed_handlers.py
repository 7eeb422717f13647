"""The workers' reactions to password.changed (handlers run directly)."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.sessions.backends.cache import SessionStore as CacheSessionStore
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core import mail
from django.utils import timezone

from shared.messaging.events import PasswordChangedV1, make_event
from shared.models import ProcessedEvent, RefreshToken, UserSession
from tests.factories import make_user
from workers.handlers.password_changed import revoke_user_sessions, send_password_changed_notice

pytestmark = pytest.mark.django_db


def whitelist(user, created_at, family=None):
    return RefreshToken.objects.create(
        jti=uuid.uuid4().hex, family=family or uuid.uuid4(), user=user, created_at=created_at,
        last_used_at=created_at, expires_at=created_at + timedelta(days=14),
    )  # fmt: skip


def browser_session(user, created_at):
    store = SessionStore()
    store.create()
    UserSession.objects.create(user=user, session_key=store.session_key, created_at=created_at)
    return store.session_key


def changed(user, **fields):
    payload = PasswordChangedV1(user_id=user.pk, changed_at=timezone.now(), **fields)
    return make_event(payload), payload


def test_after_a_change_every_session_but_the_callers_is_deleted():
    alice, bob = make_user(), make_user("bob", "bob@example.com")
    before = timezone.now() - timedelta(minutes=5)
    kept = whitelist(alice, before)
    whitelist(alice, before)
    whitelist(alice, before)
    bobs = whitelist(bob, before)
    keep_key, other_key = browser_session(alice, before), browser_session(alice, before)
    bob_key = browser_session(bob, before)

    event, payload = changed(alice, reason="change", keep_token_family=str(kept.family),
                             keep_session_key=keep_key)  # fmt: skip
    revoke_user_sessions(event, payload)

    assert list(RefreshToken.objects.filter(user=alice)) == [kept]
    assert RefreshToken.objects.filter(pk=bobs.pk).exists()
    assert set(Session.objects.values_list("session_key", flat=True)) == {keep_key, bob_key}
    assert not UserSession.objects.filter(session_key=other_key).exists()


def test_after_a_reset_every_session_is_deleted():
    alice = make_user()
    before = timezone.now() - timedelta(minutes=5)
    for _ in range(3):
        whitelist(alice, before)
        browser_session(alice, before)
    event, payload = changed(alice, reason="reset")
    revoke_user_sessions(event, payload)
    assert not RefreshToken.objects.filter(user=alice).exists()
    assert not Session.objects.exists()


def test_sessions_begun_after_the_change_survive_the_purge(caplog):
    alice = make_user()
    event, payload = changed(alice, reason="reset")
    later = payload.changed_at + timedelta(seconds=1)
    fresh = whitelist(alice, later)
    fresh_key = browser_session(alice, later)
    with caplog.at_level(logging.INFO, logger="workers.handlers.password_changed"):
        revoke_user_sessions(event, payload)
    assert RefreshToken.objects.filter(pk=fresh.pk).exists()
    assert Session.objects.filter(session_key=fresh_key).exists()
    assert caplog.messages == [
        f"password change {event.id} of user {alice.pk}: "
        "0 refresh token(s) and 0 browser session(s) ended"
    ]


def test_browser_sessions_kept_outside_the_database_are_ended_too(settings):
    """An operator's settings may keep sessions in the cache: the purge ends them there."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    alice = make_user()
    before = timezone.now() - timedelta(minutes=5)
    keys = []
    for _ in range(3):
        store = CacheSessionStore()
        store["who"] = "alice"
        store.create()
        UserSession.objects.create(user=alice, session_key=store.session_key, created_at=before)
        keys.append(store.session_key)
    kept, *others = keys

    event, payload = changed(alice, reason="change", keep_session_key=kept)
    revoke_user_sessions(event, payload)

    assert CacheSessionStore().exists(kept)
    assert not any(CacheSessionStore().exists(key) for key in others)
    assert list(UserSession.objects.values_list("session_key", flat=True)) == [kept]


def test_the_purge_reads_only_that_users_rows(django_assert_max_num_queries):
    alice = make_user()
    before = timezone.now() - timedelta(minutes=1)
    alices_token = whitelist(alice, before)
    alices_session = browser_session(alice, before)
    others_sessions = []
    for i in range(20):
        other = make_user(f"user{i}", f"user{i}@example.com")
        whitelist(other, before)
        others_sessions.append(browser_session(other, before))
    event, payload = changed(alice, reason="reset")

    with django_assert_max_num_queries(4) as queries:
        revoke_user_sessions(event, payload)

    # Alice's rows went; the 20 others' all stayed.
    assert not RefreshToken.objects.filter(pk=alices_token.pk).exists()
    assert not Session.objects.filter(session_key=alices_session).exists()
    assert RefreshToken.objects.exclude(user=alice).count() == 20
    assert Session.objects.filter(session_key__in=others_sessions).count() == 20
    # Each statement selects by Alice's id or by her own session's key only: none reads other
    # users' rows (the purge stays as fast with a million of them, bench/purge_scaling.py).
    by_user = re.compile(rf'"user_id" = {alice.pk}\)?$')
    for query in queries.captured_queries:
        sql = query["sql"]
        assert by_user.search(sql) or sql.endswith(f"IN ('{alices_session}')"), sql


CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


def notice_for(user_agent: str, language: str = "en"):
    """The "password changed" notice for a change requested with this User-Agent: its text
    and HTML parts."""
    user = make_user(f"user-{uuid.uuid4().hex[:8]}", "someone@example.com")
    event, payload = changed(user, reason="change", user_agent=user_agent, language=language)
    send_password_changed_notice(event, payload)
    message = mail.outbox.pop()
    return message.body, message.alternatives[0][0]


class Links(HTMLParser):
    def __init__(self, html: str):
        super().__init__()
        self.hrefs: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.hrefs += [value for name, value in attrs if name in ("href", "src", "action")]


def test_the_notice_names_the_browser_and_system_not_the_user_agent_text():
    text, html = notice_for(CHROME)
    assert "Browser or app: Chrome 120 on Windows 10" in text
    assert "Chrome 120 on Windows 10" in html
    assert "AppleWebKit" not in text + html


@pytest.mark.parametrize(
    "user_agent",
    [
        'Mozilla/5.0 <a href="https://evil.example/x">Click</a> evil.example',
        # ua-parser itself returns "co<aBot" and "x.Bot" (a host name) for these two.
        "Mozilla/5.0 (compatible; go evil.example co<aBot)",
        "Mozilla/5.0 (compatible; evil.example.x.Bot)",
        "Mozilla/5.0 (compatible; evil.example/1.0; +https://evil.example/)",
    ],
)
def test_a_hostile_user_agent_puts_no_link_or_markup_in_the_notice(settings, user_agent):
    settings.PUBLIC_BASE_URL = "https://accounts.example.org"
    text, html = notice_for(user_agent)
    for part in (text, html):
        assert "evil.example" not in part
        assert "x.Bot" not in part
    assert "<a" not in text
    # The one link is the notice's own "this wasn't me" link, on PUBLIC_BASE_URL.
    (href,) = Links(html).hrefs
    assert re.fullmatch(r"https://accounts\.example\.org/accounts/not-me/[\w-]+/[\w-]{43}/", href)
    device = re.search(r"^Browser or app: (.*)$", text, re.MULTILINE).group(1)
    assert re.fullmatch(r"[A-Za-z0-9 ]+", device), device


def test_an_unrecognised_user_agent_is_called_an_unknown_browser():
    assert "Browser or app: an unknown browser\n" in notice_for("test-device")[0]
    assert "Browser or app: an unknown browser on Linux" in notice_for("Firefox on Linux")[0]


def test_the_notice_names_the_browser_in_the_users_language():
    text, _ = notice_for(CHROME, language="fr")
    assert "Navigateur ou application : Chrome 120 sur Windows 10" in text
    text, _ = notice_for("test-device", language="de")
    assert "Browser oder App: ein unbekannter Browser" in text


def test_the_notice_tells_when_from_where_and_how_to_react(settings):
    settings.PUBLIC_BASE_URL = "https://accounts.example.org"
    alice = make_user(email="Alice@Example.org")
    event, payload = changed(alice, reason="change", ip="203.0.113.5", user_agent=FIREFOX)
    send_password_changed_notice(event, payload)
    [message] = mail.outbox
    assert message.to == ["Alice@example.org"]
    assert message.subject == "Account security: Your password was changed"
    when = payload.changed_at.strftime("%Y-%m-%d %H:%M")
    not_me = re.search(r"https://accounts\.example\.org/accounts/not-me/\S+/", message.body)
    assert not_me, message.body
    for expected in ("203.0.113.5", "Firefox 121 on Linux", when, "Wasn't you?"):
        assert expected in message.body
    assert f'href="{not_me.group(0)}"' in message.alternatives[0][0]


def test_a_redelivered_event_sends_one_notice():
    alice = make_user()
    message = changed(alice, reason="change")[0].to_message()
    task = send_password_changed_notice.task
    task.apply(args=[message])
    task.apply(args=[message])
    assert len(mail.outbox) == 1
    assert (
        ProcessedEvent.objects.filter(handler="handlers.send_password_changed_notice").count() == 1
    )
