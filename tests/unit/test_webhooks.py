"""Webhook subscriptions: which URLs they may reach, what a delivery says, how it is signed.

No test here reaches a private or public address: names resolve through a stub
(``shared.messaging.webhooks.getaddrinfo``) and any socket connection but to the local receiver
fails
the test."""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
import uuid
from datetime import UTC, datetime

import pytest
from django.test import Client
from standardwebhooks.webhooks import Webhook

from shared.messaging import dead_letters, webhooks
from shared.messaging.events import AccountLockedV1, PasswordChangedV1, make_event
from shared.models import DeadLetter, ProcessedEvent, WebhookSubscription
from shared.operators.api_keys import create_api_key
from tests.conftest import queued_messages
from tests.unit.error_bodies import field_errors
from workers.handlers import webhooks as webhook_handlers

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.215.14"
HOOK = "https://hooks.example.com/events"


@pytest.fixture
def resolver(monkeypatch):
    """Names resolve to what the test puts here (``resolver["hooks.example.com"] = [...]``)."""

    class Stub(dict):
        def __call__(self, host, port, *args, **kwargs):
            try:
                addresses = [str(ipaddress.ip_address(host))]  # a literal is itself
            except ValueError:
                if host not in self:
                    raise socket.gaierror(socket.EAI_NONAME, "unknown name") from None
                addresses = self[host]
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port, 0, 0) if ":" in a else (a, port))
                for a in addresses
            ]  # fmt: skip

    stub = Stub({"hooks.example.com": [PUBLIC]})
    monkeypatch.setattr("shared.messaging.webhooks.getaddrinfo", stub)
    return stub


@pytest.fixture
def no_connections(monkeypatch):
    """Any socket connection fails the test; ``allow`` names the (host, port) that may be."""
    allowed: set = set()
    real_connect = socket.socket.connect

    def connect(sock, address):
        if tuple(address[:2]) not in allowed:
            raise AssertionError(f"a connection was attempted to {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    return allowed


@pytest.fixture
def key():
    return {"HTTP_AUTHORIZATION": f"Api-Key {create_api_key('crm')}"}


def subscribe_by_api(key, url=HOOK, events=("password.changed",)):
    return Client().post(
        "/api/admin/webhooks/", data=json.dumps({"url": url, "events": list(events)}),
        content_type="application/json", **key,
    )  # fmt: skip


def changed_event(**fields):
    return make_event(
        PasswordChangedV1(
            user_id=7,
            reason="change",
            ip="203.0.113.9",
            user_agent="SecretBrowser/1.0",
            keep_session_key="s" * 32,
            changed_at=datetime.now(UTC),
            **fields,
        )  # fmt: skip
    )


def delivery_for(subscription, event=None):
    event = event or changed_event()
    return {"id": str(event.id), "type": event.type, "subscription": subscription.pk,
            "body": webhooks.delivery_body(event, event.typed_payload())}  # fmt: skip


@pytest.mark.parametrize(
    "addresses",
    [["10.0.0.1"], ["192.168.1.1"], ["172.16.0.1"], ["169.254.169.254"], ["127.0.0.1"], ["::1"],
     ["fd00::1"], ["fe80::1"], ["100.64.0.1"], ["0.0.0.0"], ["224.0.0.1"], ["240.0.0.1"],  # noqa: S104
     ["::ffff:10.0.0.1"], ["64:ff9b::a9fe:a9fe"], [PUBLIC, "10.0.0.1"]],
)  # fmt: skip
def test_a_url_resolving_to_a_private_address_is_refused_before_any_connection(
    addresses, resolver, no_connections, settings, key, fake_redis
):
    settings.DEBUG = False
    resolver["hooks.example.com"] = addresses

    with pytest.raises(webhooks.RefusedURL):
        webhooks.check_url(HOOK)
    response = subscribe_by_api(key)

    assert response.status_code == 400
    assert "url" in response.json()
    assert not WebhookSubscription.objects.exists()


def test_loopback_is_refused_with_debug_off_even_over_https(resolver, no_connections, settings):
    settings.DEBUG = False
    with pytest.raises(webhooks.RefusedURL):
        webhooks.check_url("https://127.0.0.1:8443/hooks")


def test_http_is_refused_with_debug_off(resolver, no_connections, settings):
    settings.DEBUG = False
    with pytest.raises(webhooks.RefusedURL, match="https"):
        webhooks.check_url("http://hooks.example.com/events")
    with pytest.raises(webhooks.RefusedURL):
        webhooks.check_url("http://127.0.0.1:8080/hooks")


def test_http_to_loopback_is_accepted_with_debug_on_and_only_to_loopback(
    resolver, no_connections, settings
):
    settings.DEBUG = True

    assert webhooks.check_url("http://127.0.0.1:8080/hooks").address == "127.0.0.1"
    with pytest.raises(webhooks.RefusedURL, match="https"):
        webhooks.check_url("http://hooks.example.com/events")
    resolver["hooks.example.com"] = ["10.0.0.1"]
    with pytest.raises(webhooks.RefusedURL):
        webhooks.check_url(HOOK)  # DEBUG opens loopback only, not the private ranges


def test_https_to_a_public_address_is_accepted_and_pins_that_address(
    resolver, no_connections, settings
):
    settings.DEBUG = False

    target = webhooks.check_url(HOOK)

    assert (target.host, target.address) == ("hooks.example.com", PUBLIC)


def test_webhook_allow_private_lets_private_addresses_through(resolver, settings):
    settings.DEBUG, settings.WEBHOOK_ALLOW_PRIVATE = False, True
    resolver["hooks.example.com"] = ["10.0.0.1"]

    assert webhooks.check_url(HOOK).address == "10.0.0.1"


@pytest.mark.parametrize(
    "url",
    ["ftp://hooks.example.com/", "hooks.example.com/events", "https://", "javascript:alert(1)",
     "https://user:pw@hooks.example.com/", "https://nowhere.example.com/", "https://[::1/",
     "https://hööks.example.com/", "https://hooks.example.com:99999/"],
)  # fmt: skip
def test_urls_that_are_not_https_urls_of_a_resolvable_host_are_refused(
    url, resolver, no_connections, key, fake_redis
):
    response = subscribe_by_api(key, url=url)

    assert list(field_errors(response)) == ["url"]
    assert not WebhookSubscription.objects.exists()  # nothing will ever be sent there


def test_a_new_subscription_shows_its_secret_once(resolver, key, fake_redis):
    response = subscribe_by_api(key, events=["password.changed", "account.locked"])

    assert response.status_code == 201
    created = response.json()
    assert created["url"] == HOOK and created["events"] == ["password.changed", "account.locked"]
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) >= 24
    listed = Client().get("/api/admin/webhooks/", **key)
    one = Client().get(f"/api/admin/webhooks/{created['id']}/", **key)
    assert listed.status_code == one.status_code == 200
    assert [row["id"] for row in listed.json()] == [created["id"]]
    for answer in (listed, one):
        assert secret not in answer.content.decode() and b"secret" not in answer.content


