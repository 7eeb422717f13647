"""Reset by code: every rule of DESIGN.md "Reset by code and per-client links", as the person
with the email, or an attacker without it, observes it through the API and the HTML pages.
The reset emails are made by calling the worker's handler here (mail.outbox)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from shared.messaging.events import PasswordResetRequestedV1, make_event
from shared.models import PasswordResetNonce
from tests.api_client import Device
from tests.conftest import queued_messages, set_rates
from tests.factories import NEW_PASSWORD, PASSWORD, make_user
from tests.unit.error_bodies import field_errors
from workers.handlers.password_reset import send_password_reset_email

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]
User = get_user_model()

CODE_URL = "password/reset/code/"
# A request field named ``code`` has its messages under non_field_errors: a body's ``code`` is
# always its error code (README, "Errors").
WRONG = {
    "non_field_errors": [
        "This code is wrong, expired or already used. Check it, or ask for a new email."
    ],
    "code": "invalid",
    "field_codes": {"non_field_errors": ["invalid_code"]},
}
CODE = re.compile(r"^\s+(\d{8})$", re.MULTILINE)
LINK = re.compile(r"https?://\S+/reset/(?P<uid>[^/\s]+)/(?P<token>[^/\s]+)/")


def mail_reset(email: str, client: str | None = None):
    """What the email worker does for a reset request; returns the message it sent."""
    payload = PasswordResetRequestedV1(email=email, client=client, ip="192.0.2.1", user_agent="ua")
    before = len(mail.outbox)
    send_password_reset_email(make_event(payload), payload)
    assert len(mail.outbox) == before + 1
    return mail.outbox[-1]


def code_in(message) -> str:
    [code] = CODE.findall(message.body)
    return code


def link_in(message) -> dict[str, str]:
    match = LINK.search(message.body)
    return {"uid": match["uid"], "token": match["token"]}


def exchange(email: str, code: str, device: Device | None = None):
    return (device or Device()).post(CODE_URL, {"email": email, "code": code})


def confirm(pair: dict[str, str], password: str = NEW_PASSWORD):
    body = {**pair, "new_password1": password, "new_password2": password}
    return Device().post("password/reset/confirm/", body)


def can_log_in(password: str, email: str = "alice@example.com") -> bool:
    return Device().login(password, email=email).status_code == 200


def sets_the_password(email: str, code: str) -> bool:
    """Whether ``code`` works as its holder sees it: exchanged, it gives the pair that sets a
    new password, which then logs in (a 200 alone could carry a useless pair)."""
    response = exchange(email, code)
    return (
        response.status_code == 200
        and confirm(response.json()).status_code == 200
        and can_log_in(NEW_PASSWORD, email)
    )


def a_wrong_code(right: str) -> str:
    return f"{(int(right) + 1) % 10**8:08d}"


def try_wrong_codes(address: str, code: str, times: int) -> None:
    """``times`` wrong codes typed at ``address``, as a guesser would."""
    for _ in range(times):
        exchange(address, a_wrong_code(code))


@pytest.fixture
def alice():
    return make_user()


def test_the_email_shows_the_link_and_an_8_digit_code_in_text_and_html(alice):
    message = mail_reset("alice@example.com")

    code = code_in(message)
    html, _ = message.alternatives[0]
    assert code in html
    assert LINK.search(html)
    assert "15 minutes" in message.body  # the code's lifetime, next to the link's 60


def test_codes_are_drawn_from_all_eight_digits(alice):
    from workers.handlers.password_reset import mail_reset_link

    for _ in range(10):
        mail_reset_link(alice)
    codes = [code_in(message) for message in mail.outbox]

    assert len(set(codes)) == 10
    assert len({code[0] for code in codes}) > 1  # not a small number padded with zeros


def test_a_code_exchanged_then_confirmed_sets_the_password_and_spends_the_link_too(alice):
    message = mail_reset("alice@example.com")

    response = exchange("alice@example.com", code_in(message))

    assert response.status_code == 200
    pair = response.json()
    assert set(pair) == {"uid", "token"}
    assert confirm(pair).status_code == 200
    assert can_log_in(NEW_PASSWORD)
    assert confirm(link_in(message), "a-third-long-passphrase").status_code == 400
    assert exchange("alice@example.com", code_in(message)).json() == WRONG
    assert confirm(pair, "a-third-long-passphrase").status_code == 400


def test_using_the_link_spends_the_code(alice):
    message = mail_reset("alice@example.com")

    assert confirm(link_in(message)).status_code == 200

    assert exchange("alice@example.com", code_in(message)).json() == WRONG


def test_exchanging_a_code_spends_nothing_yet(alice):
    message = mail_reset("alice@example.com")

    first = exchange("alice@example.com", code_in(message)).json()
    again = exchange("alice@example.com", code_in(message))

    assert again.status_code == 200
    assert User.objects.get(pk=alice.pk).check_password(PASSWORD)  # nothing changed yet
    assert confirm(link_in(message)).status_code == 200  # the link still works
    assert confirm(first, "a-third-long-passphrase").status_code == 400  # and spent the pairs


def test_only_the_newest_emails_code_works(alice):
    older = mail_reset("alice@example.com")
    newer = mail_reset("alice@example.com")

    assert exchange("alice@example.com", code_in(older)).json() == WRONG
    assert exchange("alice@example.com", code_in(newer)).status_code == 200


def test_a_code_dies_after_five_wrong_tries(alice):
    code = code_in(mail_reset("alice@example.com"))
    for _ in range(5):
        assert exchange("alice@example.com", a_wrong_code(code)).json() == WRONG

    assert exchange("alice@example.com", code).json() == WRONG
    assert can_log_in(PASSWORD)


def test_four_wrong_tries_leave_the_right_code_working(alice):
    code = code_in(mail_reset("alice@example.com"))
    try_wrong_codes("alice@example.com", code, times=4)

    assert sets_the_password("alice@example.com", code)


def test_a_right_code_gives_its_try_back(alice):
    code = code_in(mail_reset("alice@example.com"))
    try_wrong_codes("alice@example.com", code, times=4)

    for _ in range(3):  # an app that exchanges the code again, say after a crash
        assert exchange("alice@example.com", code).status_code == 200


def test_wrong_tries_at_other_addresses_leave_the_codes_tries_alone(alice):
    code = code_in(mail_reset("alice@example.com"))
    try_wrong_codes("nobody@example.com", code, times=5)

    assert sets_the_password("alice@example.com", code)


def test_an_email_to_another_address_brings_this_address_no_fresh_tries(alice):
    make_user("mallory", "mallory@example.com")
    code = code_in(mail_reset("alice@example.com"))
    try_wrong_codes("alice@example.com", code, times=5)

    mail_reset("mallory@example.com")  # the guesser asks for a code of their own

    assert exchange("alice@example.com", code).json() == WRONG


def test_a_newer_email_brings_a_code_with_fresh_tries(alice):
    code = code_in(mail_reset("alice@example.com"))
    try_wrong_codes("alice@example.com", code, times=5)

    fresh = code_in(mail_reset("alice@example.com"))

    assert sets_the_password("alice@example.com", fresh)


def test_a_code_dies_after_reset_code_timeout(alice, monkeypatch):
    code = code_in(mail_reset("alice@example.com"))
    issued = timezone.now()
    monkeypatch.setattr(
        "shared.accounts.reset_codes.timezone.now", lambda: issued + timedelta(seconds=899)
    )
    assert exchange("alice@example.com", code).status_code == 200

    monkeypatch.setattr(
        "shared.accounts.reset_codes.timezone.now", lambda: issued + timedelta(seconds=901)
    )
    assert exchange("alice@example.com", code).json() == WRONG


def test_the_link_outlives_its_code(alice, monkeypatch):
    message = mail_reset("alice@example.com")
    later = timezone.now() + timedelta(minutes=30)
    monkeypatch.setattr("shared.accounts.reset_codes.timezone.now", lambda: later)

    assert exchange("alice@example.com", code_in(message)).json() == WRONG
    assert confirm(link_in(message)).status_code == 200


def test_wrong_code_unknown_address_and_dead_code_answer_the_same_bytes(alice):
    code = code_in(mail_reset("alice@example.com"))
    spent = code_in(mail_reset("alice@example.com"))
    code = code_in(mail_reset("alice@example.com"))

    answers = [
        exchange("alice@example.com", a_wrong_code(code)),
        exchange("nobody@example.com", code),
        exchange("alice@example.com", spent),
    ]

    assert {r.status_code for r in answers} == {400}
    assert len({r.content for r in answers}) == 1
    assert len({tuple(sorted(r.headers.items())) for r in answers}) == 1


def test_wrong_code_unknown_address_and_dead_code_run_the_same_statements(alice):
    """No extra read for one of them that a stopwatch could tell from the others."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    spent = code_in(mail_reset("alice@example.com"))
    code = code_in(mail_reset("alice@example.com"))
    statements = []
    for email, typed in [
        ("alice@example.com", a_wrong_code(code)),
        ("nobody@example.com", code),
        ("alice@example.com", spent),
    ]:
        with CaptureQueriesContext(connection) as queries:
            assert exchange(email, typed).json() == WRONG
        statements.append([query["sql"].split()[0] for query in queries])

    assert statements[0] == statements[1] == statements[2] == ["SELECT", "INSERT"]


