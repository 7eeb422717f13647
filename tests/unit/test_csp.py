"""Every HTML page is sent with the Content-Security-Policy, and holds nothing that policy would
block (inline scripts, styles, style attributes, event handler attributes). The browser test
(tests/integration/test_browser_security.py) proves the pages also work under it."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client

from tests.conftest import set_rates
from tests.factories import NEW_PASSWORD, PASSWORD, issue_link, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]

ADMIN_PASSWORD = "the-admins-long-passphrase"  # noqa: S105


@pytest.fixture
def html_pages(settings, monkeypatch, tmp_path) -> dict[str, object]:
    """Each HTML page a person can reach, by path, as the server answers it."""
    user = make_user()
    admin = make_user("root", "root@example.com", ADMIN_PASSWORD, is_staff=True, is_superuser=True)
    link = issue_link(user)
    browser = Client()
    pages = {}

    def get(path, client=browser, name=None):
        pages[name or path] = client.get(path)
        return pages[name or path]

    for path in ("/accounts/login/", "/accounts/password-reset/", "/accounts/password-reset/done/"):
        get(path)
    link_path = f"/accounts/reset/{link['uid']}/{link['token']}/"
    set_password = get(link_path, name="reset link")["Location"]
    get(set_password)
    browser.post(set_password, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    get("/accounts/reset/done/")
    get(link_path, name="reset link, spent")
    browser.login(username="alice", password=NEW_PASSWORD)
    get("/accounts/password-change/")
    get("/accounts/password-change/done/")
    get("/no-such-page/")

    staff = Client()
    get("/admin/login/", staff)
    staff.login(username="root", password=ADMIN_PASSWORD)
    for path in ("/admin/", "/admin/auth/user/", f"/admin/auth/user/{admin.pk}/change/"):
        get(path, staff)
    get("/api/docs/")

    set_rates(settings, login_ip="1/min")
    for _ in range(2):
        pages["login, throttled"] = Client().post(
            "/accounts/login/", {"username": "alice", "password": PASSWORD}
        )

    settings.DEBUG = True  # the mail pages exist only then
    monkeypatch.setattr("api.views.devmail.mail_dir", lambda: tmp_path)
    (tmp_path / "m1.eml").write_bytes(b"To: a@example.com\r\nSubject: Hello\r\n\r\nhi\r\n")
    get("/dev/mail/")
    get("/dev/mail/m1/")
    return pages


def test_every_html_page_is_sent_with_the_content_security_policy(html_pages):
    expected = {"reset link": 302, "/no-such-page/": 404, "login, throttled": 429}
    statuses = {path: response.status_code for path, response in html_pages.items()}
    assert statuses == {path: expected.get(path, 200) for path in html_pages}
    missing = [path for path, response in html_pages.items() if not _policy(response)]
    assert missing == []
    for path, response in html_pages.items():
        policy = _policy(response)
        assert "frame-ancestors 'none'" in policy, path
        assert "unsafe-inline" not in policy, path


def test_no_html_page_holds_code_or_styles_the_policy_would_block(html_pages):
    blocked = {}
    for path, response in html_pages.items():
        if response["Content-Type"].startswith("text/html"):
            found = InlineCode.find(response.content.decode())
            if found:
                blocked[path] = found
    assert blocked == {}


def test_the_swagger_ui_loads_its_start_script_from_this_origin(client):
    page = client.get("/api/docs/").content.decode()
    [start] = [src for src in InlineCode.script_sources(page) if "script" in src.split("?")[-1]]
    script = client.get(start)
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


def _policy(response) -> str:
    return response.get("Content-Security-Policy", "")


class InlineCode(HTMLParser):
    """What a page holds inline that ``script-src 'self'`` and ``style-src 'self'`` block."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self.sources: list[str] = []
        self._in_script = False

    @classmethod
    def find(cls, html: str) -> list[str]:
        parser = cls()
        parser.feed(html)
        return parser.found

    @classmethod
    def script_sources(cls, html: str) -> list[str]:
        parser = cls()
        parser.feed(html)
        return parser.sources

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "style":
            self.found.append("<style> element")
        # Scripts of a data type (Django's json_script) are not run, so not blocked.
        if tag == "script" and "src" not in attrs and _runs(attrs.get("type")):
            self._in_script = True
        if tag == "script" and "src" in attrs:
            self.sources.append(attrs["src"])
        for name, value in attrs.items():
            if name == "style" or name.startswith("on"):
                self.found.append(f"{name}= on <{tag}>")
            if name in ("href", "src", "action") and (value or "").startswith("javascript:"):
                self.found.append(f"javascript: URL on <{tag}>")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.found.append(f"inline <script>: {data.strip()[:60]}")


def _runs(script_type: str | None) -> bool:
    return script_type in (None, "", "text/javascript", "module", "application/javascript")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/auth/password/reset/", {"email": "someone@example.com"}),
        ("post", "/api/auth/login/", {}),
        ("get", "/api/auth/sessions/", None),
        ("get", "/api/auth/nowhere/", None),
    ],
)
def test_json_answers_carry_a_policy_that_allows_nothing(client, method, path, body):
    kwargs = {"data": body, "content_type": "application/json"} if body is not None else {}
    response = getattr(client, method)(path, **kwargs)
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
