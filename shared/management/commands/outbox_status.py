import json
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Count, Min
from django.utils import timezone

from shared.models import OutboxEvent


class Command(BaseCommand):
    help = (
        "The outbox's backlog: events Redis has not taken yet, and events sent but not yet "
        "finished by every handler (overdue past OUTBOX_REDELIVER_AFTER: the relay sends "
        "them again), each with the age of its oldest."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="One JSON object.")

    def handle(self, *args, as_json: bool = False, **options):
        now = timezone.now()
        overdue_before = now - timedelta(seconds=settings.OUTBOX_REDELIVER_AFTER)

        def summary(rows) -> dict:
            found = rows.aggregate(count=Count("id"), oldest=Min("created_at"))
            oldest = found["oldest"]
            age = round((now - oldest).total_seconds(), 1) if oldest else None
            return {"count": found["count"], "oldest_age_seconds": age}

        status = {
            "not_sent": summary(OutboxEvent.objects.filter(sent_at__isnull=True)),
            "awaiting_handlers": summary(OutboxEvent.objects.filter(sent_at__isnull=False)),
            "overdue": summary(OutboxEvent.objects.filter(sent_at__lt=overdue_before)),
        }
        if as_json:
            self.stdout.write(json.dumps(status))
            return
        self.stdout.write("| events | count | oldest (s) |")
        self.stdout.write("|---|---|---|")
        for name, row in status.items():
            age = "" if row["oldest_age_seconds"] is None else row["oldest_age_seconds"]
            self.stdout.write(f"| {name.replace('_', ' ')} | {row['count']} | {age} |")
