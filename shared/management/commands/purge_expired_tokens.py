from django.core.management.base import BaseCommand

from shared.accounts.sessions import purge_expired


class Command(BaseCommand):
    help = "Delete whitelisted refresh tokens that have expired."

    def handle(self, *args, **options):
        self.stdout.write(f"purged {purge_expired()} expired refresh token(s)")