def test_each_subscription_gets_its_own_secret(resolver, key, fake_redis):
    first, second = subscribe_by_api(key).json(), subscribe_by_api(key).json()
    assert first["secret"] != second["secret"]


@pytest.mark.parametrize(
    "events",
    [["email.change_requested"], ["password.reset_requested"], ["password.changed", "nope"], [],
     "password.changed", [1], [["password.changed"]]],
)  # fmt: skip
def test_event_types_that_do_not_exist_or_are_not_offered_are_refused(
    events, resolver, key, fake_redis
):
    response = subscribe_by_api(key, events=events)

    assert response.status_code == 400
    assert "events" in response.json()
    assert not WebhookSubscription.objects.exists()


def test_a_deleted_subscription_is_gone(resolver, key, fake_redis):
    created = subscribe_by_api(key).json()

    assert Client().delete(f"/api/admin/webhooks/{created['id']}/", **key).status_code == 204
    assert Client().get(f"/api/admin/webhooks/{created['id']}/", **key).status_code == 404
    assert Client().get("/api/admin/webhooks/", **key).json() == []
    assert webhooks.subscribers("password.changed") == []  # no more deliveries to it
    assert Client().delete(f"/api/admin/webhooks/{created['id']}/", **key).status_code == 404
    assert Client().get(f"/api/admin/webhooks/{2**70}/", **key).status_code == 404


def test_the_body_names_the_user_and_reason_but_never_the_ip_or_browser():
    event = changed_event()

    body = webhooks.delivery_body(event, event.typed_payload())

    assert json.loads(body) == {
        "type": "password.changed",
        "timestamp": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "data": {"user_id": 7, "reason": "change"},
    }
    for secret in ("203.0.113.9", "SecretBrowser", "s" * 32):
        assert secret not in body


def test_an_account_locked_body_has_its_reason():
    event = make_event(AccountLockedV1(user_id=3, reason="deleted", locked_at=datetime.now(UTC)))

    data = json.loads(webhooks.delivery_body(event, event.typed_payload()))

    assert data["type"] == "account.locked" and data["data"] == {"user_id": 3, "reason": "deleted"}


