"""Can response time tell a known address from an unknown one?

Starts the API (gunicorn, the Procfile's configuration) with throttles off, creates one
account, then sends alternating reset requests for its address and for addresses no account
uses, over loopback, and compares the two latency distributions: medians, their difference,
and a Mann-Whitney U test (no normality assumed). Target: |difference| < 0.2 ms, p > 0.01.

    .venv/bin/python -m bench.enumeration_timing [--requests 4000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from scipy.stats import mannwhitneyu

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import manage, running_stack  # noqa: E402

KNOWN = "known.person@example.com"


def timed_post(host: str, port: int, body: bytes) -> float:
    """One request on a fresh connection (gunicorn's sync workers close after each)."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    start = time.perf_counter()
    conn.request("POST", "/api/auth/password/reset/", body,
                 {"Content-Type": "application/json"})  # fmt: skip
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    if response.status != 202:
        raise RuntimeError(f"unexpected status {response.status}")
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="total, half of each kind")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/enumeration_timing.json")
    args = parser.parse_args()

    with running_stack({"THROTTLE_RATES": "off"}) as (base, env):
        create_known_user = (
            "from django.contrib.auth import get_user_model as g; "
            "g().objects.filter(username='bench-known').delete(); "
            f"g().objects.create_user('bench-known', '{KNOWN}', 'a-long-bench-passphrase')"
        )
        manage(env, "shell", "-c", create_known_user)
        parts = urlsplit(base)
        bodies = {
            "known": json.dumps({"email": KNOWN}).encode(),
            "unknown": [json.dumps({"email": f"nobody{i}@example.com"}).encode()
                        for i in range(args.requests)],
        }  # fmt: skip
        for i in range(args.warmup):
            timed_post(parts.hostname, parts.port, bodies["unknown"][i % 50])
        known, unknown = [], []
        for i in range(args.requests // 2):
            # Alternate, and swap the order every other pair, so drift hits both equally.
            pair = [("known", bodies["known"]), ("unknown", bodies["unknown"][i])]
            if i % 2:
                pair.reverse()
            for kind, body in pair:
                (known if kind == "known" else unknown).append(
                    timed_post(parts.hostname, parts.port, body)
                )

    med_k, med_u = statistics.median(known), statistics.median(unknown)
    test = mannwhitneyu(known, unknown, alternative="two-sided")
    diff = med_k - med_u
    ok = abs(diff) < 0.2 and test.pvalue > 0.01
    print(f"\nReset request latency, {len(known)} known vs {len(unknown)} unknown "
          f"addresses (throttles off, loopback, new connection per request)\n")  # fmt: skip
    print("| addresses | requests | median (ms) | p90 (ms) | p99 (ms) |")
    print("|---|---|---|---|---|")
    for name, data in (("known", known), ("unknown", unknown)):
        q = statistics.quantiles(data, n=100)
        print(
            f"| {name} | {len(data)} | {statistics.median(data):.3f} | {q[89]:.3f} | {q[98]:.3f} |"
        )
    print(f"\nmedian difference (known - unknown): {diff * 1000:+.1f} µs")
    print(f"Mann-Whitney U p-value: {test.pvalue:.3f}")
    print(f"target |difference| < 200 µs and p > 0.01: {'met' if ok else 'NOT met'}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "known_ms": known, "unknown_ms": unknown, "median_known_ms": med_k,
        "median_unknown_ms": med_u, "median_difference_ms": diff, "mannwhitney_p": test.pvalue,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
