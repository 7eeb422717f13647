from django.core.management.base import BaseCommand, CommandError

from shared.operators.api_keys import KeyNameInUse, create_api_key


class Command(BaseCommand):
    help = (
        "Make an admin API key named NAME and print it, alone on the last line. It is shown "
        "only this once: the database keeps its hash."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who or what uses the key (50 characters at most).")

    def handle(self, *args, name: str, **options):
        name = name.strip()
        if not name or len(name) > 50:
            raise CommandError("NAME must be 1 to 50 characters long.")
        try:
            key = create_api_key(name)
        except KeyNameInUse:
            raise CommandError(
                f"A live key is named {name!r} already: choose another name, or revoke it."
            ) from None
        self.stdout.write(f"Admin API key {name!r} (use it as 'Authorization: Api-Key <key>'):")
        self.stdout.write(key)
