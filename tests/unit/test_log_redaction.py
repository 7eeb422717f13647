"""No reset token in any log line, whichever logger or handler writes it, DEBUG on or off.

These run the real ``LOGGING`` configuration in processes of their own (and a real runserver),
so they fail if any handler, Django's own included, writes a line unredacted.
"""

from __future__ import annotations

import http.client
import io
import logging
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.infra import redaction
from tests.processes import PRODUCTION, django_run, settings_environment

ROOT = Path(__file__).resolve().parents[2]

MODES = {
    "debug": {"DEBUG": "1"},
    "production": PRODUCTION,
}
# Loggers that a request's path can reach: Django's (and their default handlers, which write
# to the console and mail ADMINS), runserver's, Celery's, gunicorn's, ours, and the root.
LOGGERS = ["", "django", "django.request", "django.server", "django.security.csrf", "celery",
           "celery.app.trace", "gunicorn.error", "gunicorn.access", "shared.messaging.publisher",
           "workers.handler_tasks", "py.warnings"]  # fmt: skip


@pytest.mark.spawns
@pytest.mark.parametrize("mode", MODES)
def test_no_logger_writes_a_reset_token(mode):
    token = f"c{secrets.token_hex(3)}-{secrets.token_hex(16)}"
    code = (
        f"for name in {LOGGERS!r}:\n"
        "    logger = logging.getLogger(name)\n"
        f"    logger.error('%s GET /accounts/reset/MQ/{token}/ HTTP/1.1', name or 'root')\n"
        f"    logger.warning('Not Found: /accounts/reset/MQ/{token}/')\n"
    )
    result = django_run(code, ADMINS="", **MODES[mode])
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert token not in output
    # Every logger's line did come out, with the token cut.
    for name in LOGGERS:
        assert f"{name or 'root'} GET /accounts/reset/MQ/[token]/ HTTP/1.1" in output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.spawns
@pytest.mark.parametrize("mode", MODES)
def test_runserver_logs_no_reset_token(mode, tmp_path):
    """Django's development server writes each request line through its own logger and
    handler (``django.server``), which Django's default logging leaves unfiltered."""
    port = _free_port()
    env = {**MODES[mode], "VAR_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload",
            "--skip-checks"]  # fmt: skip
    log = tmp_path / "runserver.log"
    with log.open("w") as out:
        server = subprocess.Popen(argv, cwd=ROOT, env=settings_environment(**env), stdout=out,
                                  stderr=subprocess.STDOUT)  # fmt: skip
        try:
            token = f"c{secrets.token_hex(3)}-{secrets.token_hex(16)}"
            paths = [f"/accounts/reset/MQ/{token}/", f"/accounts/reset/MQ/{token}/nothing/"]
            for path in paths:
                _get(port, path)
            _wait_for_lines(log, count=len(paths))
        finally:
            server.terminate()
            server.wait(timeout=10)
    text = log.read_text()
    assert token not in text
    assert text.count('"GET /accounts/reset/MQ/[token]/') == len(paths)


def _get(port: int, path: str, timeout: float = 30) -> None:
    """GET ``path``, whatever the answer (a redirect to HTTPS, an error page: all logged)."""
    deadline = time.monotonic() + timeout
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", path)
            connection.getresponse().read()
            return
        except ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        finally:
            connection.close()


def _wait_for_lines(log: Path, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while log.read_text().count('"GET /accounts/reset/') < count and time.monotonic() < deadline:
        time.sleep(0.05)


# The same rules in this process (what `make mutate` can see: it follows calls made here, not
# in the processes above).


@pytest.fixture
def bare_logging(monkeypatch):
    """Logging as a process has it before our configuration: the plain record factory. The
    configured one comes back afterwards."""
    configured = logging.getLogRecordFactory()
    monkeypatch.setattr(redaction, "_redacting_factory_installed", False)
    logging.setLogRecordFactory(logging.LogRecord)
    yield
    logging.setLogRecordFactory(configured)


def test_the_record_factory_is_installed_once_and_cuts_tokens_from_every_record(bare_logging):
    token = f"c{secrets.token_hex(3)}-{secrets.token_hex(16)}"
    redaction.install_record_factory()
    installed = logging.getLogRecordFactory()
    redaction.install_record_factory()  # a second configuration (Celery's) adds no layer
    assert logging.getLogRecordFactory() is installed
    record = logging.getLogger("django.server").makeRecord(
        "django.server", logging.INFO, __file__, 1, '"GET %s HTTP/1.1" 404',
        (f"/accounts/reset/MQ/{token}/",), None,
    )  # fmt: skip
    assert record.getMessage() == '"GET /accounts/reset/MQ/[token]/ HTTP/1.1" 404'


def test_the_real_logging_configuration_writes_no_token_through_its_handler(bare_logging, settings):
    token = f"c{secrets.token_hex(3)}-{secrets.token_hex(16)}"
    redaction.configure_logging(settings.LOGGING)  # as django.setup() does
    console = logging.getLogger().handlers[0]
    written = io.StringIO()
    before = console.setStream(written)
    try:
        logging.getLogger("django.server").warning('"GET /accounts/reset/MQ/%s/" 404', token)
    finally:
        console.setStream(before)
    assert '"GET /accounts/reset/MQ/[token]/" 404' in written.getvalue()
    assert token not in written.getvalue()


def test_an_address_is_logged_as_a_keyed_tag_one_per_address(settings):
    tag = redaction.hash_for_log(" Alice@Example.com ")
    assert tag == redaction.hash_for_log("alice@example.com")  # lines about one person match
    assert tag != redaction.hash_for_log("bob@example.com")
    assert "alice" not in tag.lower()
    settings.SECRET_KEY = "another-" + settings.SECRET_KEY
    assert redaction.hash_for_log("alice@example.com") != tag  # no list of addresses matches it
