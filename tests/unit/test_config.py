"""Configuration from the environment: every variable parsed strictly, with a working default."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from shared.infra.config import (
    ConfigError,
    parse_email_url,
    parse_redis_url,
    parse_reset_clients,
    parse_throttle_rates,
)
from tests.processes import PRODUCTION, django_run
from tests.processes import django_settings as _settings
from tests.processes import manage as _manage

ROOT = Path(__file__).resolve().parents[2]


def test_email_url_with_starttls_and_credentials():
    cfg = parse_email_url("smtp://user%40corp:p%3Ass@mail.example.com:587?tls=1&timeout=5")
    assert cfg["EMAIL_HOST"] == "mail.example.com"
    assert cfg["EMAIL_PORT"] == 587
    assert cfg["EMAIL_HOST_USER"] == "user@corp"
    assert cfg["EMAIL_HOST_PASSWORD"] == "p:ss"
    assert cfg["EMAIL_USE_TLS"] is True and cfg["EMAIL_USE_SSL"] is False
    assert cfg["EMAIL_TIMEOUT"] == 5.0


def test_smtps_means_implicit_tls_on_465():
    cfg = parse_email_url("smtps://mail.example.com")
    assert cfg["EMAIL_PORT"] == 465 and cfg["EMAIL_USE_SSL"] is True


@pytest.mark.parametrize("url", ["http://x", "smtp://h?tls=1&ssl=1", "smtp://h:notaport"])
def test_bad_email_urls_are_refused(url):
    with pytest.raises(ConfigError):
        parse_email_url(url)


def test_throttle_rates_override_named_scopes_and_keep_the_rest():
    rates = parse_throttle_rates("reset_ip=5/min, reset_email=off")
    assert rates["reset_ip"] == "5/min"
    assert rates["reset_email"] is None
    assert rates["confirm_ip"] == "30/min"


def test_throttle_rates_off_disables_every_scope():
    assert set(parse_throttle_rates("off").values()) == {None}


@pytest.mark.parametrize(
    "raw", ["bogus=1/min", "reset_ip=fast", "reset_ip", "reset_ip=10/hour/x", "reset_ip=5/m1n"]
)
def test_bad_throttle_rates_are_refused(raw):
    with pytest.raises(ConfigError):
        parse_throttle_rates(raw)


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = _manage("check", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_settings_pass_the_deploy_check_cleanly():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def _worker_db_options(**env) -> subprocess.CompletedProcess:
    return _settings(
        "{'options': settings.DATABASES['default'].get('OPTIONS', {}), "
        "'checks': settings.DATABASES['default']['CONN_HEALTH_CHECKS']}",
        **env,
    )


PG = "postgres://nobody@127.0.0.1:1/none"  # settings only: nothing connects


def test_worker_connections_are_pooled_server_bound_and_prepared():
    result = _worker_db_options(DATABASE_URL=PG, DB_POOL_SIZE="8")
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["options"]["pool"]["max_size"] == 8
    assert config["options"]["server_side_binding"] is True
    assert config["options"]["prepare_threshold"] == 5
    assert config["checks"] is False


def test_prepared_statements_can_be_turned_off_for_old_pgbouncers():
    result = _worker_db_options(DATABASE_URL=PG, DB_POOL_SIZE="8", DB_PREPARE_THRESHOLD="off")
    assert json.loads(result.stdout)["options"]["prepare_threshold"] is None


def test_a_bad_prepare_threshold_is_refused_at_startup():
    result = _worker_db_options(DATABASE_URL=PG, DB_POOL_SIZE="8", DB_PREPARE_THRESHOLD="often")
    assert result.returncode != 0
    assert "DB_PREPARE_THRESHOLD must be a number of runs or 'off'" in result.stderr


def test_the_api_keeps_plain_persistent_connections():
    result = _worker_db_options(DATABASE_URL=PG)
    options = json.loads(result.stdout)["options"]
    assert "pool" not in options
    assert "server_side_binding" not in options


def test_the_embedded_sqlite_database_lets_readers_on_and_writers_queue(tmp_path):
    """`make run`'s SQLite has many writers (web, workers, beat): WAL, and every transaction
    takes the write lock as it begins, so another writer waits for it instead of failing
    halfway with "database is locked"."""
    code = """
import sqlite3
from django.db import connection, transaction
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    mode = cursor.fetchone()[0]
with transaction.atomic():
    connection.cursor().execute("SELECT 1")  # a transaction that has only read so far
    other = sqlite3.connect(settings.DATABASES["default"]["NAME"], timeout=0.2)
    try:
        other.execute("BEGIN IMMEDIATE")
        second_writer = "got the write lock"
    except sqlite3.OperationalError as exc:
        second_writer = str(exc)
