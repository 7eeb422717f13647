"""Every HTML page works in a real browser under the Content-Security-Policy it is sent with:
the browser reports no violation on any of them, and each one carries the header."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from tests.integration.browser import requires_chromium, shot

pytestmark = requires_chromium

# Runs in every page before its own scripts; reports each violation the browser sees.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.reportCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}` +
    ` at ${e.documentURI} (${e.sourceFile || ""}:${e.lineNumber})`);
});
"""


@pytest.fixture
def csp_watch(browser_page):
    """The page, and what it saw: ``violations`` (the browser's event and its console
    messages) and ``documents`` (the URL, status and CSP header of each HTML response)."""
    page = browser_page
    seen = {"violations": [], "documents": []}
    page.context.expose_function("reportCspViolation", lambda text: seen["violations"].append(text))
    page.context.add_init_script(REPORT_VIOLATIONS)

    def on_console(message):
        if "Content Security Policy" in message.text:
            seen["violations"].append(message.text)

    def on_response(response):
        if response.request.resource_type == "document":
            csp = response.headers.get("content-security-policy")
            seen["documents"].append((response.url, response.status, csp))

    page.on("console", on_console)
    page.on("response", on_response)
    return page, seen


def test_every_html_page_runs_under_its_content_security_policy(
    csp_watch, live_stack, live_server, mailbox, settings, monkeypatch, tmp_path
):
    page, seen = csp_watch
    base = live_server.url
    users = get_user_model().objects
    user = users.create_user("erin", "erin@example.com", "an-old-long-passphrase")
    users.create_superuser("root", "root@example.com", "the-admins-long-passphrase")

    page.goto(f"{base}/accounts/login/")
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Email").fill("erin@example.com")
    page.get_by_role("button", name="Send me a reset link").click()
    page.wait_for_url(re.compile(r"/accounts/password-reset/done/$"))

    [(_, message)] = mailbox.wait_for(1, timeout=20)
    text = message.get_body(preferencelist=("plain",)).get_content()
    [link] = re.findall(r"https?://\S+/accounts/reset/\S+/", text)
    token = link.rstrip("/").rsplit("/", 1)[1]
    referers = []
    page.on("request", lambda request: referers.append(request.headers.get("referer") or ""))
    page.goto(link)
    page.wait_for_url(re.compile(r"/accounts/reset/[^/]+/set-password/$"))
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password confirmation").fill("short")
    page.get_by_role("button", name="Set my password").click()
    assert page.get_by_text("This password is too short").is_visible()
    page.get_by_label("New password", exact=True).fill("a fresh and long passphrase")
    page.get_by_label("New password confirmation").fill("a fresh and long passphrase")
    page.get_by_role("button", name="Set my password").click()
    page.wait_for_url(re.compile(r"/accounts/reset/done/$"))
    page.goto(link)  # a spent link
    assert page.get_by_role("heading", name="This link no longer works").is_visible()
    page.get_by_role("link", name="Send me a new link").click()  # leaving the dead link's page
    page.wait_for_url(re.compile(r"/accounts/password-reset/$"))
    # The forms posted (CSRF passed, the password changed) and nothing ever named the token.
    assert len(referers) > 5
    assert not [referer for referer in referers if token in referer]

    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill("erin")
    page.get_by_label("Password").fill("a fresh and long passphrase")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/accounts/password-change/$"))
    page.get_by_label("Old password").fill("a fresh and long passphrase")
    page.get_by_label("New password", exact=True).fill("another long passphrase")
    page.get_by_label("New password confirmation").fill("another long passphrase")
    page.get_by_role("button", name="Change my password").click()
    page.wait_for_url(re.compile(r"/accounts/password-change/done/$"))
    page.goto(f"{base}/accounts/password-change/")
    logout = page.get_by_role("button", name="Log out")
    # Styled as a link by site.css, not by a style attribute the policy would drop.
    assert logout.evaluate("b => getComputedStyle(b).textDecorationLine") == "underline"
    shot(page, "csp-password-change")
    logout.click()
    page.wait_for_url(re.compile(r"/accounts/login/$"))
    user.refresh_from_db()
    assert user.check_password("another long passphrase")

    page.goto(f"{base}/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("the-admins-long-passphrase")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/admin/")
    page.goto(f"{base}/admin/auth/user/")
    page.get_by_role("link", name="erin").click()
    page.wait_for_url(re.compile(r"/admin/auth/user/\d+/change/$"))
    assert page.get_by_role("heading", name="erin").is_visible()

    page.goto(f"{base}/api/docs/")
    # Swagger UI built the page from the schema: its script ran and could fetch.
    page.locator('.opblock-summary-path[data-path="/api/auth/password/reset/"]').wait_for()
    shot(page, "csp-swagger")

    # The mail pages exist only with DEBUG on (the live server runs with it off).
    settings.DEBUG = True
    monkeypatch.setattr("api.views.devmail.mail_dir", lambda: tmp_path)
    (tmp_path / "reset.eml").write_bytes(message.as_bytes())
    page.goto(f"{base}/dev/mail/")
    page.get_by_role("link", name=message["Subject"]).click()
    page.wait_for_url(f"{base}/dev/mail/reset/")

    # A round trip through the page: violation events queued before it have been reported.
    page.evaluate("() => new Promise((done) => setTimeout(done))")
    assert seen["violations"] == []
    uid, token = link.rstrip("/").split("/")[-2:]
    visited = {
        url.removeprefix(base).replace(uid, "<uid>").replace(token, "<token>")
        for url, _, _ in seen["documents"]
    }
    assert {*PAGES, f"/admin/auth/user/{user.pk}/change/"} <= visited
    without_policy = [(url, status) for url, status, csp in seen["documents"] if not csp]
    assert without_policy == []


PAGES = [
    "/accounts/login/",
    "/accounts/password-reset/",
    "/accounts/password-reset/done/",
    "/accounts/reset/<uid>/<token>/",
    "/accounts/reset/<uid>/set-password/",
    "/accounts/reset/done/",
    "/accounts/password-change/",
    "/accounts/password-change/done/",
    "/admin/login/",
    "/admin/",
    "/admin/auth/user/",
    "/api/docs/",
    "/dev/mail/",
    "/dev/mail/reset/",
]