def test_codes_are_stored_only_as_keyed_hashes(alice, settings):
    code = code_in(mail_reset("alice@example.com"))
    row = PasswordResetNonce.objects.values().get(user_id=alice.pk)

    assert code not in json.dumps(row, default=str)
    assert row["code_hash"] != hashlib.sha256(code.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", row["code_hash"])  # an HMAC-SHA256, as documented
    settings.SECRET_KEY = "another-secret-key-" + "x" * 50  # the same row, another key
    assert exchange("alice@example.com", code).json() == WRONG


def test_a_lookalike_address_cannot_use_the_code(db):
    make_user("mike", "mike@example.org")
    code = code_in(mail_reset("mike@example.org"))

    assert exchange("mıke@example.org", code).json() == WRONG  # dotless i
    assert exchange("MIKE@example.ORG", code).status_code == 200


def test_the_code_is_matched_to_its_own_account_when_two_share_the_address(db):
    make_user("ann", "shared@example.org")
    make_user("bob", "shared@example.org")
    mail.outbox.clear()
    payload = PasswordResetRequestedV1(email="shared@example.org")
    send_password_reset_email(make_event(payload), payload)
    codes = {m.body.split("@")[0]: code_in(m) for m in mail.outbox}
    assert len(mail.outbox) == 2

    pairs = [exchange("shared@example.org", code).json() for code in codes.values()]

    assert len({pair["uid"] for pair in pairs}) == 2


def test_a_code_works_for_an_account_that_has_signed_in_before(alice):
    assert can_log_in(PASSWORD)  # sets the account's last login, which the code covers

    assert sets_the_password("alice@example.com", code_in(mail_reset("alice@example.com")))


def test_a_code_spent_before_any_try_brings_its_address_no_fresh_tries(db):
    """Two accounts share an address: a newer code for one of them gives the address fresh
    tries only while that code is live. Spent at once, it gives none to guess the other's."""
    from workers.handlers.password_reset import mail_reset_link

    ann = make_user("ann", "shared@example.org")
    bob = make_user("bob", "shared@example.org")
    mail_reset_link(bob)
    bobs = code_in(mail.outbox[-1])
    try_wrong_codes("shared@example.org", bobs, times=5)
    mail_reset_link(ann)

    assert confirm(link_in(mail.outbox[-1])).status_code == 200  # ann uses her link at once

    assert exchange("shared@example.org", bobs).json() == WRONG


def test_a_password_change_kills_the_code(alice):
    code = code_in(mail_reset("alice@example.com"))
    device = Device()
    device.login(PASSWORD, email="alice@example.com")
    assert device.change_password(PASSWORD, NEW_PASSWORD).status_code == 200

    assert exchange("alice@example.com", code).json() == WRONG


def test_a_deactivated_account_cannot_use_its_code(alice):
    code = code_in(mail_reset("alice@example.com"))
    User.objects.filter(pk=alice.pk).update(is_active=False)

    assert exchange("alice@example.com", code).json() == WRONG


@pytest.mark.parametrize("typed", ["{0} {1}", "{0}-{1}", " {0}{1} "])
def test_spaces_and_dashes_people_type_are_ignored(alice, typed):
    code = code_in(mail_reset("alice@example.com"))

    assert sets_the_password("alice@example.com", typed.format(code[:4], code[4:]))


@pytest.mark.parametrize(
    "body",
    [
        {"email": "alice@example.com", "code": "abcdefgh"},
        {"email": "alice@example.com", "code": "1234567"},
        {"email": "alice@example.com", "code": "١٢٣٤٥٦٧٨"},  # Arabic-Indic digits
        {"email": "alice@example.com", "code": 12345678},
        {"email": "alice@example.com", "code": ["12345678"]},
        {"email": "alice@example.com"},
        {"email": "not-an-address", "code": "12345678"},
        {"code": "12345678"},
    ],
)
def test_malformed_exchanges_are_400s_that_spend_no_try(alice, body):
    code = code_in(mail_reset("alice@example.com"))
    for _ in range(5):
        response = Device().post(CODE_URL, body)
        assert response.status_code == 400
        assert response["Content-Type"] == "application/json"

    assert exchange("alice@example.com", code).status_code == 200


def test_the_code_endpoint_has_its_own_per_ip_throttle(alice, settings):
    set_rates(settings, code_ip="3/min")
    code = code_in(mail_reset("alice@example.com"))
    attacker, other = Device(ip="203.0.113.9"), Device(ip="203.0.113.77")
    for _ in range(3):
        exchange("alice@example.com", "00000000", attacker)

    refused = exchange("alice@example.com", code, attacker)

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert exchange("alice@example.com", code, other).status_code == 200


def test_the_exchange_answer_is_never_cached_nor_referred(alice):
    response = exchange("alice@example.com", code_in(mail_reset("alice@example.com")))

    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "same-origin"


def test_a_forced_reset_email_carries_a_working_code_too(alice):
    from workers.handlers.password_reset import mail_reset_link

    mail_reset_link(alice, template="password_reset_forced")
    [message] = mail.outbox

    assert sets_the_password("alice@example.com", code_in(message))


# Per-client links


def test_the_link_follows_the_named_clients_template(alice, settings):
    settings.RESET_CLIENTS = {
        "ios": "https://example.com/.well-known/r/{uid}/{token}",
        "web": "https://app.example.com/reset?uid={uid}&t={token}",
    }

    ios = mail_reset("alice@example.com", client="ios")
    web = mail_reset("alice@example.com", client="web")
    default = mail_reset("alice@example.com")

    assert re.search(r"https://example\.com/\.well-known/r/[\w-]+/[\w-]+\s", ios.body)
    assert "https://app.example.com/reset?uid=" in web.body
    assert "https://app.example.com/" not in default.body
    assert "/accounts/reset/" in default.body
    assert "/accounts/reset/" not in ios.body + web.body


def test_a_named_clients_link_sets_the_password(alice, settings):
    settings.RESET_CLIENTS = {"ios": "https://example.com/.well-known/r/{uid}/{token}"}

    message = mail_reset("alice@example.com", client="ios")

    link = re.search(r"https://example\.com/\.well-known/r/(?P<uid>[\w-]+)/(?P<token>[\w-]+)\s",
                     message.body)  # fmt: skip
    assert confirm(link.groupdict()).status_code == 200
    assert can_log_in(NEW_PASSWORD)


def test_the_request_carries_the_client_to_the_worker(settings, fake_redis):
    settings.RESET_CLIENTS = {"ios": "https://example.com/r/{uid}/{token}"}

    response = Device().post("password/reset/", {"email": "alice@example.com", "client": "ios"})

    assert response.status_code == 202
    [message] = queued_messages(fake_redis, "email")
    assert message["args"]["payload"]["client"] == "ios"


@pytest.mark.parametrize("email", ["alice@example.com", "nobody@example.com"])
@pytest.mark.parametrize("client", ["android", "", "IOS", 7, None, ["ios"]])
def test_an_unknown_client_is_the_same_400_for_every_address(
    alice, settings, fake_redis, email, client
):
    settings.RESET_CLIENTS = {"ios": "https://example.com/r/{uid}/{token}"}

    response = Device().post("password/reset/", {"email": email, "client": client})

    assert set(field_errors(response)) == {"client"}
    assert queued_messages(fake_redis, "email") == []


def test_the_schema_lists_the_client_field_and_the_code_endpoint(client):
    schema = client.get("/api/schema/?format=json").json()
    request = schema["components"]["schemas"]["PasswordResetRequest"]

    assert "client" in request["properties"]
    assert "/api/auth/password/reset/code/" in schema["paths"]


# The HTML pages


def test_the_done_page_offers_the_code_instead(client):
    page = client.get("/accounts/password-reset/done/")

    assert b'href="/accounts/password-reset/code/"' in page.content


def test_a_right_code_on_the_html_page_leads_to_the_set_password_page(client, alice):
    code = code_in(mail_reset("alice@example.com"))

    wrong = client.post(
        "/accounts/password-reset/code/", {"email": "alice@example.com", "code": "00000000"}
    )
    assert wrong.status_code == 200
    assert "This code is wrong, expired or already used." in wrong.content.decode()

    right = client.post(
        "/accounts/password-reset/code/", {"email": "alice@example.com", "code": code}
    )
    assert right.status_code == 302
    opened = client.get(right["Location"])
    assert opened.status_code == 302
    assert opened["Location"].endswith("/set-password/")
    assert client.get(opened["Location"]).context["validlink"] is True


def test_the_html_code_page_is_throttled_per_ip(client, alice, settings):
    set_rates(settings, code_ip="2/min")
    for _ in range(2):
        client.post("/accounts/password-reset/code/", {"email": "a@example.com", "code": "1"})

    refused = client.post(
        "/accounts/password-reset/code/", {"email": "a@example.com", "code": "12345678"}
    )

    assert refused.status_code == 429
    assert "Retry-After" in refused


@pytest.mark.parametrize(
    ("language", "phrase"),
    [("de", "Der Code ist 15 Minuten lang gültig."), ("fr", "Le code est valable 15 minutes.")],
)
def test_the_code_is_explained_in_the_language_of_the_request(alice, language, phrase):
    payload = PasswordResetRequestedV1(email="alice@example.com", language=language)
    send_password_reset_email(make_event(payload), payload)
    [message] = mail.outbox

    assert phrase in message.body
    assert code_in(message)


def test_tries_are_counted_for_unknown_addresses_too_and_stale_counters_are_purged(settings):
    from shared.models import ResetCodeTries
    from workers.maintenance import purge_reset_code_tries

    exchange("nobody@example.com", "12345678")
    exchange("NOBODY@example.com", "12345678")
    [row] = ResetCodeTries.objects.all()
    assert row.tries == 2
    assert "nobody" not in row.address_key  # a keyed hash, not the address
    assert re.fullmatch(r"[0-9a-f]{64}", row.address_key)  # an HMAC-SHA256, as documented

    assert purge_reset_code_tries() == 0
    ResetCodeTries.objects.update(last_tried_at=timezone.now() - timedelta(seconds=901))
    assert purge_reset_code_tries() == 1


def test_five_concurrent_wrong_guesses_and_the_right_code_get_no_sixth_try(alice):
    """Tries are counted before the comparison, in one statement: guesses racing each other
    cannot get more than the limit between them."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    code = code_in(mail_reset("alice@example.com"))

    def guess(candidate):
        try:
            return exchange("alice@example.com", candidate).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=5) as pool:
        statuses = list(pool.map(guess, [a_wrong_code(code)] * 5))

    assert statuses == [400] * 5
    assert exchange("alice@example.com", code).json() == WRONG


def test_the_forced_reset_email_says_where_to_enter_the_code(alice, settings):
    from workers.handlers.password_reset import mail_reset_link

    settings.PUBLIC_BASE_URL = "https://accounts.example.org"
    mail_reset_link(alice, template="password_reset_forced")
    [message] = mail.outbox

    assert "https://accounts.example.org/accounts/password-reset/code/" in message.body
    assert "where you asked for the reset" not in message.body  # nobody asked


def test_a_client_unknown_to_the_worker_still_gets_a_working_default_link(alice, settings, caplog):
    settings.RESET_CLIENTS = {}  # the API knew "ios"; this worker's settings do not

    message = mail_reset("alice@example.com", client="ios")

    assert confirm(link_in(message)).status_code == 200
    assert "reset client 'ios' is not in this worker's RESET_CLIENTS: default link sent" in [
        record.getMessage() for record in caplog.records
    ]


def test_the_typed_address_leaves_the_browser_session_once_the_code_has_served(client, alice):
    client.post("/accounts/password-reset/", {"email": "alice@example.com"})
    assert (
        'value="alice@example.com"' in client.get("/accounts/password-reset/code/").content.decode()
    )
    code = code_in(mail_reset("alice@example.com"))

    client.post("/accounts/password-reset/code/", {"email": "alice@example.com", "code": code})

    page = client.get("/accounts/password-reset/code/").content.decode()
    assert "alice@example.com" not in page
