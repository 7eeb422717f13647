"""The browser's reset flow (server-rendered pages), as a person or a mail scanner sees it."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import queued_messages
from tests.factories import NEW_PASSWORD, PASSWORD, issue_link, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]


def link_path(link):
    return f"/accounts/reset/{link['uid']}/{link['token']}/"


def test_opening_the_link_redirects_at_once_to_a_url_without_the_token(client):
    link = issue_link(make_user())
    response = client.get(link_path(link))
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/reset/{link['uid']}/set-password/"
    assert link["token"] not in response["Location"]
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


def test_opening_the_link_many_times_does_not_spend_it(client, django_user_model):
    user = make_user()
    link = issue_link(user)
    for _ in range(3):  # a mail scanner, a preview, the person
        assert client.get(link_path(link)).status_code == 302
    assert django_user_model.objects.get(pk=user.pk).check_password(PASSWORD)
    form = client.get(f"/accounts/reset/{link['uid']}/set-password/")
    assert b'name="new_password1"' in form.content
    # No token in this URL: the site's policy (no Referer to other sites) is enough, and the
    # form posts with its real Origin.
    assert form["Referrer-Policy"] == "same-origin"


def test_setting_the_password_through_the_pages(client, django_user_model):
    user = make_user()
    link = issue_link(user)
    set_url = client.get(link_path(link))["Location"]
    done = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302
    assert done["Location"] == "/accounts/reset/done/"
    assert django_user_model.objects.get(pk=user.pk).check_password(NEW_PASSWORD)
    complete = client.get(done["Location"])
    assert b'href="/accounts/login/"' in complete.content
    # No auto-login after a reset.
    assert "_auth_user_id" not in client.session


def test_a_refused_password_on_the_page_says_why_and_keeps_the_link(client, django_user_model):
    user = make_user()
    link = issue_link(user)
    set_url = client.get(link_path(link))["Location"]
    refused = client.post(set_url, {"new_password1": "short", "new_password2": "short"})
    assert refused.status_code == 200
    assert b"too short" in refused.content
    accepted = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert accepted.status_code == 302


def test_a_used_link_shows_that_it_no_longer_works(client):
    link = issue_link(make_user())
    set_url = client.get(link_path(link))["Location"]
    client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    again = client.get(link_path(link))
    assert again.status_code == 200
    assert b"This link no longer works" in again.content
    assert again["Referrer-Policy"] == "no-referrer"  # its URL holds the token: no Referer
    assert b'name="new_password1"' not in again.content


def test_a_link_superseded_while_its_form_is_open_cannot_be_used(client, django_user_model):
    user = make_user()
    link = issue_link(user)
    set_url = client.get(link_path(link))["Location"]
    issue_link(user)  # a newer email went out
    response = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert b"This link no longer works" in response.content
    assert django_user_model.objects.get(pk=user.pk).check_password(PASSWORD)


def test_reset_request_page_and_done_page_are_not_cached(client):
    for url in (
        "/accounts/password-reset/",
        "/accounts/password-reset/done/",
        "/accounts/reset/done/",
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert response["Referrer-Policy"] == "same-origin"
        assert "no-store" in response["Cache-Control"]


def test_pages_are_usable_on_a_phone(client):
    page = client.get("/accounts/password-reset/").content
    assert b'name="viewport" content="width=device-width, initial-scale=1"' in page
    assert b'<label for="id_email">' in page
    assert b'autocomplete="email"' in page


def test_login_with_the_new_password_works_after_reset(client):
    user = make_user()
    link = issue_link(user)
    set_url = client.get(link_path(link))["Location"]
    client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    response = client.post(
        "/accounts/login/", {"username": user.username, "password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert get_user_model().objects.get(pk=user.pk).last_login is not None


def _csrf_post(origin_headers):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/password-reset/")
    token = page.context["csrf_token"]
    return client.post(
        "/accounts/password-reset/",
        {"email": "a@example.com", "csrfmiddlewaretoken": str(token)},
        **origin_headers,
    )


def test_a_form_posted_from_its_own_page_passes_csrf(fake_redis):
    # What a browser sends from a page under the site's same-origin referrer policy.
    response = _csrf_post(
        {"HTTP_ORIGIN": "http://testserver", "HTTP_SEC_FETCH_SITE": "same-origin"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password-reset/done/"
    [message] = queued_messages(fake_redis, "email")  # the reset was asked for
    assert message["args"]["payload"]["email"] == "a@example.com"


@pytest.mark.parametrize("site", ["cross-site", "same-site", "same-origin", None])
def test_a_null_origin_is_refused_whatever_else_the_request_claims(site, fake_redis):
    headers = {"HTTP_ORIGIN": "null"}
    if site:
        headers["HTTP_SEC_FETCH_SITE"] = site
    assert _csrf_post(headers).status_code == 403
    assert queued_messages(fake_redis, "email") == []  # no reset email for the forger


def test_a_form_posted_without_the_csrf_token_is_refused(fake_redis):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/accounts/password-reset/", {"email": "a@example.com"},
        HTTP_ORIGIN="http://testserver", HTTP_SEC_FETCH_SITE="same-origin",
    )  # fmt: skip
    assert response.status_code == 403
    assert queued_messages(fake_redis, "email") == []


def test_logging_out_from_the_page_ends_the_browser_session(client, alice):
    from tests.factories import PASSWORD

    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert client.get("/accounts/password-change/").status_code == 200
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get("/accounts/password-change/").status_code == 302


def test_deleting_a_session_needs_a_bearer_token(client):
    import uuid

    assert client.delete(f"/api/auth/sessions/{uuid.uuid4()}/").status_code == 401


def test_the_page_of_a_dead_link_is_the_same_whatever_is_wrong_with_it(client):
    """Opening a link with an unknown, garbage or deleted account's id shows exactly the
    page a forged token for a real account shows: the page tells no one which ids exist."""
    user = make_user()
    gone = make_user("gone", "gone@example.com")
    gone_link = issue_link(gone)
    gone.delete()
    real_uid = issue_link(user)["uid"]
    links = {
        "forged token, real account": {"uid": real_uid, "token": "cz1abc-0123456789abcdef01"},
        "garbage uid": {"uid": "not-base64", "token": "cz1abc-0123456789abcdef01"},
        "unknown id": {"uid": "OTk5OTk5", "token": "cz1abc-0123456789abcdef01"},
        "deleted account": gone_link,
    }

    pages = {name: client.get(link_path(link)) for name, link in links.items()}

    for name, page in pages.items():
        assert page.status_code == 200, name
        assert page.context["validlink"] is False, name
        assert "This link no longer works" in page.content.decode(), name
    assert len({page.content for page in pages.values()}) == 1
