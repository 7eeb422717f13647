"""Can the reset code endpoint's timing tell a wrong code, an unknown address and a dead code
apart?

Starts the API (the Procfile's gunicorn command, throttles off, no worker) on PostgreSQL,
gives accounts live codes (and others dead ones: expired or out of tries), then sends, over
loopback and interleaved in rotating order, three kinds of exchange that all answer the same
400: a wrong code for an address with a live code, any code for an address no account uses,
and the code of an address whose code is dead. Each account with a live code takes at most
four wrong tries, so it stays live throughout. Target, as for the reset request: each median
within 0.2 ms of the unknown address's, and a Mann-Whitney U p-value above 0.01.

    .venv/bin/python -m bench.code_timing [--rounds 1500]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import timed_post  # noqa: E402
from bench.stack import Stack  # noqa: E402

KINDS = ("wrong code", "unknown address", "dead code")
TRIES_PER_LIVE_CODE = 4  # one fewer than RESET_CODE_MAX_ATTEMPTS' default


def give_codes(live: int, dead: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Accounts with a live code, and accounts whose code is dead; (address, a wrong or the
    dead code) for each."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from shared.accounts.password_reset import issue_reset
    from shared.accounts.reset_codes import count_try
    from shared.models import PasswordResetNonce

    User = get_user_model()  # noqa: N806
    live_pairs, dead_pairs = [], []
    for i in range(live + dead):
        user = User.objects.create_user(f"bench{i}", f"person{i}@example.com", None)
        code = issue_reset(user).code
        wrong = f"{(int(code) + 1) % 10**8:08d}"
        if i < live:
            live_pairs.append((user.email, wrong))
        else:
            dead_pairs.append((user.email, code))
    # Half the dead codes expired, half out of tries.
    dead_ids = User.objects.filter(username__in=[f"bench{i}" for i in range(live, live + dead)])
    ids = sorted(dead_ids.values_list("pk", flat=True))
    PasswordResetNonce.objects.filter(user_id__in=ids[::2]).update(
        code_expires_at=timezone.now() - timedelta(seconds=1)
    )
    for user in User.objects.filter(pk__in=ids[1::2]):
        for _ in range(5):
            count_try(user.email)
    return live_pairs, dead_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1500, help="requests of each kind")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/code_timing.json")
    args = parser.parse_args()
    from scipy.stats import mannwhitneyu

    live_needed = -(-args.rounds // TRIES_PER_LIVE_CODE)
    with Stack() as stack:
        stack.migrate()
        stack.setup_django()
        live, dead = give_codes(live_needed, 200)
        url = stack.start_web() + "/api/auth/password/reset/code/"

        def post(email: str, code: str) -> float:
            return timed_post(url, json.dumps({"email": email, "code": code}).encode(), 400)

        for i in range(args.warmup):
            post(f"warm{i}@example.com", "12345678")
        samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for i in range(args.rounds):
            requests = {
                "wrong code": live[i // TRIES_PER_LIVE_CODE],
                "unknown address": (f"nobody{i}@example.com", "12345678"),
                "dead code": dead[i % len(dead)],
            }
            shift = i % len(KINDS)  # each kind goes first, second and third in turn
            for kind in KINDS[shift:] + KINDS[:shift]:
                samples[kind].append(post(*requests[kind]))

    baseline = samples["unknown address"]
    rows = {}
    for kind in KINDS:
        data = samples[kind]
        q = statistics.quantiles(data, n=100)
        rows[kind] = {
            "requests": len(data),
            "median_ms": statistics.median(data),
            "p90_ms": q[89],
            "p99_ms": q[98],
            "difference_ms": statistics.median(data) - statistics.median(baseline),
            "p_value": mannwhitneyu(data, baseline).pvalue if kind != "unknown address" else None,
        }
    print(f"\nReset code exchange latency, {args.rounds} requests of each kind, all answered 400 "
          "(throttles off, loopback, new connection per request)\n")  # fmt: skip
    print("| kind | requests | median (ms) | p90 (ms) | p99 (ms) | vs unknown (µs) | p-value |")
    print("|---|---|---|---|---|---|---|")
    for kind, row in rows.items():
        p = "" if row["p_value"] is None else f"{row['p_value']:.3f}"
        diff = "" if row["p_value"] is None else f"{row['difference_ms'] * 1000:+.1f}"
        print(f"| {kind} | {row['requests']} | {row['median_ms']:.3f} | {row['p90_ms']:.3f} | "
              f"{row['p99_ms']:.3f} | {diff} | {p} |")  # fmt: skip
    compared = [row for row in rows.values() if row["p_value"] is not None]
    ok = all(abs(r["difference_ms"]) < 0.2 and r["p_value"] > 0.01 for r in compared)
    print(f"\ntarget |difference| < 200 µs and p > 0.01 for both: {'met' if ok else 'NOT met'}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows, "target_met": ok}))


if __name__ == "__main__":
    main()
