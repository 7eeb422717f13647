import time

from django.core.management.base import BaseCommand

from shared.publisher import relay_outbox


class Command(BaseCommand):
    help = "Publish the events waiting in the outbox (Redis was down, or a process died)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--loop", action="store_true", help="Keep relaying every --interval seconds."
        )
        parser.add_argument("--interval", type=float, default=2.0)

    def handle(self, *args, loop: bool, interval: float, **options):
        while True:
            sent = relay_outbox()
            self.stdout.write(f"relayed {sent} event(s)")
            if not loop:
                return
            time.sleep(interval)
