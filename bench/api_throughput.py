"""The reset endpoint under load: ours against a floor and against dj-rest-auth and djoser.

All endpoints run behind the Procfile's gunicorn command and configuration, on the same
PostgreSQL, Redis and SMTP sink; throttles are off. wrk drives 8 connections for 10 s per run.

1. Ours against the floor (same process, same body parsing, 202, nothing else), no worker:
   5 alternating rounds, each figure the median of its rounds.
2. Ours (its email worker running) and the peers (which send in the request) with an SMTP
   server taking 0 ms and then 100 ms per message; ours runs before, between and after the
   peers, and reports the median of the three.
3. Known against unknown addresses, sequential requests: medians and their difference.

    .venv/bin/python -m bench.api_throughput
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

from bench.load import alternating_medians, wrk  # noqa: E402
from bench.peers.endpoints import RESET_ENDPOINTS  # noqa: E402
from bench.stack import PeakMemory, Stack  # noqa: E402

KNOWN = "known.person@example.com"


def drain_email_queue() -> None:
    """Drop what our worker has not sent yet, so it does not eat CPU during the next run."""
    from shared.messaging.celery_app import app

    app.control.purge()
    time.sleep(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=300, help="known/unknown pairs, ours")
    parser.add_argument("--peer-pairs", type=int, default=100)
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/api_throughput.json")
    parser.add_argument("--rounds", type=int, default=5, help="floor/ours alternations")
    parser.add_argument("--floor-only", action="store_true",
                        help="only the floor and ours with no worker; no JSON")  # fmt: skip
    args = parser.parse_args()

    def load(url: str) -> dict:
        return wrk(url, {"email": KNOWN}, connections=args.connections, seconds=args.seconds)

    results: dict = {"connections": args.connections, "seconds": args.seconds, "runs": {}}
    with Stack() as stack:
        stack.migrate()
        stack.migrate("bench.peers.settings")
        stack.setup_django()
        from django.contrib.auth import get_user_model

        get_user_model().objects.create_user("known", KNOWN, "a-long-bench-passphrase")
        results["database"] = stack.database_label
        ours = stack.start_web()
        peers = stack.start_web("bench.peers.wsgi", settings_module="bench.peers.settings")
        urls = {name: (ours if name == "ours" else peers) + str(spec["path"])
                for name, spec in RESET_ENDPOINTS.items()}  # fmt: skip
        web = {"web (ours)": stack.processes["web:api.wsgi"]}

        # Floor and ours alternate for several rounds, and each figure is the median of its
        # rounds: on a shared virtual machine the speed drifts by tens of percent from minute
        # to minute, and one slow round would otherwise decide a p99.
        rounds: dict[str, list[dict]] = {"floor": [], "ours, no worker": []}
        with PeakMemory(web) as memory:
            for _ in range(args.rounds):
                rounds["floor"].append(load(ours + "/bench/floor/reset/"))
                rounds["ours, no worker"].append(load(urls["ours"]))
        for name, runs in rounds.items():
            results["runs"][name] = {**median_of(runs), "rounds": runs}
        results["web_peak_rss_mb"] = memory.peaks["web (ours)"] / 2**20
        if args.floor_only:
            for name, run in results["runs"].items():
                print(f"{name}: {run['rps']:.0f} requests/s, p50 {run['p50_us'] / 1000:.2f} ms, "
                      f"p99 {run['p99_us'] / 1000:.2f} ms")  # fmt: skip
            return
        drain_email_queue()

        stack.start_email_worker()
        # Ours shares the two cores with its own worker, whose appetite for them varies (it
        # starts up during the first run): ours runs before, between and after the peers at
        # each SMTP delay, and reports the median of the three.
        for delay in (0.0, 0.1):
            stack.sink.handler.delay = delay
            label = f"{delay * 1000:.0f} ms SMTP"
            ours_runs = []
            for name, url in urls.items():
                if name != "ours":
                    results["runs"][f"{name}, {label}"] = load(url)
                    drain_email_queue()
                ours_runs.append(load(urls["ours"]))
                drain_email_queue()
            results["runs"][f"ours, {label}"] = {**median_of(ours_runs), "rounds": ours_runs}

        results["known_vs_unknown"] = {}
        for delay in (0.0, 0.1):
            stack.sink.handler.delay = delay
            label = f"{delay * 1000:.0f} ms SMTP"
            for name, url in urls.items():
                pairs = args.pairs if name == "ours" else args.peer_pairs
                status = int(RESET_ENDPOINTS[name]["status"])
                results["known_vs_unknown"][f"{name}, {label}"] = alternating_medians(
                    url, KNOWN, status, pairs
                )
                drain_email_queue()

    print_tables(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))


def median_of(runs: list[dict]) -> dict:
    """Each figure's median over the rounds (so the p99 is the median round's p99)."""
    keys = ("rps", "p50_us", "p90_us", "p99_us", "mean_us")
    out = {key: statistics.median(run[key] for run in runs) for key in keys}
    for key in ("requests", "socket_errors", "non_2xx"):
        out[key] = sum(run[key] for run in runs)
    return out


def print_tables(results: dict) -> None:
    runs = results["runs"]
    floor = runs["floor"]["rps"]
    print(f"\nReset request under load: wrk, {results['connections']} connections, "
          f"{results['seconds']} s per run, {results.get('database', '')}\n")  # fmt: skip
    print("| endpoint | requests/s | × floor | p50 (ms) | p99 (ms) | errors |")
    print("|---|---|---|---|---|---|")
    for name, run in runs.items():
        errors = run["socket_errors"] + run["non_2xx"]
        print(f"| {name} | {run['rps']:.0f} | {run['rps'] / floor:.2f} | "
              f"{run['p50_us'] / 1000:.2f} | {run['p99_us'] / 1000:.2f} | {errors} |")  # fmt: skip
    if "rounds" in runs["floor"]:
        print(f"\nFloor and ours with no worker: the median of {len(runs['floor']['rounds'])} "
              "alternating rounds. Each round (requests/s, p99 ms), floor then ours: " + "; ".join(
            f"{f['rps']:.0f}/{f['p99_us'] / 1000:.1f} then {o['rps']:.0f}/{o['p99_us'] / 1000:.1f}"
            for f, o in zip(runs["floor"]["rounds"], runs["ours, no worker"]["rounds"], strict=True)
        ))  # fmt: skip
    for delay in ("0 ms SMTP", "100 ms SMTP"):
        if "rounds" in runs.get(f"ours, {delay}", {}):
            each = ", ".join(f"{run['rps']:.0f}" for run in runs[f"ours, {delay}"]["rounds"])
            print(f"\nours with its worker at {delay}, runs before, between and after the peers "
                  f"(requests/s): {each}", end="")  # fmt: skip
    for delay in ("0 ms SMTP", "100 ms SMTP"):
        ours = runs.get(f"ours, {delay}", {}).get("rps")
        for peer in ("dj-rest-auth", "djoser"):
            run = runs.get(f"{peer}, {delay}")
            if ours and run:
                print(f"\nours / {peer} at {delay}: {ours / run['rps']:.1f}×", end="")
    print("\n\nKnown against unknown addresses (sequential requests)\n")
    print("| endpoint | median known (ms) | median unknown (ms) | difference (ms) | p-value |")
    print("|---|---|---|---|---|")
    for name, row in results["known_vs_unknown"].items():
        print(f"| {name} | {row['median_known_ms']:.2f} | {row['median_unknown_ms']:.2f} | "
              f"{row['difference_ms']:+.2f} | {row['p_value']:.3g} |")  # fmt: skip
    print(f"\nweb server peak RSS under load: {results['web_peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
