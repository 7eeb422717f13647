"""gunicorn settings, from the environment (BIND_ADDRESS, PORT, WEB_CONCURRENCY, WEB_THREADS)."""

import gc
import multiprocessing
import os

# Loopback unless told otherwise: the image sets BIND_ADDRESS=0.0.0.0, where the container's
# network is the boundary.
bind = f"{os.environ.get('BIND_ADDRESS', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count())))
threads = int(os.environ.get("WEB_THREADS", 1))
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# No query strings in the access log: a reset URL's token must not be kept there.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
logger_class = "api.access_log.RedactingLogger"

# Garbage collection. Django and DRF tie every request into reference cycles (request and view,
# serializer and fields), so the cyclic collector runs every few requests, and its full
# collections walk all ~110,000 objects a worker holds (modules, URL patterns, templates):
# pauses of 15-80 ms in the middle of a request. Once a worker has served its first requests
# (imports done, caches filled), one collection and gc.freeze() move everything then alive
# out of the collector's sight for good; later collections walk only what came after.
# GC_FREEZE_AFTER=0 turns this off.
gc_freeze_after = int(os.environ.get("GC_FREEZE_AFTER", 1000))


def post_request(worker, req, environ, resp):
    worker.requests_served = getattr(worker, "requests_served", 0) + 1
    if worker.requests_served == gc_freeze_after:
        gc.collect()
        gc.freeze()
