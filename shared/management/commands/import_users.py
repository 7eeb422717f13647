import sys

from django.core.management.base import BaseCommand, CommandError

from shared.operators.user_import import ImportRefused, import_users


class Command(BaseCommand):
    help = (
        "Move users in with their password hashes, so they need no reset. FILE holds JSON "
        "lines ('-' reads standard input): flat objects (email, username, password_hash, "
        "is_active, date_joined, first_name, last_name) or the records of "
        "'manage.py dumpdata auth.user --format jsonl'. is_staff, is_superuser, groups and "
        "permissions are never imported: an import grants no admin rights. Idempotent by "
        "address (case-insensitive). A file with any bad line imports nothing unless "
        "--skip-bad; bad lines are reported by number and reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE", help="JSON lines file, or - for stdin")
        parser.add_argument(
            "--skip-bad", action="store_true", help="import the good lines, report the bad ones"
        )

    def handle(self, *args, file, skip_bad, **options):
        progress = self._show_progress if self.stdout.isatty() else None
        try:
            if file == "-":
                report = import_users(sys.stdin, skip_bad=skip_bad, progress=progress)
            else:
                with open(file, encoding="utf-8") as lines:
                    report = import_users(lines, skip_bad=skip_bad, progress=progress)
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{file} is not UTF-8 text; nothing imported") from None
        except ImportRefused as refused:
            self._list_bad(refused.bad)
            raise CommandError(f"{len(refused.bad)} bad line(s); nothing imported") from None
        if progress is not None:
            self.stdout.write("")
        self._list_bad(report.bad)
        summary = (
            f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}"
        )
        if report.bad:
            summary += f", skipped {len(report.bad)} bad line(s)"
        if report.renamed:
            summary += f"; {report.renamed} username(s) taken here were given a suffix"
        self.stdout.write(summary)

    def _show_progress(self, done: int, total: int) -> None:
        self.stdout.write(f"\r imported {done}/{total}", ending="")
        self.stdout.flush()

    def _list_bad(self, bad) -> None:
        for line in bad:
            self.stderr.write(f"line {line.line}: {line.reason}")
