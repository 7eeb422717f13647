import time

from django.core.management.base import BaseCommand

from shared.messaging.outbox import relay_outbox, settle_outbox


class Command(BaseCommand):
    help = (
        "Publish the events waiting in the outbox (Redis was down, or a process died), delete "
        "those every handler has finished with, and send again, to the handlers that have not, "
        "those sent more than OUTBOX_REDELIVER_AFTER seconds ago (Redis lost them)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--loop", action="store_true", help="Keep relaying every --interval seconds."
        )
        parser.add_argument("--interval", type=float, default=2.0)

    def handle(self, *args, loop: bool, interval: float, **options):
        while True:
            sent = relay_outbox()
            settled = settle_outbox()
            self.stdout.write(
                f"relayed {sent} event(s); {settled.finished} finished by every handler and "
                f"removed; {settled.resent} sent again"
            )
            if not loop:
                return
            time.sleep(interval)
