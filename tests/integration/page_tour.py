"""A walk through every HTML page a person can meet, in a real browser, with and without the
errors its form can show: the accessibility audit (test_browser_accessibility.py) checks each
page it stops at, and docs/screenshots/take.py photographs each one.

The walk needs a running stack (web server, a worker for the email queue, an SMTP server whose
messages it reads) and one account, which it ends up locking ("this wasn't me").
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.devservices.mailsink import MailSinkHandler

# Every stop, in order: its name, and what it shows. The audit checks it visited each one.
STOPS = {
    "login": "the login page",
    "login-error": "a failed login (a banner)",
    "password-reset": "the reset request",
    "password-reset-error": "a malformed address (the field marked)",
    "password-reset-done": "check your email",
    "password-reset-code": "enter the code, the address filled in",
    "password-reset-code-error": "a wrong code (a banner)",
    "password-reset-confirm": "choose a new password (from the emailed link)",
    "password-reset-confirm-error": "a password that breaks a rule, and a mismatch",
    "password-reset-complete": "the password is set",
    "password-reset-confirm-dead-link": "the reset link again, spent",
    "password-change": "change the password (signed in)",
    "password-change-error": "a wrong old password and a short new one",
    "password-change-done": "the password is changed",
    "logged-out": "the login page after logging out",
    "email-change": "change the address",
    "email-change-error": "a wrong password and a malformed address",
    "email-change-done": "check the new address",
    "email-change-confirm": "confirm the new address (from the emailed link)",
    "email-change-complete": "the address is changed",
    "email-change-confirm-dead-link": "the confirmation link again, spent",
    "not-me-confirm": "lock the account? (from the password notice)",
    "not-me-done": "the account is locked",
    "not-me-dead-link": "the lock link again, spent",
    "throttled": "the code page after too many tries (429, what was typed kept)",
    "dev-mailbox": "the local mailbox (DEBUG only)",
    "dev-message": "one message, its HTML part in a sandboxed frame",
}

RESET_LINK = re.compile(r"https?://\S+/accounts/reset/\S+/")
NOT_ME_LINK = re.compile(r"https?://\S+/accounts/not-me/\S+/")
CONFIRM_LINK = re.compile(r"https?://\S+/accounts/email-change/confirm/\S+/")


@dataclass
class Tour:
    """``visit(name)`` is called at each stop of :data:`STOPS`, with ``page`` showing it."""

    page: object  # playwright.sync_api.Page
    base_url: str
    mailbox: MailSinkHandler
    visit: Callable[[str], None]
    username: str = "erin"
    email: str = "erin@example.com"
    password: str = "erins-long-old-passphrase"
    new_email: str = "erin@elsewhere.example.org"
    dev_mail: bool = True
    # Called before the mailbox pages, which exist only with DEBUG on.
    before_dev_mail: Callable[[], None] = lambda: None
    _read: set = field(default_factory=set)

    def mail(self, to: str, subject: str, timeout: float = 30) -> str:
        """The text of the first message not read yet to ``to`` whose subject ends with
        ``subject``, waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, (envelope, message) in enumerate(self.mailbox.messages):
                if (
                    index not in self._read
                    and to in envelope.rcpt_tos
                    and message["Subject"].endswith(subject)
                ):
                    self._read.add(index)
                    return message.get_body(preferencelist=("plain",)).get_content()
            time.sleep(0.1)
        raise AssertionError(f"no message {subject!r} to {to} in {timeout}s")

    def stop(self, name: str, url: str | re.Pattern | None = None) -> None:
        assert name in STOPS, name
        if url is not None:
            self.page.wait_for_url(url)
        self.page.wait_for_load_state()
        self.visit(name)

    def fill(self, **fields: str) -> None:
        for label, value in fields.items():
            self.page.get_by_label(label.replace("_", " "), exact=True).fill(value)

    def press(self, button: str) -> None:
        self.page.get_by_role("button", name=button, exact=True).click()

    def log_in(self, password: str) -> None:
        self.fill(Username_or_email=self.username, Password=password)
        self.press("Log in")

    def walk(self) -> None:
        page, base = self.page, self.base_url
        new_password, newer_password = "a fresh and long passphrase", "another long passphrase"

        page.goto(f"{base}/accounts/login/")
        self.stop("login")
        self.log_in("not the password")
        self.stop("login-error")

        page.get_by_role("link", name="Forgot password?").click()
        self.stop("password-reset", re.compile(r"/accounts/password-reset/$"))
        self.fill(Email="not an address")
        self.press("Send me a reset link")
        self.stop("password-reset-error")
        self.fill(Email=self.email)
        self.press("Send me a reset link")
        self.stop("password-reset-done", re.compile(r"/password-reset/done/$"))
        [link] = RESET_LINK.findall(self.mail(self.email, "Reset your password"))

        page.get_by_role("link", name="Enter the code instead").click()
        self.stop("password-reset-code", re.compile(r"/password-reset/code/$"))
        self.fill(Code="0000 0000")
        self.press("Continue")
        self.stop("password-reset-code-error")

        page.goto(link)
        self.stop("password-reset-confirm", re.compile(r"/set-password/$"))
        self.fill(New_password="short", New_password_confirmation="shirt")
        self.press("Set my password")
        self.stop("password-reset-confirm-error")
        self.fill(New_password=new_password, New_password_confirmation=new_password)
        self.press("Set my password")
        self.stop("password-reset-complete", re.compile(r"/accounts/reset/done/$"))
        self.mail(self.email, "Your password was changed")
        page.goto(link)
        self.stop("password-reset-confirm-dead-link")

        page.goto(f"{base}/accounts/login/")
        self.log_in(new_password)
        self.stop("password-change", re.compile(r"/accounts/password-change/$"))
        self.fill(Old_password="not the password", New_password="short")
        self.fill(New_password_confirmation="short")
        self.press("Change my password")
        self.stop("password-change-error")
        self.fill(Old_password=new_password, New_password=newer_password)
        self.fill(New_password_confirmation=newer_password)
        self.press("Change my password")
        self.stop("password-change-done", re.compile(r"/password-change/done/$"))
        [not_me] = NOT_ME_LINK.findall(self.mail(self.email, "Your password was changed"))
        self.press("Log out")
        self.stop("logged-out", re.compile(r"/accounts/login/$"))

        self.log_in(newer_password)
        page.wait_for_url(re.compile(r"/accounts/password-change/$"))
        page.get_by_role("link", name="Change my email address").click()
        self.stop("email-change", re.compile(r"/accounts/email-change/$"))
        self.fill(Current_password="not the password", New_email_address="nope")
        self.press("Send the confirmation link")
        self.stop("email-change-error")
        self.fill(Current_password=newer_password, New_email_address=self.new_email)
        self.press("Send the confirmation link")
        self.stop("email-change-done", re.compile(r"/email-change/done/$"))
        mail = self.mail(self.new_email, "Confirm your new email address")
        [confirm] = CONFIRM_LINK.findall(mail)
        page.goto(confirm)
        self.stop("email-change-confirm", re.compile(r"/confirm/$"))
        self.press("Use this address")
        self.stop("email-change-complete")
        self.mail(self.email, "The email address of your account was changed")
        page.goto(confirm)
        self.stop("email-change-confirm-dead-link")

        page.goto(not_me)
        self.stop("not-me-confirm", re.compile(r"/accounts/not-me/[^/]+/confirm/$"))
        self.press("Lock my account")
        self.stop("not-me-done")
        self.mail(self.email, "Your account is locked: choose a new password")
        page.goto(not_me)
        self.stop("not-me-dead-link")

        self.throttle_the_code_page()
        self.stop("throttled")

        if self.dev_mail:
            self.before_dev_mail()
            page.goto(f"{base}/dev/mail/")
            self.stop("dev-mailbox")
            page.get_by_role("link", name=re.compile("Your password was changed$")).first.click()
            self.stop("dev-message", re.compile(r"/dev/mail/[\w-]+/$"))
            page.frame_locator("iframe").get_by_role("heading").first.wait_for()

    def throttle_the_code_page(self, tries: int = 100) -> None:
        """Post the code form until the per-IP limit answers 429 (``code_ip``, 30 a minute by
        default): the page shows the form again, with what was typed."""
        page = self.page
        page.goto(f"{self.base_url}/accounts/password-reset/code/")
        for _ in range(tries):
            self.fill(Email=self.email, Code="1234 5678")
            with page.expect_navigation() as navigation:
                self.press("Continue")
            if navigation.value.status == 429:
                return
        raise AssertionError(f"the code page was not throttled after {tries} tries")
