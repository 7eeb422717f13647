"""What does the immediate revocation check cost an authenticated request?

Times GET /api/auth/sessions/ (Bearer) through Django's full request cycle, in process, with
our authentication (simplejwt + the password-fingerprint check) and with plain simplejwt
JWTAuthentication, in alternating rounds; counts the SQL queries of each. Targets: the same
number of queries, and under 5% slower.

    .venv/bin/python -m bench.auth_overhead
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/auth_overhead.json")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    os.environ["THROTTLE_RATES"] = "off"
    # Production settings: no DEBUG query log skewing the timings.
    os.environ.update(DEBUG="0", SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="0")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    from shared.accounts.signing_keys import generate_private_key

    os.environ.setdefault("JWT_SIGNING_KEY", generate_private_key("ES256"))
    os.environ["PWNED_PASSWORDS_URL"] = "off"  # benchmarks send nothing off this machine
    base = os.environ.get("DATABASE_URL", "")
    if base.startswith(("postgres://", "postgresql://")):
        from bench.stack import scratch_database

        os.environ["DATABASE_URL"] = scratch_database(base, "resetpass_bench_auth")
    else:
        db = ROOT / "var" / "bench_auth.sqlite3"
        db.unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from rest_framework_simplejwt.authentication import JWTAuthentication

    from api.authentication import SessionJWTAuthentication
    from api.views.sessions import SessionListView
    from shared.accounts.sessions import start_session

    User = get_user_model()  # noqa: N806
    User.objects.filter(username="bench-auth").delete()
    user = User.objects.create_user("bench-auth", "bench-auth@example.com", "a-long-passphrase")
    pair = start_session(user, ip="127.0.0.1", user_agent="bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {pair.access}", HTTP_HOST="localhost")
    variants = {"with check": SessionJWTAuthentication, "simplejwt only": JWTAuthentication}

    def run(auth_class, n: int) -> tuple[list[float], int]:
        SessionListView.authentication_classes = [auth_class]
        statements: list[str] = []

        def count(execute, sql, params, many, context):
            statements.append(sql)
            return execute(sql, params, many, context)

        timings = []
        with connection.execute_wrapper(count):
            for _ in range(n):
                start = time.perf_counter()
                response = client.get("/api/auth/sessions/")
                timings.append((time.perf_counter() - start) * 1e6)
                assert response.status_code == 200, response.status_code
        return timings, len(statements) // n

    for auth_class in variants.values():
        run(auth_class, 300)  # warm up
    timings = {name: [] for name in variants}
    queries = {}
    for round_no in range(args.rounds):
        order = list(variants.items())
        if round_no % 2:
            order.reverse()
        for name, auth_class in order:
            samples, queries[name] = run(auth_class, args.per_round)
            timings[name].extend(samples)

    medians = {name: statistics.median(values) for name, values in timings.items()}
    slower = medians["with check"] / medians["simplejwt only"] - 1
    print(f"\nAuthenticated GET /api/auth/sessions/, in process, "
          f"{args.rounds * args.per_round} requests each ({connection.vendor})\n")  # fmt: skip
    print("| authentication | median (µs) | p90 (µs) | SQL queries per request |")
    print("|---|---|---|---|")
    for name, values in timings.items():
        p90 = statistics.quantiles(values, n=10)[8]
        print(f"| {name} | {medians[name]:.0f} | {p90:.0f} | {queries[name]} |")
    same = queries["with check"] == queries["simplejwt only"]
    print(f"\nextra queries: {queries['with check'] - queries['simplejwt only']}; "
          f"slower by {slower * 100:+.2f}% (targets: no extra query, < 5%: "
          f"{'met' if same and slower < 0.05 else 'NOT met'})")  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"medians_us": medians, "queries": queries,
                                     "slower_fraction": slower}))  # fmt: skip


if __name__ == "__main__":
    main()
