"""Rate limits: per IP, per address (a quiet cooldown), identical for known and unknown."""

from __future__ import annotations

import json
import threading

import pytest
from fakeredis._socket import FakeSocket

from shared.infra import ratelimit
from tests.conftest import queued_messages, set_rates
from tests.factories import make_user

URL = "/api/auth/password/reset/"

pytestmark = pytest.mark.django_db(transaction=True)


def request_reset(client, email, **extra):
    return client.post(
        URL, data=json.dumps({"email": email}), content_type="application/json", **extra
    )


def test_reset_requests_are_limited_per_ip_with_retry_after(client, settings, fake_redis):
    set_rates(settings, reset_ip="3/min", reset_email=None)
    statuses = [request_reset(client, f"u{i}@example.com").status_code for i in range(4)]
    assert statuses == [202, 202, 202, 429]
    throttled = request_reset(client, "another@example.com")
    assert throttled.status_code == 429
    # When the first of the three leaves the minute's window: moments ago, so nearly a minute.
    assert 50 <= int(throttled["Retry-After"]) <= 60
    assert throttled["Content-Type"] == "application/json"
    assert len(queued_messages(fake_redis, "email")) == 3


def test_x_forwarded_for_is_ignored_without_trusted_proxies(client, settings, fake_redis):
    set_rates(settings, reset_ip="2/min", reset_email=None)
    settings.NUM_PROXIES = 0
    statuses = [
        request_reset(client, "a@example.com", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code
        for i in range(3)
    ]
    assert statuses == [202, 202, 429]


def test_x_forwarded_for_names_the_client_behind_one_trusted_proxy(client, settings, fake_redis):
    set_rates(settings, reset_ip="1/min", reset_email=None)
    settings.NUM_PROXIES = 1
    first = request_reset(client, "a@example.com", HTTP_X_FORWARDED_FOR="198.51.100.1")
    second = request_reset(client, "a@example.com", HTTP_X_FORWARDED_FOR="198.51.100.2")
    again = request_reset(client, "a@example.com", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.1")
    assert (first.status_code, second.status_code, again.status_code) == (202, 202, 429)


def test_per_address_cooldown_still_answers_202_but_sends_nothing_more(
    client, settings, fake_redis
):
    set_rates(settings, reset_ip=None, reset_email="1/min")
    responses = [
        request_reset(client, email)
        for email in ("bob@example.com", "BOB@example.com", "bob@example.com")
    ]
    assert {r.status_code for r in responses} == {202}
    assert len({r.content for r in responses}) == 1
    assert len(queued_messages(fake_redis, "email")) == 1
    request_reset(client, "carol@example.com")
    assert len(queued_messages(fake_redis, "email")) == 2


def test_throttling_is_identical_for_known_and_unknown_addresses(client, settings, fake_redis):
    make_user("known", "known@example.com")
    set_rates(settings, reset_ip="3/min", reset_email="1/min")

    def run(email, ip):
        responses = [request_reset(client, email, REMOTE_ADDR=ip) for _ in range(5)]
        return [(r.status_code, r.content, r.get("Retry-After") is not None) for r in responses]

    assert run("known@example.com", "192.0.2.10") == run("unknown@example.com", "192.0.2.11")


def test_throttle_rates_off_disables_the_limits(client, settings, fake_redis):
    set_rates(settings, reset_ip=None, reset_email=None, reset_email_daily=None)
    statuses = {request_reset(client, "a@example.com").status_code for _ in range(30)}
    assert statuses == {202}
    assert len(queued_messages(fake_redis, "email")) == 30


def test_rate_limits_fail_open_when_redis_is_down(client, settings, fake_redis, caplog):
    set_rates(settings, reset_ip="1/min")
    fake_redis.server.connected = False
    statuses = {request_reset(client, f"u{i}@example.com").status_code for i in range(3)}
    assert statuses == {202}
    # Each limit not applied is logged, naming its scope: the per-IP one once per request.
    misses = [r.getMessage() for r in caplog.records if "not applied" in r.getMessage()]
    per_ip = "rate limit reset_ip not applied, Redis unavailable: FakeRedis is emulating"
    assert len([m for m in misses if m.startswith(per_ip)]) == 3
    assert not [m for m in misses if m.startswith("rate limit None ")]


def test_html_reset_form_is_limited_per_ip_too(client, settings, fake_redis):
    set_rates(settings, reset_ip="1/min", reset_email=None)
    first = client.post("/accounts/password-reset/", {"email": "a@example.com"})
    second = client.post("/accounts/password-reset/", {"email": "b@example.com"})
    assert first.status_code == 302
    assert second.status_code == 429
    assert int(second["Retry-After"]) > 0
    assert b"Too many attempts" in second.content


def test_ipv6_clients_are_counted_by_their_64_block(client, settings, fake_redis):
    set_rates(settings, reset_ip="2/min", reset_email=None)
    # One subscriber's /64 holds 2**64 addresses: a new one per request gets nothing more.
    same_block = [
        request_reset(client, "a@example.com", REMOTE_ADDR=f"2001:db8:1:2::{i:x}").status_code
        for i in range(1, 4)
    ]
    assert same_block == [202, 202, 429]
    other_block = request_reset(client, "a@example.com", REMOTE_ADDR="2001:db8:1:3::1")
    assert other_block.status_code == 202


def test_an_ipv4_mapped_address_counts_as_its_ipv4_address(client, settings, fake_redis):
    set_rates(settings, reset_ip="1/min", reset_email=None)
    assert request_reset(client, "a@example.com", REMOTE_ADDR="192.0.2.20").status_code == 202
    mapped = request_reset(client, "a@example.com", REMOTE_ADDR="::ffff:192.0.2.20")
    assert mapped.status_code == 429


@pytest.mark.parametrize(
    ("first", "second"),
    [("198.51.100.1:4711", "198.51.100.1:5000"), ("[2001:db8::1]:4711", "2001:db8::1")],
)
def test_forwarded_addresses_with_a_port_name_the_client(client, settings, fake_redis, first,
                                                         second):  # fmt: skip
    set_rates(settings, reset_ip="1/min", reset_email=None)
    settings.NUM_PROXIES = 1
    one = request_reset(client, "a@example.com", HTTP_X_FORWARDED_FOR=first)
    again = request_reset(client, "a@example.com", HTTP_X_FORWARDED_FOR=second)
    # Misread as garbage, the port form would fall back to the proxy's own address, which
    # every client shares: a second client would then be refused too.
    other = request_reset(client, "a@example.com", HTTP_X_FORWARDED_FOR="203.0.113.99:80")
    assert (one.status_code, again.status_code, other.status_code) == (202, 429, 202)


def test_one_address_gets_at_most_its_daily_cap_of_reset_emails(client, settings, fake_redis):
    set_rates(settings, reset_ip=None, reset_email=None, reset_email_daily="3/day")
    spellings = ["bob@example.com", "BOB@example.com", "Bob@Example.COM", "bob@example.com",
                 "bob@EXAMPLE.com"]  # fmt: skip
    responses = [request_reset(client, email) for email in spellings]
    assert {(r.status_code, r.content) for r in responses} == {(responses[0].status_code,
                                                                responses[0].content)}  # fmt: skip
    assert responses[0].status_code == 202
    assert len(queued_messages(fake_redis, "email")) == 3


def test_the_daily_cap_is_identical_for_known_and_unknown_addresses(client, settings, fake_redis):
    make_user("known", "known@example.com")
    set_rates(settings, reset_ip=None, reset_email=None, reset_email_daily="2/day")

    def run(email):
        responses = [request_reset(client, email) for _ in range(4)]
        return [(r.status_code, r.content, sorted(r.headers)) for r in responses]

    assert run("known@example.com") == run("unknown@example.com")
    assert len(queued_messages(fake_redis, "email")) == 4  # 2 for each


def test_cooldown_refusals_do_not_use_up_the_daily_cap(client, settings, fake_redis):
    set_rates(settings, reset_ip=None, reset_email="1/min", reset_email_daily="2/day")
    for _ in range(5):  # one sent, four inside the cooldown
        request_reset(client, "carol@example.com")
    [key] = fake_redis.keys("resetpass:rl:reset_email_daily:*")
    assert fake_redis.zcard(key) == 1


def test_two_hits_at_once_for_the_last_place_let_exactly_one_through(
    settings, fake_redis, monkeypatch
):
    """A double click's two reset requests for one address, their Redis commands arriving in
    the worst order: both adds, then both counts. One of them must still get through
    (were the add and the count not one transaction, each would count two and both be refused,
    and no email would go)."""
    set_rates(settings, reset_email="1/min")
    in_step = threading.Barrier(2, timeout=5)
    run_command = FakeSocket._process_command  # fake Redis runs each command it receives here
    met = []

    def run_then_wait_for_the_other_request(socket, fields):
        run_command(socket, fields)
        if fields[0].upper() in (b"ZADD", b"ZCARD"):
            in_step.wait()
            met.append(fields[0].upper())

    monkeypatch.setattr(FakeSocket, "_process_command", run_then_wait_for_the_other_request)
    waits = []
    other = threading.Thread(target=lambda: waits.append(ratelimit.hit("reset_email", "bob")))
    other.start()
    waits.append(ratelimit.hit("reset_email", "bob"))
    other.join()
    assert sorted(met) == [b"ZADD", b"ZADD", b"ZCARD", b"ZCARD"]  # the worst order was played
    assert sorted(wait is None for wait in waits) == [False, True]


def test_retry_after_counts_from_the_oldest_hit_in_the_window(client, settings, fake_redis, clock):
    """Half a minute after the one reset a minute allows, the wait left is half a minute, not
    a whole one from now."""
    set_rates(settings, reset_ip="1/min", reset_email=None)
    assert request_reset(client, "a@example.com").status_code == 202
    clock.shift(30)
    refused = request_reset(client, "b@example.com")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "30"
    assert refused.json() == {
        "detail": "Request was throttled. Expected available in 30 seconds.",
        "code": "throttled",
    }


def test_a_limit_holds_until_the_last_moment_of_its_window(client, settings, fake_redis, clock):
    """Nothing between the first hit and the window's last half second: the hit is still
    counted then (its key outlives the window), and the wait left is that half second,
    rounded up to the next whole second; a moment later the window has passed."""
    set_rates(settings, reset_ip="1/min", reset_email=None)
    assert request_reset(client, "a@example.com").status_code == 202
    clock.shift(59.5)
    refused = request_reset(client, "b@example.com")
    assert (refused.status_code, refused["Retry-After"]) == (429, "1")
    clock.shift(0.5)
    assert request_reset(client, "c@example.com").status_code == 202
