from django.core.management.base import BaseCommand, CommandError

from shared.messaging.dead_letters import pending, replay
from shared.models import DeadLetter


class Command(BaseCommand):
    help = (
        "List dead letters (events a handler gave up on), or replay them: by id, or --all "
        "that were not replayed yet. A letter replayed already is sent again only with --again."
    )

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", type=int, help="Dead letter ids to replay.")
        parser.add_argument("--all", action="store_true", help="Replay every pending one.")
        parser.add_argument(
            "--again",
            action="store_true",
            help="Replay the given ids even if they were replayed already.",
        )

    def handle(self, *args, ids, all, again, **options):  # noqa: A002 - the flag's name
        if ids and all:
            raise CommandError("give ids or --all, not both")
        if again and not ids:
            raise CommandError("--again applies to the ids given")
        if not ids and not all:
            for letter in DeadLetter.objects.order_by("created_at"):
                replayed = f"replayed {letter.replay_count}x" if letter.replay_count else "pending"
                self.stdout.write(
                    f"{letter.pk}\t{letter.created_at:%Y-%m-%d %H:%M:%S}\t{letter.task}\t"
                    f"{letter.event_id}\t{letter.reason}\t{letter.error}\t{replayed}"
                )
            return
        letters = list(pending()) if all else list(DeadLetter.objects.filter(pk__in=ids))
        missing = set(ids) - {letter.pk for letter in letters}
        if missing:
            raise CommandError(f"no dead letter with id {sorted(missing)}")
        # Sending an event twice is a decision: say so before sending any of them.
        replayed_before = sorted(letter.pk for letter in letters if letter.replayed_at)
        if replayed_before and not again:
            raise CommandError(
                f"dead letter(s) {replayed_before} were replayed already; nothing was sent. "
                "Add --again to send them again."
            )
        sent = sum(replay(letter, again=again) for letter in letters)
        self.stdout.write(f"replayed {sent} dead letter(s)")
        if sent < len(letters):
            self.stderr.write(f"{len(letters) - sent} were replayed by someone else meanwhile")
