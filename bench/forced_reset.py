"""Forced reset: how fast the workers reset and mail every user after a breach.

20,000 active users in a scratch PostgreSQL database; a forced reset of all of them is
started through the service (as the admin API does), and the Procfile's `worker-email` runs
it: per user, the password made unusable (``password.changed`` published), a fresh link
mailed. Timed from the request to the last message accepted by the SMTP sink (0 ms a message).

    .venv/bin/python -m bench.forced_reset [--users 20000]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import Stack, procfile_command, scratch_database, shared_postgres  # noqa: E402

DATABASE = "resetpass_bench_forced_reset"


class ForcedResetStack(Stack):
    """A Stack on a scratch database of its own, so it can run beside the other benchmarks."""

    def _database(self) -> tuple[str, str]:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        base, label = shared_postgres()
        return scratch_database(base, DATABASE), label


def make_users(count: int) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    password = make_password("a-long-bench-passphrase")
    User = get_user_model()  # noqa: N806
    User.objects.bulk_create(
        [User(username=f"fr{i}", email=f"fr{i}@example.com", password=password)
         for i in range(count)],
        batch_size=2000,
    )  # fmt: skip


def run(users: int, timeout: float) -> dict:
    with ForcedResetStack(smtp_delay=0.0) as stack:
        stack.migrate()
        stack.setup_django()
        make_users(users)
        stack.start_email_worker()
        from shared.models import ForcedReset
        from shared.operators.forced_resets import BATCH_SIZE, request_forced_reset

        start = time.monotonic()
        reset = request_forced_reset(user_ids=None, requested_by="bench")
        got = stack.sink.handler.wait_count(users, timeout=timeout)
        mailed_at = time.monotonic()
        if got < users:
            raise RuntimeError(f"only {got} of {users} users mailed in {timeout}s")
        deadline = time.monotonic() + 60
        while ForcedReset.objects.get(pk=reset.pk).state != "finished":
            if time.monotonic() > deadline:
                raise RuntimeError("every user was mailed but the reset did not finish")
            time.sleep(0.05)
        row = ForcedReset.objects.get(pk=reset.pk)
        time.sleep(1)  # a duplicate would show by now
        assert len(stack.sink.handler.received_at) == users, "a user was mailed twice"
        assert (row.done, row.failed) == (users, 0)
        seconds = mailed_at - start
        return {
            "users": users, "batch_size": BATCH_SIZE, "seconds": seconds,
            "users_per_second": users / seconds, "done": row.done, "failed": row.failed,
            "worker_command": shlex.join(procfile_command("worker-email")),
            "database": stack.database_label,
        }  # fmt: skip


def print_table(result: dict) -> None:
    print(f"\nForced reset of every user (Procfile `worker-email`: "
          f"`{result['worker_command']}`; batches of {result['batch_size']}; "
          f"{result['database']})\n")  # fmt: skip
    print("| users | seconds (request → last user mailed) | users/s |")
    print("|---|---|---|")
    print(f"| {result['users']} | {result['seconds']:.1f} | {result['users_per_second']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/forced_reset.json")
    args = parser.parse_args()
    result = run(args.users, args.timeout)
    print_table(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
