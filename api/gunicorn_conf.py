"""gunicorn settings, from the environment (PORT, WEB_CONCURRENCY, WEB_THREADS)."""

import multiprocessing
import os

bind = f"{os.environ.get('BIND_ADDRESS', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count())))
threads = int(os.environ.get("WEB_THREADS", 1))
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# No query strings in the access log: a reset URL's token must not be kept there.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
logger_class = "api.gunicorn_logging.RedactingLogger"
