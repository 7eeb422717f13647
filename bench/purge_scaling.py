"""Does ending one user's sessions cost the same however many sessions other users have?

On PostgreSQL (DATABASE_URL), in a scratch database of its own: one user with 50 refresh
tokens and 50 browser sessions, while the tables hold first 10 thousand and then 1 million
rows of other users. Times the ``security`` worker's handler (``revoke_user_sessions``) at
both sizes and prints the ratio. Target: at most 1.5.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.purge_scaling
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import setup_django_on_scratch_database  # noqa: E402

SCRATCH_DB = "resetpass_bench_purge"
TARGET_ROWS = 50


def fill_other_users(cursor, start: int, count: int) -> None:
    """``count`` rows in each of the three tables, for other users (10 rows per user)."""
    users = count // 10
    cursor.execute(
        """
        INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                               is_staff, is_active, date_joined)
        SELECT '!', false, 'other' || g, '', '', 'other' || g || '@example.com', false, true, now()
        FROM generate_series(%s, %s) AS g
        """,
        [start // 10, start // 10 + users - 1],
    )
    cursor.execute(
        """
        WITH u AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM auth_user
                   WHERE username LIKE 'other%%' ORDER BY id OFFSET %s LIMIT %s)
        INSERT INTO shared_refreshtoken (jti, family, user_id, created_at, last_used_at,
                                         expires_at, ip, user_agent)
        SELECT md5(random()::text || u.id || k), gen_random_uuid(), u.id,
               now() - interval '1 day', now() - interval '1 hour', now() + interval '13 days',
               '198.51.100.1', 'bench'
        FROM u CROSS JOIN generate_series(1, 10) AS k
        """,
        [start // 10, users],
    )
    cursor.execute(
        """
        WITH u AS (SELECT id FROM auth_user WHERE username LIKE 'other%%'
                   ORDER BY id OFFSET %s LIMIT %s),
             s AS (SELECT u.id AS user_id, md5(random()::text || u.id || k) AS key
                   FROM u CROSS JOIN generate_series(1, 10) AS k),
             ins AS (INSERT INTO django_session (session_key, session_data, expire_date)
                     SELECT left(key, 32) || 'xxxxxxxx', 'e30:bench', now() + interval '14 days'
                     FROM s RETURNING session_key)
        INSERT INTO shared_usersession (user_id, session_key, created_at)
        SELECT s.user_id, left(s.key, 32) || 'xxxxxxxx', now() - interval '1 day' FROM s
        """,
        [start // 10, users],
    )
    cursor.execute("ANALYZE")


def time_purge(repeats: int) -> tuple[list[float], int]:
    """Median-ready timings (ms) of the handler for one user with 50 + 50 rows."""
    import uuid
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection
    from django.utils import timezone

    from shared.messaging.events import PasswordChangedV1, make_event
    from shared.models import RefreshToken, UserSession
    from workers.handlers.password_changed import revoke_user_sessions

    user, _ = get_user_model().objects.get_or_create(username="target", email="t@example.com")
    timings, queries = [], 0
    for _ in range(repeats):
        before = timezone.now() - timedelta(minutes=5)
        RefreshToken.objects.bulk_create(
            RefreshToken(jti=uuid.uuid4().hex, family=uuid.uuid4(), user=user, created_at=before,
                         last_used_at=before, expires_at=before + timedelta(days=14))
            for _ in range(TARGET_ROWS)
        )  # fmt: skip
        for _ in range(TARGET_ROWS):
            store = SessionStore()
            store.create()
            UserSession.objects.create(user=user, session_key=store.session_key, created_at=before)
        payload = PasswordChangedV1(user_id=user.pk, reason="reset", changed_at=timezone.now())
        event = make_event(payload)
        statements: list[str] = []

        def count(execute, sql, params, many, context, statements=statements):
            statements.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            start = time.perf_counter()
            revoke_user_sessions(event, payload)
            timings.append((time.perf_counter() - start) * 1000)
        queries = len(statements)
        assert not RefreshToken.objects.filter(user=user).exists()
    return timings, queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/purge_scaling.json")
    args = parser.parse_args()

    setup_django_on_scratch_database(SCRATCH_DB)
    from django.db import connection

    results = {}
    filled = 0
    for size in (args.small, args.large):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            fill_other_users(cursor, filled, size - filled)
        filled = size
        print(f"tables filled to {size:,} rows of other users "
              f"in {time.perf_counter() - started:.1f}s", file=sys.stderr)  # fmt: skip
        time_purge(3)  # warm up caches and plans
        timings, queries = time_purge(args.repeats)
        results[size] = {"median_ms": statistics.median(timings), "timings_ms": timings,
                         "queries": queries}  # fmt: skip

    small, large = results[args.small], results[args.large]
    ratio = large["median_ms"] / small["median_ms"]
    print(f"\nPurge of one user's {TARGET_ROWS} refresh tokens + {TARGET_ROWS} browser sessions "
          f"(PostgreSQL, median of {args.repeats})\n")  # fmt: skip
    print("| rows of other users (each table) | median (ms) | queries |")
    print("|---|---|---|")
    for size in (args.small, args.large):
        print(f"| {size:,} | {results[size]['median_ms']:.2f} | {results[size]['queries']} |")
    print(
        f"\nratio (large / small): {ratio:.2f}  "
        f"(target ≤ 1.5: {'met' if ratio <= 1.5 else 'NOT met'})"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"results": results, "ratio": ratio}))


if __name__ == "__main__":
    main()
