"""The whole HTML flow in a real browser (Debian's chromium, driven by Playwright): ask for a
link, read the message at the SMTP server, open the link, set a password, log in with it."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

# CI installs chromium (.ci/run) and must run this test; elsewhere it is skipped, saying why.
pytestmark = pytest.mark.skipif(
    not os.environ.get("CI") and not shutil.which(CHROMIUM),
    reason=f"browser test needs Debian's chromium at {CHROMIUM} (apt-get install chromium)",
)

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture
def browser_page(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # around it are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
        page = context.new_page()
        yield page
        context.close()
        browser.close()
        # While Playwright's loop runs, Django keeps the ORM's connections per task, not per
        # thread: close the ones this test opened, or they outlive the test database.
        connections.close_all()


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


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
