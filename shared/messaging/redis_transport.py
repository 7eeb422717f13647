"""kombu's Redis transport, with one redis-py client per channel instead of one per operation.

kombu builds a new ``redis.Redis`` object for every acknowledgement, every reservation record
and every event it publishes (``Channel._create_client``), and building one costs about 100 µs
of CPU in redis-py 8 (it copies a table of some 200 response callbacks; redis-py issue #3624).
A worker does that five times per message. A ``redis.Redis`` object holds no connection of its
own (it borrows one from the channel's pool for each command) and redis-py documents it as safe
to share between threads, so each channel keeps one and hands it out again.

The client is rebuilt whenever the channel's pool changes (kombu replaces the pool after a
fork or a lost connection). Everything else is kombu's own code, for a single Redis
(``Transport``) and for Redis Sentinel (``SentinelTransport``, whose pool asks the sentinels
where the master is). Celery picks one with ``broker_transport`` (shared/messaging/celery_app.py).
"""

from __future__ import annotations

from kombu.transport import redis


class SharedClientMixin:
    _shared_client = None

    def _create_client(self, asynchronous=False):
        if asynchronous:
            # The event loop's own client (BRPOP, LISTEN): kombu caches it already.
            return super()._create_client(asynchronous=True)
        client = self._shared_client
        if client is None or client.connection_pool is not self.pool:
            client = self._shared_client = super()._create_client()
        return client


class Channel(SharedClientMixin, redis.Channel):
    pass


class Transport(redis.Transport):
    Channel = Channel


class SentinelChannel(SharedClientMixin, redis.SentinelChannel):
    pass


class SentinelTransport(redis.SentinelTransport):
    Channel = SentinelChannel
