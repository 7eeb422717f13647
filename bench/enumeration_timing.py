"""Can response time tell a known address from an unknown one?

Starts the API (the Procfile's gunicorn command) with throttles off and no worker, creates one
account, then sends alternating reset requests for its address and for addresses no account
uses, over loopback, and compares the two latency distributions: medians, their difference,
and a Mann-Whitney U test. Target: |difference| < 0.2 ms, p > 0.01.

    .venv/bin/python -m bench.enumeration_timing [--requests 4000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import alternating_medians  # noqa: E402
from bench.stack import Stack  # noqa: E402

KNOWN = "known.person@example.com"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="total, half of each kind")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/enumeration_timing.json")
    args = parser.parse_args()

    with Stack() as stack:
        stack.migrate()
        stack.setup_django()
        from django.contrib.auth import get_user_model

        get_user_model().objects.create_user("known", KNOWN, "a-long-bench-passphrase")
        base = stack.start_web()
        result = alternating_medians(
            base + "/api/auth/password/reset/", KNOWN, 202, args.requests // 2,
            warmup=args.warmup, keep_samples=True,
        )  # fmt: skip

    known, unknown = result["known_ms"], result["unknown_ms"]
    diff, p_value = result["difference_ms"], result["p_value"]
    print(f"\nReset request latency, {len(known)} known vs {len(unknown)} unknown addresses "
          "(throttles off, loopback, new connection per request)\n")  # fmt: skip
    print("| addresses | requests | median (ms) | p90 (ms) | p99 (ms) |")
    print("|---|---|---|---|---|")
    for name, data in (("known", known), ("unknown", unknown)):
        q = statistics.quantiles(data, n=100)
        print(
            f"| {name} | {len(data)} | {statistics.median(data):.3f} | {q[89]:.3f} | {q[98]:.3f} |"
        )
    ok = abs(diff) < 0.2 and p_value > 0.01
    print(f"\nmedian difference (known - unknown): {diff * 1000:+.1f} µs")
    print(f"Mann-Whitney U p-value: {p_value:.3f}")
    print(f"target |difference| < 200 µs and p > 0.01: {'met' if ok else 'NOT met'}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
