"""Reset by code in a real browser (Debian's chromium, driven by Playwright): ask for a reset,
choose "Enter the code instead", type the code the SMTP server received, set a password, log in
with it."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.integration.browser import requires_chromium, shot

pytestmark = requires_chromium

WRONG_CODE = re.compile(r"^This code is wrong, expired or already used")


def test_forgotten_password_by_code_in_a_browser(browser_page, live_stack, live_server, mailbox):
    page = browser_page
    user = get_user_model().objects.create_user(
        "gina", "gina@example.com", "an-old-long-passphrase"
    )

    page.goto(f"{live_server.url}/accounts/password-reset/")
    page.get_by_label("Email").fill("gina@example.com")
    page.get_by_role("button", name="Send me a reset link").click()
    page.wait_for_url(re.compile(r"/accounts/password-reset/done/$"))
    page.get_by_role("link", name="Enter the code instead").click()
    page.wait_for_url(re.compile(r"/accounts/password-reset/code/$"))
    expect(page.get_by_label("Email")).to_have_value("gina@example.com")
    shot(page, "code-1-enter-code")

    [(envelope, message)] = mailbox.wait_for(1, timeout=20)
    assert envelope.rcpt_tos == ["gina@example.com"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    [code] = re.findall(r"^\s*(\d{8})\s*$", text, re.MULTILINE)
    [link_token] = re.findall(r"/accounts/reset/[^/\s]+/([^/\s]+)/", text)

    wrong = f"{(int(code) + 1) % 10**8:08d}"
    page.get_by_label("Code").fill(wrong)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text(WRONG_CODE)).to_be_visible()
    assert re.search(r"/accounts/password-reset/code/$", page.url)
    expect(page.get_by_label("Email")).to_have_value("gina@example.com")
    shot(page, "code-2-wrong-code")

    page.get_by_label("Code").fill(f"{code[:4]} {code[4:]}")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/accounts/reset/[^/]+/set-password/$"))
    assert link_token not in page.url
    assert code not in page.url
    shot(page, "code-3-set-password")

    page.get_by_label("New password", exact=True).fill("a fresh and long passphrase")
    page.get_by_label("New password confirmation").fill("a fresh and long passphrase")
    page.get_by_role("button", name="Set my password").click()
    page.wait_for_url(re.compile(r"/accounts/reset/done/$"))

    page.get_by_role("link", name="Log in").click()
    page.wait_for_url(re.compile(r"/accounts/login/$"))
    page.get_by_label("Username").fill("gina")
    page.get_by_label("Password").fill("a fresh and long passphrase")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/accounts/password-change/$"))
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    shot(page, "code-4-logged-in")
    user.refresh_from_db()
    assert user.check_password("a fresh and long passphrase")

    # The "password changed" notice follows; waiting for it keeps it out of the next test.
    messages = mailbox.wait_for(2, timeout=20)
    assert [m["Subject"] for _, m in messages] == [
        "Account security: Reset your password",
        "Account security: Your password was changed",
    ]
