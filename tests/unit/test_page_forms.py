"""The forms on the HTML pages, as a person (and their password manager or screen reader) meets
them: login by username or address, errors in a banner or on the field they belong to, every
aria-describedby naming an element of the page, the password rules said as enforced, the account
named for password managers, and a throttled post that keeps what was typed."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from tests.conftest import set_rates
from tests.factories import NEW_PASSWORD, PASSWORD, issue_link

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]

SHORT = "short"


class Page(HTMLParser):
    """The parts of a page these tests look at: every element's attributes, by tag."""

    def __init__(self, html: str):
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def ids(self) -> set[str]:
        return {attrs["id"] for _, attrs in self.elements if attrs.get("id")}

    def described_by(self) -> list[str]:
        return [
            ref
            for _, attrs in self.elements
            for ref in (attrs.get("aria-describedby") or "").split()
        ]

    def field(self, name: str) -> dict:
        [attrs] = [a for tag, a in self.elements if tag == "input" and a.get("name") == name]
        return attrs

    def with_role(self, role: str) -> list[tuple[str, dict]]:
        return [(tag, attrs) for tag, attrs in self.elements if attrs.get("role") == role]


def page(response) -> Page:
    return Page(response.content.decode())


def set_password_page(client, user) -> str:
    link = issue_link(user)
    return client.get(f"/accounts/reset/{link['uid']}/{link['token']}/")["Location"]


def signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def pages_with_errors(alice) -> dict[str, object]:
    """Each form page after a post it refuses."""
    browser = Client()
    pages = {
        "login": browser.post("/accounts/login/", {"username": "alice", "password": "wrong"}),
        "login, empty": browser.post("/accounts/login/", {"username": "", "password": ""}),
        "reset request": browser.post("/accounts/password-reset/", {"email": "not an address"}),
        "code": browser.post(
            "/accounts/password-reset/code/", {"email": "alice@example.com", "code": "1234"}
        ),
    }
    set_password = set_password_page(browser, alice)
    pages["set password"] = browser.post(
        set_password, {"new_password1": SHORT, "new_password2": "other"}
    )
    account = signed_in(alice)
    pages["change"] = account.post(
        "/accounts/password-change/",
        {"old_password": "wrong", "new_password1": SHORT, "new_password2": SHORT},
    )
    pages["email change"] = account.post(
        "/accounts/email-change/", {"password": "wrong", "new_email": "nope"}
    )
    return pages


def test_the_login_page_takes_a_username_or_an_address(alice):
    form = Client().get("/accounts/login/")
    assert b">Username or email</label>" in form.content
    assert page(form).field("username")["autocomplete"] == "username"
    for identifier in ("alice", "ALICE@example.com"):
        browser = Client()
        response = browser.post("/accounts/login/", {"username": identifier, "password": PASSWORD})
        assert response.status_code == 302, identifier
        assert response["Location"] == "/accounts/password-change/"
        assert browser.session["_auth_user_id"] == str(alice.pk)


def test_an_address_longer_than_a_username_may_be_typed(alice):
    assert page(Client().get("/accounts/login/")).field("username")["maxlength"] == "254"