print(json.dumps([mode, second_writer]))
"""
    result = django_run(code, DATABASE_URL=None, VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["wal", "database is locked"]


# The Celery application, as an expression _settings can evaluate.
CELERY_APP = "__import__('shared.messaging.celery_app', fromlist='_').app"


def _celery_task_log_level(**env) -> str:
    result = _settings(
        "logging.getLevelName(logging.getLogger('celery.app.trace').getEffectiveLevel())", **env
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_celery_logs_one_line_per_task_only_when_asked():
    assert _celery_task_log_level() == "WARNING"
    assert _celery_task_log_level(CELERY_TASK_LOGS="1") == "INFO"
    assert _celery_task_log_level(LOG_LEVEL="DEBUG") == "DEBUG"


def test_empty_service_urls_mean_unset():
    result = _settings(
        "[settings.DATABASES['default']['ENGINE'], settings.REDIS_URL, settings.EMAIL_HOST]",
        DATABASE_URL="", REDIS_URL=" ", EMAIL_URL="",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    engine, redis_url, email_host = json.loads(result.stdout)
    assert engine == "django.db.backends.sqlite3"
    assert redis_url.startswith("redis://127.0.0.1:")
    assert email_host == "127.0.0.1"


def test_reset_clients_name_link_templates():
    clients = parse_reset_clients(
        "web=https://app.example.com/reset/{uid}/{token}, "
        "ios=https://example.com/.well-known/r/{uid}/{token},"
        "kiosk=https://kiosk.example.com/r?u={uid}&t={token}"
    )
    assert clients == {
        "web": "https://app.example.com/reset/{uid}/{token}",
        "ios": "https://example.com/.well-known/r/{uid}/{token}",
        "kiosk": "https://kiosk.example.com/r?u={uid}&t={token}",
    }
    assert parse_reset_clients("") == {}


@pytest.mark.parametrize(
    "raw",
    [
        "web",  # no template
        "web=https://app.example.com/reset/{uid}",  # no token
        "web=https://app.example.com/reset/{token}",  # no uid
        "web=https://app.example.com/{uid}/{token}/{next}",  # an unknown placeholder
        "web=https://app.example.com/{uid}/{token}/{",  # a stray brace
        "web=app.example.com/{uid}/{token}",  # no scheme
        "we b=https://app.example.com/{uid}/{token}",  # a bad name
        "web=https://a.example.com/{uid}/{token},web=https://b.example.com/{uid}/{token}",
    ],
)
def test_bad_reset_clients_are_refused(raw):
    with pytest.raises(ConfigError, match="RESET_CLIENTS"):
        parse_reset_clients(raw)


@pytest.mark.parametrize("raw", ["5", "13", "eight"])
def test_a_bad_reset_code_length_stops_the_service_at_start(raw):
    result = _settings("settings.RESET_CODE_LENGTH", RESET_CODE_LENGTH=raw)
    assert result.returncode != 0
    assert "RESET_CODE_LENGTH" in result.stderr


def test_redis_url_may_name_sentinels_and_the_master():
    target = parse_redis_url(
        "sentinel://:s%3Acret@10.0.0.1:26379;sentinel://10.0.0.2/2?master=main"
    )
    assert target.is_sentinel
    assert target.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26379))
    assert (target.master, target.db, target.password) == ("main", 2, "s:cret")
    assert target.broker_url == (
        "sentinel://:s%3Acret@10.0.0.1:26379/2;sentinel://:s%3Acret@10.0.0.2:26379/2"
    )
    assert not parse_redis_url("redis://127.0.0.1:6379/0").is_sentinel


@pytest.mark.parametrize(
    "url",
    [
        "sentinel://10.0.0.1:26379",  # no master
        "sentinel://10.0.0.1:26379;redis://10.0.0.2:6379?master=main",
        "sentinel://10.0.0.1:port?master=main",
        "sentinel://10.0.0.1:26379/zero?master=main",
    ],
)
def test_bad_sentinel_urls_are_refused(url):
    with pytest.raises(ConfigError, match="REDIS_URL"):
        parse_redis_url(url)


def test_workers_and_flower_get_the_sentinel_transport_and_the_master_name():
    url = "sentinel://127.0.0.1:26379;sentinel://127.0.0.1:26380?master=main"
    result = _settings(
        f"[{CELERY_APP}.conf.broker_url, {CELERY_APP}.conf.broker_transport, "
        f"{CELERY_APP}.conf.broker_transport_options['master_name']]",
        REDIS_URL=url,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        "sentinel://127.0.0.1:26379/0;sentinel://127.0.0.1:26380/0",
        "shared.messaging.redis_transport:SentinelTransport",
        "main",
    ]


def test_environment_variables_are_read_in_one_place():
    """Configuration comes from api/settings.py, through shared/infra/config.py's helpers;
    gunicorn's own options from api/gunicorn_conf.py (read before Django starts), and the
    local stand-ins of `make run` (not shipped) read their ports. Nothing else reads the
    environment: everything else asks django.conf.settings."""
    import re

    root = Path(__file__).resolve().parents[2]
    reading = re.compile(
        r"os\.environ\.get\(|os\.environ\[|getenv\(|env_(str|int|float|bool|list|url|choice)\("
    )
    readers = sorted(
        str(path.relative_to(root)) for package in ("api", "shared", "workers")
        for path in (root / package).rglob("*.py")
        if "devservices" not in path.parts and reading.search(path.read_text())
    )  # fmt: skip
    assert readers == ["api/gunicorn_conf.py", "api/settings.py", "shared/infra/config.py"]


def test_local_state_lives_in_the_repository_var_folder_by_default():
    """With no VAR_DIR, SQLite, the DEBUG keys and the mail sink's files go to var/ at the top of
    the checkout, where .gitignore and the README put them (not beside the module that says so:
    shared/infra/var/ once, after a move)."""
    from shared.infra import config

    root = Path(__file__).resolve().parents[2]
    assert root == config.BASE_DIR
    assert (config.BASE_DIR / "manage.py").is_file()
