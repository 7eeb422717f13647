"""Users move in without a reset: ``manage.py import_users FILE`` takes their hashes as they are.

The operator observes the command's output and exit status, the accounts it leaves, and that
each moved user logs in with the password they had before.
"""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.core.management.base import CommandError

from api import settings as project_settings
from tests.api_client import Device

pytestmark = pytest.mark.django_db

User = get_user_model()
OLD_PASSWORD = "a-password-from-the-old-system"


@pytest.fixture
def real_hashers(settings, fake_redis):
    """The project's hashers (the suite's default is MD5 alone), and a Redis for logins."""
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS


def run(tmp_path, lines: list, *args: str) -> tuple[str, str]:
    """``import_users`` on a file of ``lines`` (dicts become JSON); its stdout and stderr."""
    path = tmp_path / "users.jsonl"
    path.write_text(
        "".join((json.dumps(line) if isinstance(line, dict) else line) + "\n" for line in lines)
    )
    out, err = io.StringIO(), io.StringIO()
    call_command("import_users", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def dumpdata_users() -> list[str]:
    out = io.StringIO()
    call_command("dumpdata", "auth.user", "--format", "jsonl", stdout=out)
    return out.getvalue().splitlines()


def test_moved_users_log_in_with_their_old_passwords_and_are_rehashed(tmp_path, real_hashers):
    lines = [
        {
            "email": f"{hasher}@example.com",
            "password_hash": make_password(OLD_PASSWORD, None, hasher),
        }
        for hasher in ("argon2", "bcrypt_sha256")
    ]
    out, _ = run(tmp_path, lines)
    assert "created 2, updated 0, unchanged 0" in out
    for address in ("argon2@example.com", "bcrypt_sha256@example.com"):
        assert Device().login(OLD_PASSWORD, email=address).status_code == 200
        assert User.objects.get(email=address).password.startswith("pbkdf2_sha256$")


def test_users_dumped_by_another_django_project_log_in_with_their_passwords(tmp_path, real_hashers):
    User.objects.create(
        username="dora", email="dora@example.com", first_name="Dora", last_name="Explorer",
        password=make_password(OLD_PASSWORD, None, "argon2"),
    )  # fmt: skip
    User.objects.create(
        username="ed", email="ed@example.com", is_active=False,
        password=make_password(OLD_PASSWORD, None, "bcrypt_sha256"),
    )  # fmt: skip
    dump = dumpdata_users()
    User.objects.all().delete()

    out, _ = run(tmp_path, dump)

    assert "created 2" in out
    dora = User.objects.get(email="dora@example.com")
    assert (dora.username, dora.first_name, dora.last_name) == ("dora", "Dora", "Explorer")
    assert Device().login(OLD_PASSWORD, email="dora@example.com").status_code == 200
    assert not User.objects.get(username="ed").is_active


def test_an_import_grants_no_admin_rights(tmp_path):
    User.objects.create_superuser("root", "root@example.com", OLD_PASSWORD)
    dump = dumpdata_users()
    assert '"is_superuser": true' in dump[0]
    User.objects.all().delete()
    flat = {"email": "staff@example.com", "is_staff": True, "is_superuser": True}

    run(tmp_path, [*dump, flat])

    assert User.objects.count() == 2
    assert not User.objects.filter(is_staff=True).exists()
    assert not User.objects.filter(is_superuser=True).exists()


def test_a_file_with_bad_lines_imports_nothing_and_names_every_bad_line(tmp_path, settings):
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS
    lines = [
        {"email": "good@example.com"},
        '{"email": "broken@example.com"',
        '["a list"]',
        {"username": "nobody"},
        {"email": "not-an-address"},
        {"email": "hash@example.com", "password_hash": "argon2$not-a-real-hash"},
        {"email": "date@example.com", "date_joined": "yesterday"},
        {"email": "GOOD@example.com"},
        {"model": "auth.group", "fields": {"name": "staff"}},
    ]
    with pytest.raises(CommandError, match="8 bad line"):
        run(tmp_path, lines)

    assert not User.objects.exists()


def test_bad_lines_are_reported_by_number_and_reason_without_their_content(tmp_path, settings):
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS
    secret_hash = "argon2$argon2id$v=19$secret-tail-of-a-broken-hash"
    lines = [
        {"email": "good@example.com"},
        '{"email": "broken@example.com"',
        '["a list"]',
        {"username": "nobody"},
        {"email": "not-an-address"},
        {"email": "hash@example.com", "password_hash": secret_hash},
        {"email": "date@example.com", "date_joined": "yesterday"},
        {"email": "GOOD@example.com"},
        {"email": "plain@example.com", "password": OLD_PASSWORD},
    ]
    path = tmp_path / "users.jsonl"
    path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines))
    err = io.StringIO()

    with pytest.raises(CommandError):
        call_command("import_users", str(path), stdout=io.StringIO(), stderr=err)

    assert err.getvalue().splitlines() == [
        "line 2: malformed JSON",
        "line 3: not a JSON object",
        "line 4: no email address",
        "line 5: invalid email address",
        "line 6: password_hash: no configured hasher recognises it",
        "line 7: date_joined: not an ISO 8601 date and time",
        "line 8: address already on line 1",
        'line 9: a plain "password" is not taken; give "password_hash"',
    ]
    assert "@example.com" not in err.getvalue()
    assert secret_hash not in err.getvalue()


