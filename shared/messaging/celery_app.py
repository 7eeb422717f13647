"""The Celery application: broker, queues and delivery guarantees.

It lives in ``shared`` because both sides need it: the API to publish, the workers to consume.
Handlers are imported only by the worker (``workers/celery.py``).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from celery import Celery
from kombu import Exchange, Queue

from shared.infra.config import parse_redis_url
from shared.messaging.events import FOLLOW_UP_TASKS, QUEUES, SUBSCRIPTIONS

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")

# The default (nameless) exchange: a message goes straight to the queue its routing key names.
# On Redis this saves a lookup of the exchange's bindings (a round trip) on every publish.
EVENTS_EXCHANGE = Exchange("", type="direct")

app = Celery("resetpass")
app.config_from_object("django.conf:settings", namespace="CELERY")

app.conf.update(
    task_queues=[Queue(name, EVENTS_EXCHANGE, routing_key=name) for name in QUEUES],
    task_default_queue="security",
    task_default_exchange="",
    task_default_routing_key="security",
    task_routes={
        **{sub.task: {"queue": sub.queue} for subs in SUBSCRIPTIONS.values() for sub in subs},
        **{task: {"queue": queue} for task, queue in FOLLOW_UP_TASKS.items()},
    },
    # Only JSON crosses the broker: no pickle, so a forged message cannot run code.
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    # At-least-once: a message is acknowledged after its handler returns, a worker that dies
    # (SIGKILL, OOM) leaves it unacknowledged so that Redis hands it to another worker, and each
    # worker process reserves one message at a time so a crash strands no more than that.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=120,
    task_soft_time_limit=90,
    broker_connection_retry_on_startup=True,
    # broker_transport_options (the visibility timeout) and worker_send_task_events come from
    # Django's settings (CELERY_BROKER_TRANSPORT_OPTIONS, CELERY_WORKER_SEND_TASK_EVENTS).
    # No "task-sent" event: it would double the Redis publishes of every API request. Flower
    # tracks tasks from the moment a worker receives them.
    task_send_sent_event=False,
    timezone="UTC",
    # The outbox relay is not here: a task every 5 s would be 12 a minute in Flower and the
    # workers' logs, burying the real ones. It runs as a process of its own (Procfile `relay`).
    beat_schedule={
        "purge-processed-events": {
            "task": "maintenance.purge_processed_events",
            "schedule": 6 * 3600.0,
            "options": {"queue": "security", "expires": 600},
        },
        "purge-expired-tokens": {
            "task": "maintenance.purge_expired_tokens",
            "schedule": 3600.0,
            "options": {"queue": "security", "expires": 600},
        },
        "purge-reset-code-tries": {
            "task": "maintenance.purge_reset_code_tries",
            "schedule": 3600.0,
            "options": {"queue": "security", "expires": 600},
        },
        "purge-dead-letters": {
            "task": "maintenance.purge_dead_letters",
            "schedule": 24 * 3600.0,
            "options": {"queue": "security", "expires": 3600},
        },
    },
)


def broker_for(url: str) -> tuple[str, str | None, dict]:
    """Celery's broker URL, kombu transport and transport options for a Redis in any form
    REDIS_URL takes: kombu's Redis transport with one redis-py client per channel
    (shared/messaging/redis_transport.py), or its Sentinel variant, which asks the sentinels where
    the
    master is at every (re)connection, so workers and Flower follow a failover."""
    target = parse_redis_url(url)
    options = dict(app.conf.broker_transport_options or {})
    options.pop("master_name", None)
    options.pop("sentinel_kwargs", None)
    transport = None
    if target.is_sentinel:
        transport = "shared.messaging.redis_transport:SentinelTransport"
        options["master_name"] = target.master
        options["sentinel_kwargs"] = {"socket_connect_timeout": 2, "socket_timeout": 2}
    elif urlsplit(url).scheme in ("redis", "rediss"):
        transport = "shared.messaging.redis_transport:Transport"
    return target.broker_url, transport, options


def use_broker(url: str) -> None:
    """Point Celery at the Redis that ``url`` names (``broker_for``)."""
    broker_url, transport, options = broker_for(url)
    app.conf.broker_url = broker_url
    app.conf.broker_transport = transport
    app.conf.broker_transport_options = options


use_broker(app.conf.broker_url or "")
