"""The web server's access log: gunicorn's own lines, cheaper to write, tokens cut out."""

from __future__ import annotations

import datetime
import logging

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from api import gunicorn_conf
from api.access_log import RedactingLogger

TOKEN_PATH = "/accounts/reset/MQ/cn2a3b-0123456789abcdef0123456789abcdef/"


class Response:
    status = "202 Accepted"
    sent = 89
    headers = [("Content-Type", "application/json"), ("X-Frame-Options", "DENY")]


class Request:
    headers = [("HOST", "example.com"), ("USER-AGENT", 'curl/8 "quoted"')]


def environ(path: str = "/api/auth/password/reset/") -> dict:
    return {
        "REMOTE_ADDR": "203.0.113.9", "REQUEST_METHOD": "POST", "RAW_URI": path,
        "PATH_INFO": path, "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_USER_AGENT": 'curl/8 "quoted"', "HTTP_REFERER": "https://example.com" + path,
        "HTTP_HOST": "example.com",
    }  # fmt: skip


def lines(logger_class, access_log_format: str, env: dict, resp=Response) -> list[str]:
    """What ``logger_class`` writes for one request in ``access_log_format``."""
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", access_log_format)
    logger = logger_class(cfg)
    written: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: written.append(record.getMessage())
    logger.access_log.handlers = [handler]
    logger.access(resp, Request, env, datetime.timedelta(seconds=1, microseconds=2345))
    return written


FORMATS = [
    gunicorn_conf.access_log_format,
    '%(h)s %(l)s %(u)s "%(r)s" %(s)s %(b)s %(B)s "%(f)s" "%(a)s" %(T)s %(D)s %(M)s %(L)s %(q)s',
    "%(h)s %({user-agent}i)s %({X-Frame-Options}o)s %({http_host}e)s %(missing)s",
]


@pytest.mark.parametrize("access_log_format", FORMATS)
def test_lines_are_gunicorns_own(access_log_format):
    assert lines(RedactingLogger, access_log_format, environ()) == lines(
        Logger, access_log_format, environ()
    )


def test_an_empty_response_logs_zero_bytes_as_gunicorn_does():
    class Empty(Response):
        sent = 0

    assert lines(RedactingLogger, "%(b)s", environ(), Empty) == ["0"]
    assert lines(Logger, "%(b)s", environ(), Empty) == ["0"]


@pytest.mark.parametrize("access_log_format", FORMATS[:2])
def test_no_line_holds_a_reset_token(access_log_format):
    [line] = lines(RedactingLogger, access_log_format, environ(TOKEN_PATH))
    assert "cn2a3b" not in line
    assert "/accounts/reset/MQ/[token]/" in line
