"""Entry point for ``celery -A workers.flower flower``: the shared app on kombu's own Redis
transports.

Flower finds the broker's queues by the scheme of the broker's URL (``redis://``, ``sentinel://``)
and reads their lengths with redis-py itself. Named by our own transport class
(shared/messaging/redis_transport.py), the broker would show as an unknown scheme, and Flower's
Broker page would answer 404. Flower sends no task, so the per-channel client that transport saves
the workers is worth nothing here; kombu's own transports speak the same protocol to the same Redis.
"""

from shared.messaging.celery_app import app

app.conf.broker_transport = None

__all__ = ["app"]