def test_the_signature_verifies_with_the_standardwebhooks_library():
    secret, body = webhooks.new_secret(), '{"type": "password.changed"}'

    headers = webhooks.signed_headers(secret, "msg-1", body)

    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers) == {"type": "password.changed"}
    with pytest.raises(Exception, match="signature"):
        Webhook(webhooks.new_secret()).verify(body, headers)


def test_an_event_fans_out_to_each_subscriber_that_names_it(fake_redis):
    both = WebhookSubscription.objects.create(
        url=HOOK, events=["password.changed", "account.locked"], secret=webhooks.new_secret()
    )
    WebhookSubscription.objects.create(url=HOOK, events=["account.locked"], secret="whsec_AAAA")
    WebhookSubscription.objects.create(
        url=HOOK, events=["password.changed"], secret="whsec_AAAA", active=False
    )
    event = changed_event()

    webhook_handlers.send_password_changed_webhooks(event, event.typed_payload())

    [message] = queued_messages(fake_redis, "webhooks")
    assert message["headers"]["task"] == "webhooks.deliver"
    assert message["headers"]["id"] == f"{event.id}.{both.pk}"
    assert message["headers"]["argsrepr"] == f"(password.changed event {event.id})"
    assert message["args"]["subscription"] == both.pk
    assert json.loads(message["args"]["body"])["data"]["user_id"] == 7


def test_a_delivery_checks_the_address_again_and_refuses_after_a_dns_change(
    resolver, no_connections, settings
):
    settings.DEBUG = False
    subscription = webhooks.subscribe(HOOK, ["password.changed"])
    resolver["hooks.example.com"] = ["10.0.0.1"]  # rebound after the subscription

    webhook_handlers.deliver.apply(args=[delivery_for(subscription)])

    letter = DeadLetter.objects.get()
    assert (letter.task, letter.reason) == ("webhooks.deliver", "permanent_failure")


def test_a_delivery_connects_to_the_address_it_checked(
    monkeypatch, no_connections, receiver, settings
):
    settings.DEBUG = True
    port = int(receiver.url.split(":")[2].split("/")[0])
    no_connections.add(("127.0.0.1", port))
    lookups = []

    def rebinding(host, port, *args, **kwargs):
        # The first lookup (the check) gives loopback; any later one a private address.
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "10.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr("shared.messaging.webhooks.getaddrinfo", rebinding)
    subscription = WebhookSubscription.objects.create(
        url=f"http://hooks.example.com:{port}/hooks", events=["password.changed"],
        secret=webhooks.new_secret(),
    )  # fmt: skip
    receiver.secret = subscription.secret

    response = webhooks.post(subscription, "msg-1", '{"type": "password.changed"}')

    assert response.status_code == 200 and lookups == ["hooks.example.com"]
    [delivery] = receiver.deliveries
    assert delivery.headers["host"] == f"hooks.example.com:{port}"
    assert delivery.payload == {"type": "password.changed"}


def test_a_failing_receiver_ends_in_a_dead_letter_that_replays_on_the_webhooks_queue(
    receiver, settings, fake_redis
):
    settings.DEBUG, settings.WEBHOOK_MAX_RETRIES = True, 0
    receiver.answers = [500]
    subscription = webhooks.subscribe(receiver.url, ["password.changed"])
    delivery = delivery_for(subscription)

    webhook_handlers.deliver.apply(args=[delivery])

    letter = DeadLetter.objects.get()
    assert (letter.reason, letter.error, letter.message) == ("retries_exhausted", "HTTP 500",
                                                             delivery)  # fmt: skip
    assert dead_letters.replay(letter)
    [message] = queued_messages(fake_redis, "webhooks")
    assert message["headers"]["task"] == "webhooks.deliver" and message["args"] == delivery


def test_a_delivered_event_is_not_posted_again(receiver, settings):
    settings.DEBUG = True
    subscription = webhooks.subscribe(receiver.url, ["password.changed"])
    receiver.secret = subscription.secret
    delivery = delivery_for(subscription)

    webhook_handlers.deliver.apply(args=[delivery])
    webhook_handlers.deliver.apply(args=[delivery])

    assert len(receiver.verified) == 1
    assert ProcessedEvent.objects.filter(event_id=delivery["id"]).count() == 1


def test_a_deleted_subscription_is_dropped_silently(no_connections):
    gone = WebhookSubscription(pk=424242)
    delivery = {**delivery_for(gone)}

    webhook_handlers.deliver.apply(args=[delivery])

    assert not DeadLetter.objects.exists()


def test_a_malformed_delivery_is_a_dead_letter_not_a_crash(no_connections):
    webhook_handlers.deliver.apply(args=[{"id": str(uuid.uuid4()), "subscription": "x"}])

    assert DeadLetter.objects.get().reason == "malformed"
