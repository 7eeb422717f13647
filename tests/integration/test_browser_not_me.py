""" "This wasn't me" in a real browser (Debian's chromium, driven by Playwright): an intruder
changes the password, or the address, of an account; the owner opens the link in the notice the
SMTP server received, locks the account, and takes it back with the reset link the lock mails."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.integration.browser import requires_chromium, shot

pytestmark = requires_chromium

LOCKED_SUBJECT = "Account security: Your account is locked: choose a new password"
WRONG_LOGIN = re.compile(r"^Please enter a correct username or email and password")


@pytest.fixture
def second_page(browser_page):
    """A page in a second context of the same browser: another person, with cookies of their
    own."""
    context = browser_page.context.browser.new_context(viewport={"width": 390, "height": 844})
    yield context.new_page()
    context.close()


def watch_requests(*pages) -> list:
    """Every request the pages' contexts make from now on."""
    seen = []
    for page in pages:
        page.context.on("request", lambda request: seen.append(request))
    return seen


def log_in(page, base_url, username, password):
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def token_of(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[1]


def test_the_owner_locks_out_an_intruder_who_changed_the_password(
    browser_page, second_page, live_stack, live_server, mailbox
):
    base = live_server.url
    owner_page, intruder_page = browser_page, second_page
    owner = get_user_model().objects.create_user(
        "olive", "olive@example.com", "olives-old-passphrase"
    )
    seen = watch_requests(owner_page, intruder_page)

    log_in(owner_page, base, "olive", "olives-old-passphrase")
    owner_page.wait_for_url(re.compile(r"/accounts/password-change/$"))
    # The intruder knows the password and makes it theirs.
    log_in(intruder_page, base, "olive", "olives-old-passphrase")
    intruder_page.wait_for_url(re.compile(r"/accounts/password-change/$"))
    intruder_page.get_by_label("Old password").fill("olives-old-passphrase")
    intruder_page.get_by_label("New password", exact=True).fill("the intruders passphrase")
    intruder_page.get_by_label("New password confirmation").fill("the intruders passphrase")
    intruder_page.get_by_role("button", name="Change my password").click()
    intruder_page.wait_for_url(re.compile(r"/accounts/password-change/done/$"))
    shot(intruder_page, "not-me-1-intruder-changed-the-password")

    [(envelope, notice)] = mailbox.wait_for(1, timeout=20)
    assert envelope.rcpt_tos == ["olive@example.com"]
    assert notice["Subject"] == "Account security: Your password was changed"
    [link] = re.findall(r"https?://\S+/accounts/not-me/\S+/", text_of(notice))
    assert link.startswith(base)
    token = token_of(link)

    owner_page.goto(link)
    owner_page.wait_for_url(re.compile(r"/accounts/not-me/[^/]+/confirm/$"))
    assert token not in owner_page.url  # the token left the address bar
    expect(owner_page.get_by_role("heading", name="Lock your account?")).to_be_visible()
    expect(owner_page.get_by_role("list")).to_contain_text("its password stops working")
    expect(owner_page.get_by_role("list")).to_contain_text("every device signed in to it")
    shot(owner_page, "not-me-2-lock-your-account")
    owner.refresh_from_db()
    assert owner.check_password("the intruders passphrase")  # opening the link changed nothing

    owner_page.get_by_role("button", name="Lock my account").click()
    expect(owner_page.get_by_role("heading", name="Your account is locked")).to_be_visible()
    shot(owner_page, "not-me-3-locked")
    owner.refresh_from_db()
    assert not owner.has_usable_password()

    # The intruder's browser is signed out on its next page, and their password is refused.
    intruder_page.goto(f"{base}/accounts/password-change/")
    intruder_page.wait_for_url(re.compile(r"/accounts/login/\?next="))
    log_in(intruder_page, base, "olive", "the intruders passphrase")
    expect(intruder_page.get_by_text(WRONG_LOGIN)).to_be_visible()
    assert re.search(r"/accounts/login/$", intruder_page.url)
    shot(intruder_page, "not-me-4-intruder-signed-out")

    # The link worked once; leaving its dead page names the token to nobody either.
    owner_page.goto(link)
    expect(owner_page.get_by_role("heading", name="This link no longer works")).to_be_visible()
    owner_page.get_by_role("link", name="Reset my password").click()
    owner_page.wait_for_url(re.compile(r"/accounts/password-reset/$"))

    messages = mailbox.wait_for(2, timeout=20)
    assert [m["Subject"] for _, m in messages] == [
        "Account security: Your password was changed",
        LOCKED_SUBJECT,
    ]
    envelope, locked = messages[1]
    assert envelope.rcpt_tos == ["olive@example.com"]
    [reset_link] = re.findall(r"https?://\S+/accounts/reset/\S+/", text_of(locked))
    owner_page.goto(reset_link)
    owner_page.wait_for_url(re.compile(r"/accounts/reset/[^/]+/set-password/$"))
    assert token_of(reset_link) not in owner_page.url
    owner_page.get_by_label("New password", exact=True).fill("olives-new-passphrase")
    owner_page.get_by_label("New password confirmation").fill("olives-new-passphrase")
    owner_page.get_by_role("button", name="Set my password").click()
    owner_page.wait_for_url(re.compile(r"/accounts/reset/done/$"))
    owner_page.get_by_role("link", name="Log in").click()
    owner_page.wait_for_url(re.compile(r"/accounts/login/$"))
    log_in(owner_page, base, "olive", "olives-new-passphrase")
    owner_page.wait_for_url(re.compile(r"/accounts/password-change/$"))
    expect(owner_page.get_by_role("heading", name="Change your password")).to_be_visible()
    shot(owner_page, "not-me-5-owner-back-in")
    owner.refresh_from_db()
    assert owner.check_password("olives-new-passphrase")

    # Only the request that opened the link named its token: no Referer ever did.
    assert [r.url for r in seen if token in r.url] == [link, link]
    referers = [r.headers.get("referer") or "" for r in seen]
    assert len(referers) > 10
    assert not [referer for referer in referers if token in referer]
    assert not [referer for referer in referers if token_of(reset_link) in referer]

    # The reset's own notice follows; waiting for it keeps it out of the next test.
    messages = mailbox.wait_for(3, timeout=20)
    assert messages[2][1]["Subject"] == "Account security: Your password was changed"


def test_an_address_change_is_confirmed_in_a_browser_and_undone_from_the_old_address(
    browser_page, live_stack, live_server, mailbox
):
    page = browser_page
    base = live_server.url
    User = get_user_model()  # noqa: N806
    user = User.objects.create_user("nora", "nora@example.com", "noras-long-passphrase")
    seen = watch_requests(page)

    log_in(page, base, "nora", "noras-long-passphrase")
    page.wait_for_url(re.compile(r"/accounts/password-change/$"))
    page.get_by_role("link", name="Change my email address").click()
    page.wait_for_url(re.compile(r"/accounts/email-change/$"))
    page.get_by_label("Current password").fill("noras-long-passphrase")
    page.get_by_label("New email address").fill("nora@elsewhere.example.org")
    shot(page, "email-change-1-form")
    page.get_by_role("button", name="Send the confirmation link").click()
    page.wait_for_url(re.compile(r"/accounts/email-change/done/$"))
    expect(page.get_by_role("heading", name="Check the new address")).to_be_visible()

    [(envelope, confirmation)] = mailbox.wait_for(1, timeout=20)
    assert envelope.rcpt_tos == ["nora@elsewhere.example.org"]
    assert confirmation["Subject"] == "Account security: Confirm your new email address"
    [confirm_link] = re.findall(
        r"https?://\S+/accounts/email-change/confirm/\S+/", text_of(confirmation)
    )
    assert User.objects.get(pk=user.pk).email == "nora@example.com"  # not before it is confirmed

    page.goto(confirm_link)
    page.wait_for_url(re.compile(r"/accounts/email-change/confirm/[^/]+/confirm/$"))
    assert token_of(confirm_link) not in page.url
    expect(page.get_by_role("heading", name="Confirm your new email address")).to_be_visible()
    expect(page.get_by_text("nora@elsewhere.example.org")).to_be_visible()
    shot(page, "email-change-2-confirm")
    page.get_by_role("button", name="Use this address").click()
    expect(page.get_by_role("heading", name="Your email address is changed")).to_be_visible()
    shot(page, "email-change-3-changed")
    assert User.objects.get(pk=user.pk).email == "nora@elsewhere.example.org"

    messages = mailbox.wait_for(2, timeout=20)
    envelope, notice = messages[1]
    assert envelope.rcpt_tos == ["nora@example.com"]
    assert notice["Subject"] == "Account security: The email address of your account was changed"
    [not_me_link] = re.findall(r"https?://\S+/accounts/not-me/\S+/", text_of(notice))

    # The browser that made the change is still signed in when the old address answers.
    page.goto(f"{base}/accounts/password-change/")
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    page.goto(not_me_link)
    page.wait_for_url(re.compile(r"/accounts/not-me/[^/]+/confirm/$"))
    assert token_of(not_me_link) not in page.url
    expect(page.get_by_role("heading", name="Lock your account?")).to_be_visible()
    expect(page.get_by_role("list")).to_contain_text("the account gets back the address")
    shot(page, "email-change-4-lock-your-account")
    page.get_by_role("button", name="Lock my account").click()
    expect(page.get_by_role("heading", name="Your account is locked")).to_be_visible()

    locked = User.objects.get(pk=user.pk)
    assert locked.email == "nora@example.com"
    assert not locked.has_usable_password()
    page.get_by_role("link", name="Go to the login page").click()
    page.wait_for_url(re.compile(r"/accounts/login/$"))
    page.goto(f"{base}/accounts/password-change/")  # this browser was signed out with the rest
    page.wait_for_url(re.compile(r"/accounts/login/\?next="))
    shot(page, "email-change-5-signed-out")

    # Both links were spent: the new address's confirmation cannot move the account again.
    page.goto(confirm_link)
    expect(page.get_by_role("heading", name="This link no longer works")).to_be_visible()
    page.goto(not_me_link)
    expect(page.get_by_role("heading", name="This link no longer works")).to_be_visible()
    assert User.objects.get(pk=user.pk).email == "nora@example.com"

    messages = mailbox.wait_for(3, timeout=20)
    envelope, lock_mail = messages[2]
    assert envelope.rcpt_tos == ["nora@example.com"]  # the address given back
    assert lock_mail["Subject"] == LOCKED_SUBJECT
    assert re.findall(r"https?://\S+/accounts/reset/\S+/", text_of(lock_mail))

    referers = [r.headers.get("referer") or "" for r in seen]
    assert len(referers) > 10
    for link in (confirm_link, not_me_link):
        assert not [referer for referer in referers if token_of(link) in referer]


def test_a_lock_from_the_password_notice_does_not_mail_the_reset_link_to_the_intruders_address(
    browser_page, second_page, live_stack, live_server, mailbox
):
    base = live_server.url
    owner_page, intruder_page = browser_page, second_page
    User = get_user_model()  # noqa: N806
    owner = User.objects.create_user("olive", "olive@example.com", "olives-old-passphrase")

    # The intruder changes the password, then moves the account to a mailbox of their own.
    log_in(intruder_page, base, "olive", "olives-old-passphrase")
    intruder_page.wait_for_url(re.compile(r"/accounts/password-change/$"))
    intruder_page.get_by_label("Old password").fill("olives-old-passphrase")
    intruder_page.get_by_label("New password", exact=True).fill("the intruders passphrase")
    intruder_page.get_by_label("New password confirmation").fill("the intruders passphrase")
    intruder_page.get_by_role("button", name="Change my password").click()
    intruder_page.wait_for_url(re.compile(r"/accounts/password-change/done/$"))
    intruder_page.goto(f"{base}/accounts/email-change/")
    intruder_page.get_by_label("Current password").fill("the intruders passphrase")
    intruder_page.get_by_label("New email address").fill("mallory@example.net")
    intruder_page.get_by_role("button", name="Send the confirmation link").click()
    intruder_page.wait_for_url(re.compile(r"/accounts/email-change/done/$"))
    mailbox.wait_for(2, timeout=20)
    [confirmation] = [m for e, m in mailbox.messages if e.rcpt_tos == ["mallory@example.net"]]
    intruder_page.goto(
        re.findall(r"https?://\S+/accounts/email-change/confirm/\S+/", text_of(confirmation))[0]
    )
    intruder_page.get_by_role("button", name="Use this address").click()
    expect(
        intruder_page.get_by_role("heading", name="Your email address is changed")
    ).to_be_visible()
    assert User.objects.get(pk=owner.pk).email == "mallory@example.net"

    # The owner's mailbox has both notices; they answer the first one.
    mailbox.wait_for(3, timeout=20)
    to_owner = {m["Subject"]: m for e, m in mailbox.messages if e.rcpt_tos == ["olive@example.com"]}
    assert set(to_owner) == {
        "Account security: Your password was changed",
        "Account security: The email address of your account was changed",
    }
    [link] = re.findall(
        r"https?://\S+/accounts/not-me/\S+/",
        text_of(to_owner["Account security: Your password was changed"]),
    )
    owner_page.goto(link)
    owner_page.wait_for_url(re.compile(r"/accounts/not-me/[^/]+/confirm/$"))
    # The page promises the owner the reset link: "a link to choose a new password is emailed
    # to you."
    expect(owner_page.get_by_role("list")).to_contain_text("is emailed to you")
    owner_page.get_by_role("button", name="Lock my account").click()
    expect(owner_page.get_by_role("heading", name="Your account is locked")).to_be_visible()
    shot(owner_page, "not-me-6-locked-from-the-password-notice")

    mailbox.wait_for(4, timeout=20)
    [(envelope, _)] = [(e, m) for e, m in mailbox.messages if m["Subject"] == LOCKED_SUBJECT]
    # Every notice's link keeps the address it was sent to, and a lock gives it back: before
    # that, the lock kept the intruder's address and mailed the fresh reset link there.
    assert envelope.rcpt_tos == ["olive@example.com"]
    assert User.objects.get(pk=owner.pk).email == "olive@example.com"