def test_skip_bad_imports_the_good_lines_and_reports_the_bad(tmp_path):
    lines = [{"email": "good@example.com"}, "not json", {"email": "also-good@example.com"}]

    out, err = run(tmp_path, lines, "--skip-bad")

    assert "created 2, updated 0, unchanged 0, skipped 1 bad line(s)" in out
    assert err.splitlines() == ["line 2: malformed JSON"]
    assert set(User.objects.values_list("email", flat=True)) == {
        "good@example.com",
        "also-good@example.com",
    }


def test_running_the_same_file_twice_changes_nothing_the_second_time(tmp_path):
    lines = [
        {"email": "ann@example.com", "password_hash": make_password(OLD_PASSWORD),
         "first_name": "Ann", "date_joined": "2021-03-04T05:06:07Z"},
        {"email": "bob@example.com"},
    ]  # fmt: skip
    run(tmp_path, lines)
    before = list(User.objects.order_by("pk").values())

    out, _ = run(tmp_path, lines)

    assert "created 0, updated 0, unchanged 2" in out
    assert list(User.objects.order_by("pk").values()) == before


def test_an_address_already_here_is_found_whatever_its_case_and_updated(tmp_path):
    User.objects.create(username="carol", email="Carol@Example.com", password="!")
    new_hash = make_password(OLD_PASSWORD)

    out, _ = run(tmp_path, [{"email": "carol@example.COM", "password_hash": new_hash,
                             "username": "someone-else", "last_name": "King"}])  # fmt: skip

    assert "created 0, updated 1, unchanged 0" in out
    carol = User.objects.get()
    assert (carol.username, carol.last_name, carol.password) == ("carol", "King", new_hash)


def test_a_user_who_has_logged_in_here_keeps_the_password_they_use_here(tmp_path):
    from django.utils import timezone

    here = make_password("the-password-chosen-here")
    User.objects.create(username="dan", email="dan@example.com", password=here,
                        last_login=timezone.now())  # fmt: skip

    out, _ = run(tmp_path, [{"email": "dan@example.com", "password_hash": make_password("old")}])

    assert "unchanged 1" in out
    assert User.objects.get().password == here


def test_an_unusable_password_in_a_dump_becomes_an_unusable_password_here(tmp_path):
    User.objects.create_user("eve", "eve@example.com", None)
    dump = dumpdata_users()
    User.objects.all().delete()

    run(tmp_path, dump)

    assert not User.objects.get().has_usable_password()


def test_a_line_without_a_hash_gives_an_unusable_password(tmp_path):
    run(tmp_path, [{"email": "fay@example.com"}])

    fay = User.objects.get()
    assert not fay.has_usable_password()
    assert fay.username == "fay@example.com"


def test_a_username_another_account_has_gets_a_suffix(tmp_path):
    User.objects.create(username="gus", email="gus@old.example.com")

    out, _ = run(tmp_path, [{"email": "gus@example.com", "username": "gus"},
                            {"email": "gus2@example.com", "username": "gus"}])  # fmt: skip

    assert "2 username(s) taken here were given a suffix" in out
    assert set(User.objects.values_list("username", flat=True)) == {"gus", "gus-2", "gus-3"}


def test_progress_is_shown_only_on_a_terminal(tmp_path):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    path = tmp_path / "users.jsonl"
    path.write_text(json.dumps({"email": "hal@example.com"}) + "\n")
    piped, terminal = io.StringIO(), Terminal()

    call_command("import_users", str(path), stdout=piped)
    call_command("import_users", str(path), stdout=terminal)

    assert "imported" not in piped.getvalue()
    assert "\r imported 1/1" in terminal.getvalue()


def test_a_dash_reads_standard_input(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"email": "ivy@example.com"}) + "\n"))
    out = io.StringIO()

    call_command("import_users", "-", stdout=out)

    assert "created 1" in out.getvalue()
    assert User.objects.filter(email="ivy@example.com").exists()


def test_an_address_two_accounts_here_share_is_a_bad_line_and_nothing_is_imported(tmp_path):
    User.objects.create(username="jo1", email="jo@example.com")
    User.objects.create(username="jo2", email="JO@example.com")
    lines = [{"email": "kim@example.com"}, {"email": "jo@example.com", "first_name": "Jo"}]
    err = io.StringIO()
    path = tmp_path / "users.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))

    with pytest.raises(CommandError, match="1 bad line"):
        call_command("import_users", str(path), stdout=io.StringIO(), stderr=err)

    assert err.getvalue().splitlines() == ["line 2: address used by more than one account here"]
    assert not User.objects.filter(email="kim@example.com").exists()
    assert not User.objects.filter(first_name="Jo").exists()
