"""The whole HTML flow in a real browser (Debian's chromium, driven by Playwright): ask for a
link, read the message at the SMTP server, open the link, set a password, log in with it."""

from __future__ import annotations

import re

import requests
from django.conf import settings
from django.contrib.auth import get_user_model

from tests.integration.browser import requires_chromium, shot

pytestmark = requires_chromium


def test_forgotten_password_flow_in_a_browser(browser_page, live_stack, live_server, mailbox):
    page = browser_page
    user = get_user_model().objects.create_user(
        "erin", "erin@example.com", "an-old-long-passphrase"
    )

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Email").fill("ERIN@example.com")
    shot(page, "1-request")
    page.get_by_role("button", name="Send me a reset link").click()
    page.wait_for_url(re.compile(r"/accounts/password-reset/done/$"))
    assert page.get_by_role("heading", name="Check your email").is_visible()

    [(envelope, message)] = mailbox.wait_for(1, timeout=20)
    assert envelope.rcpt_tos == ["erin@example.com"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    [link] = re.findall(r"https?://\S+/accounts/reset/\S+/", text)
    assert link.startswith(live_server.url)

    page.goto(link)
    page.wait_for_url(re.compile(r"/accounts/reset/[^/]+/set-password/$"))
    assert link.rsplit("/", 2)[-2] not in page.url  # the token left the address bar
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password confirmation").fill("short")
    page.get_by_role("button", name="Set my password").click()
    assert page.get_by_text("This password is too short").is_visible()
    shot(page, "2-refused")

    page.get_by_label("New password", exact=True).fill("a fresh and long passphrase")
    page.get_by_label("New password confirmation").fill("a fresh and long passphrase")
    page.get_by_role("button", name="Set my password").click()
    page.wait_for_url(re.compile(r"/accounts/reset/done/$"))
    shot(page, "3-done")

    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill("erin")
    page.get_by_label("Password").fill("a fresh and long passphrase")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/accounts/password-change/$"))
    assert page.get_by_role("heading", name="Change your password").is_visible()
    user.refresh_from_db()
    assert user.check_password("a fresh and long passphrase")


def _reset_links(base_url, mailbox, *addresses) -> dict[str, str]:
    """Ask for a reset of each address and return each one's emailed link."""
    with requests.Session() as http:
        http.trust_env = False  # no proxy between us and the loopback server
        for address in addresses:
            response = http.post(f"{base_url}/api/auth/password/reset/", json={"email": address})
            assert response.status_code == 202
    links = {}
    for envelope, message in mailbox.wait_for(len(addresses), timeout=20):
        text = message.get_body(preferencelist=("plain",)).get_content()
        [link] = re.findall(r"https?://\S+/accounts/reset/\S+/", text)
        [address] = envelope.rcpt_tos
        links[address] = link
    return links


def test_a_session_cookie_planted_in_the_browser_does_not_let_its_owner_set_the_password(
    browser_page, live_stack, live_server, mailbox
):
    page = browser_page
    users = get_user_model().objects
    victim = users.create_user("vic", "vic@example.com", "an-old-long-passphrase")
    users.create_user("mallory", "mallory@example.com", "mallorys-own-passphrase")
    links = _reset_links(live_server.url, mailbox, "vic@example.com", "mallory@example.com")

    attacker = requests.Session()
    attacker.trust_env = False
    # Opening a link of their own gives the attacker a session the server has stored.
    attacker.get(links["mallory@example.com"])
    planted = attacker.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": planted, "url": live_server.url}]
    )

    page.goto(links["vic@example.com"])
    page.wait_for_url(re.compile(r"/accounts/reset/[^/]+/set-password/$"))
    set_password_url = page.url

    form = attacker.get(set_password_url)
    assert "This link no longer works" in form.text
    attempt = attacker.post(
        set_password_url,
        {
            "csrfmiddlewaretoken": attacker.cookies["csrftoken"],
            "new_password1": "the attackers passphrase",
            "new_password2": "the attackers passphrase",
        },
        allow_redirects=False,
    )
    assert attempt.status_code == 200
    assert "This link no longer works" in attempt.text
    victim.refresh_from_db()
    assert victim.check_password("an-old-long-passphrase")

    page.get_by_label("New password", exact=True).fill("a fresh and long passphrase")
    page.get_by_label("New password confirmation").fill("a fresh and long passphrase")
    page.get_by_role("button", name="Set my password").click()
    page.wait_for_url(re.compile(r"/accounts/reset/done/$"))
    victim.refresh_from_db()
    assert victim.check_password("a fresh and long passphrase")
    attacker.close()
