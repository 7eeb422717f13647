"""A reset request held back by a per-address limit gets the usual answer, so the log says why:
at INFO, with the address as its keyed hash, never as typed."""

from __future__ import annotations

import json
import logging
import re

import pytest

from shared.infra.redaction import hash_for_log
from tests.conftest import queued_messages, set_rates

pytestmark = pytest.mark.django_db(transaction=True)

FLOW_LOGGER = "shared.accounts.password_reset"
ADDRESS = "Bob.Tester@Example.com"


def request_reset(client, email=ADDRESS):
    return client.post("/api/auth/password/reset/", data=json.dumps({"email": email}),
                       content_type="application/json")  # fmt: skip


def flow_lines(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == FLOW_LOGGER]


def test_a_request_within_the_cooldown_is_logged_at_info_with_the_address_hashed(
    client, settings, fake_redis, caplog
):
    set_rates(settings, reset_ip=None, reset_email="1/min", reset_email_daily=None)
    caplog.set_level(logging.INFO)
    assert request_reset(client).status_code == 202
    assert flow_lines(caplog) == []  # a request that is sent is the worker's to log

    assert request_reset(client, ADDRESS.lower()).status_code == 202

    [line] = flow_lines(caplog)
    assert line.levelno == logging.INFO
    said = re.fullmatch(
        r"reset request for (h:\w{12}) not sent: within the per-address cooldown \(reset_email\), "
        r"(\d+) s to wait",
        line.getMessage(),
    )
    assert said, line.getMessage()
    assert said[1] == hash_for_log(ADDRESS)
    assert 50 <= int(said[2]) <= 60
    assert "bob" not in caplog.text.lower()
    assert len(queued_messages(fake_redis, "email")) == 1


def test_a_request_past_the_daily_cap_is_logged_at_info_with_the_address_hashed(
    client, settings, fake_redis, caplog
):
    set_rates(settings, reset_ip=None, reset_email=None, reset_email_daily="1/day")
    caplog.set_level(logging.INFO)
    request_reset(client)
    assert request_reset(client).status_code == 202

    [line] = flow_lines(caplog)
    assert line.levelno == logging.INFO
    said = re.fullmatch(
        r"reset request for (h:\w{12}) not sent: past the per-address daily cap "
        r"\(reset_email_daily\), (\d+) s to wait",
        line.getMessage(),
    )
    assert said, line.getMessage()
    assert said[1] == hash_for_log(ADDRESS)
    assert 86_000 <= int(said[2]) <= 86_400
    assert "bob" not in caplog.text.lower()
    assert len(queued_messages(fake_redis, "email")) == 1
