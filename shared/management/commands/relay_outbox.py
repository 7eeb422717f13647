import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections

from shared.messaging.outbox import relay_outbox, settle_outbox

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Publish the events waiting in the outbox (Redis was down, or a process died), delete "
        "those every handler has finished with, and send again, to the handlers that have not, "
        "those sent more than OUTBOX_REDELIVER_AFTER seconds ago (Redis lost them). With "
        "--loop, the relay process of the Procfile: a pass every OUTBOX_RELAY_INTERVAL seconds, "
        "a log line only when a pass sent something, until SIGTERM or Ctrl-C."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--loop", action="store_true", help="Keep relaying until SIGTERM or Ctrl-C."
        )
        parser.add_argument(
            "--interval", type=float, default=None,
            help="Seconds between passes (default: OUTBOX_RELAY_INTERVAL, 5).",
        )  # fmt: skip

    def handle(self, *args, loop: bool, interval: float | None, **options):
        if not loop:
            sent = relay_outbox()
            settled = settle_outbox()
            self.stdout.write(
                f"relayed {sent} event(s); {settled.finished} finished by every handler and "
                f"removed; {settled.resent} sent again"
            )
            return
        stop = threading.Event()
        # A pass in hand is finished (its rows marked sent) before the process ends.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        relay_until(stop, settings.OUTBOX_RELAY_INTERVAL if interval is None else interval)


def relay_until(stop: threading.Event, every: float) -> None:
    """A pass every ``every`` seconds until ``stop`` is set."""
    log.info("relaying the outbox every %g s", every)
    while not stop.is_set():
        relay_once()
        stop.wait(every)


def relay_once() -> None:
    """One pass, which logs only what it did: an empty outbox, the usual case, says nothing.
    A pass that fails (the database is down) is logged, and the next one tries again."""
    close_old_connections()  # one that broke since the last pass is replaced
    try:
        sent = relay_outbox()
        settled = settle_outbox()
    except DatabaseError as exc:
        log.warning("outbox relay: the database is unavailable, trying again later: %s", exc)
        return
    except Exception:  # noqa: BLE001 - one failed pass must not end the relay
        log.exception("outbox relay: a pass failed, trying again later")
        return
    if sent:
        log.info("relayed %d event(s) from the outbox", sent)
    if settled.resent:
        log.warning("sent %d event(s) again: Redis had lost them", settled.resent)
