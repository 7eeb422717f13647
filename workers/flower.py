"""Entry point for ``celery -A workers.flower flower``: the shared app on kombu's own Redis
transports, and Flower's start without its four warnings.

Flower picks the code that reads queue lengths (its Broker page, ``/api/queues/length``) by the
scheme of the broker URL the app gives it: ``redis://``, ``rediss://``, ``sentinel://``. The
workers' transport (one redis-py client per channel, shared/messaging/redis_transport.py) is
named by its class, so with it kombu writes the URL as ``shared.messaging.redis_transport:
Transport://...``, a scheme Flower does not know: its Broker page would answer "'redis' broker
is not supported". Flower sends no task, so that client saves it nothing; kombu's own
transports speak the same protocol to the same Redis, and keep the URL's scheme.
"""

import logging

from shared.messaging.celery_app import app

app.conf.broker_transport = None


def _not_a_silent_inspection(record: logging.LogRecord) -> bool:
    """Drop "Inspect method <name> failed" said with no error: no worker answered. Flower asks
    every worker about itself as it starts (four questions), and under `make run` or compose
    it starts beside them, before any listens; it learns of each from its heartbeats anyway,
    and asks it again when its page is opened. Failures that carry an error still show."""
    return record.msg != "Inspect method %s failed"


logging.getLogger("flower.inspector").addFilter(_not_a_silent_inspection)

__all__ = ["app"]