def test_a_failed_login_by_address_counts_once_toward_the_accounts_lockout(alice, settings):
    set_rates(settings, login_account="2/hour")
    browser = Client()
    browser.post("/accounts/login/", {"username": "alice@example.com", "password": "wrong"})
    # One failure of two allowed: the right password still works.
    response = browser.post(
        "/accounts/login/", {"username": "alice@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302


def test_an_error_of_no_single_field_shows_in_a_banner(pages_with_errors):
    login = pages_with_errors["login"]
    html = login.content.decode()
    [banner] = re.findall(r'<div class="banner" role="alert">(.*?)</div>', html, re.S)
    assert "Please enter a correct username or email and password" in banner
    # Not on a field: neither field is marked invalid.
    assert "aria-invalid" not in html


def test_invalid_fields_are_marked_and_described_by_their_errors(pages_with_errors):
    for name, response in pages_with_errors.items():
        parsed = page(response)
        invalid = [a for _, a in parsed.elements if a.get("aria-invalid") == "true"]
        if name in ("login", "code"):
            continue  # errors of no single field: a banner, see above
        assert invalid, name
        for attrs in invalid:
            assert f"{attrs['id']}_error" in attrs["aria-describedby"].split(), name


def test_every_aria_describedby_names_an_element_of_the_page(pages_with_errors, alice):
    pages = {
        **pages_with_errors,
        "set password, new": Client().get(set_password_page(Client(), alice)),
        "change, new": signed_in(alice).get("/accounts/password-change/"),
    }
    for name, response in pages.items():
        parsed = page(response)
        described_by = parsed.described_by()
        missing = set(described_by) - parsed.ids()
        assert missing == set(), name
    assert "id_new_password1_helptext" in page(pages["change, new"]).described_by()


def test_alerts_sit_on_wrappers_not_on_lists(pages_with_errors):
    for name, response in pages_with_errors.items():
        alerts = page(response).with_role("alert")
        assert alerts, name
        assert {tag for tag, _ in alerts} == {"div"}, name


def test_a_password_that_breaks_a_rule_is_reported_on_the_field_it_was_typed_in(alice):
    browser = Client()
    refused = browser.post(
        set_password_page(browser, alice), {"new_password1": SHORT, "new_password2": SHORT}
    )
    html = refused.content.decode()
    [error] = re.findall(r'<div class="field-errors" id="(\w+)_error"', html)
    assert error == "id_new_password1"
    assert "This password is too short" in html
    assert page(refused).field("new_password1")["aria-invalid"] == "true"
    assert "aria-invalid" not in page(refused).field("new_password2")

    changed = signed_in(alice).post(
        "/accounts/password-change/",
        {"old_password": PASSWORD, "new_password1": SHORT, "new_password2": SHORT},
    )
    assert re.findall(r'id="(\w+)_error"', changed.content.decode()) == ["id_new_password1"]


def test_a_mismatch_is_reported_on_the_confirmation(alice):
    browser = Client()
    refused = browser.post(
        set_password_page(browser, alice),
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "x"},
    )
    assert re.findall(r'id="(\w+)_error"', refused.content.decode()) == ["id_new_password2"]


def test_the_rule_help_says_the_rules_the_validators_enforce(alice, settings):
    form = signed_in(alice).get("/accounts/password-change/").content.decode()
    assert (
        '<div class="helptext" id="id_new_password1_helptext">'
        "At least 12 characters; not a common password</div>"
    ) in form

    settings.AUTH_PASSWORD_VALIDATORS = [
        {
            "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
            "OPTIONS": {"min_length": 16},
        },
        {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    ]
    browser = Client()
    form = browser.get(set_password_page(browser, alice)).content.decode()
    assert "At least 16 characters; not a common password" in form


def test_the_set_password_and_change_forms_name_the_account_for_password_managers(alice):
    browser = Client()
    forms = {
        "set password": browser.get(set_password_page(browser, alice)),
        "change": signed_in(alice).get("/accounts/password-change/"),
    }
    for name, response in forms.items():
        [username] = [
            attrs
            for tag, attrs in page(response).elements
            if tag == "input" and attrs.get("autocomplete") == "username"
        ]
        assert username["value"] == "alice", name
        assert "hidden" in username, name
        # Inside the form whose new password it names.
        html = response.content.decode()
        form = html[html.index("<form") : html.index("</form>")]
        assert 'autocomplete="username"' in form, name
        assert 'autocomplete="new-password"' in form, name


def test_a_throttled_login_shows_the_form_again_with_what_was_typed(alice, settings):
    set_rates(settings, login_ip="1/min")
    Client().post("/accounts/login/", {"username": "alice", "password": "wrong"})
    refused = Client().post(
        "/accounts/login/", {"username": "alice@example.com", "password": PASSWORD}
    )
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    html = refused.content.decode()
    assert re.search(r'<div class="banner" role="alert"><p>.*Please wait \d+ seconds', html)
    assert page(refused).field("username")["value"] == "alice@example.com"
    assert "value" not in page(refused).field("password")
    assert PASSWORD not in html
    assert "aria-invalid" not in html  # nothing was checked


def test_a_throttled_code_page_keeps_the_address_and_code_and_spends_no_try(alice, settings):
    set_rates(settings, code_ip="1/min")
    typed = {"email": "alice@example.com", "code": "1234 5678"}
    Client().post("/accounts/password-reset/code/", typed)
    refused = Client().post("/accounts/password-reset/code/", typed)
    assert refused.status_code == 429
    assert "Retry-After" in refused
    assert page(refused).field("email")["value"] == "alice@example.com"
    assert page(refused).field("code")["value"] == "1234 5678"
    assert "This code is wrong" not in refused.content.decode()


def test_a_throttled_new_password_is_not_echoed_and_the_link_still_works(alice, settings):
    browser = Client()
    set_password = set_password_page(browser, alice)
    set_rates(settings, confirm_ip="1/min")
    browser.post(set_password, {"new_password1": SHORT, "new_password2": SHORT})
    refused = browser.post(
        set_password, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert refused.status_code == 429
    html = refused.content.decode()
    assert NEW_PASSWORD not in html
    assert "Please wait" in html
    assert page(refused).field("new_password1")  # the form, again
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_a_throttled_lock_shows_the_lock_page_again_and_locks_nothing(alice, settings, fake_redis):
    from tests.unit.test_not_me import (
        INTRUDERS_PASSWORD,
        csrf_post,
        intruder_changes_password,
        not_me_path,
        open_link,
    )

    intruder_changes_password(fake_redis)
    path, _, _ = not_me_path()
    owner = Client(enforce_csrf_checks=True)
    page_path, _ = open_link(owner, path)
    set_rates(settings, confirm_ip="0/min")
    refused = csrf_post(owner, page_path)
    assert refused.status_code == 429
    assert "Retry-After" in refused
    html = refused.content.decode()
    assert "Lock your account?" in html and "Please wait" in html
    assert 'role="alert"' in html
    alice.refresh_from_db()
    assert alice.check_password(INTRUDERS_PASSWORD)
