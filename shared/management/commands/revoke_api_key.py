from django.core.management.base import BaseCommand, CommandError

from shared.operators.api_keys import NoSuchKey, revoke_api_key


class Command(BaseCommand):
    help = "Revoke the admin API key named NAME: every request with it is refused from now on."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name: str, **options):
        try:
            revoke_api_key(name.strip())
        except NoSuchKey:
            raise CommandError(f"No live key is named {name!r}.") from None
        self.stdout.write(f"revoked admin API key {name!r}")
