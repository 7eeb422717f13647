"""Delivery: how fast one email worker sends, and how long a request takes to become an email.

* Worker throughput: N reset events queued for N accounts, one `worker-email` (the Procfile's
  command) sending to an SMTP server that takes 0 ms, then 100 ms, per message; then 100 ms
  with task events on, as while Flower watches.
* End to end: a steady 100 requests/s against the API (gunicorn, Procfile), one email worker,
  3 s of warm-up then 30 s measured; for each request, the time from sending it to its message
  being accepted by SMTP.
* Peak resident memory of the web server and of each worker under that load.

    .venv/bin/python -m bench.delivery
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import timed_post  # noqa: E402
from bench.stack import PeakMemory, Stack, wait_worker  # noqa: E402


def make_users(prefix: str, count: int) -> list[str]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    password = make_password("a-long-bench-passphrase")
    User = get_user_model()  # noqa: N806
    User.objects.bulk_create(
        [User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.com", password=password)
         for i in range(count)],
        batch_size=1000,
    )  # fmt: skip
    return [f"{prefix}{i}@example.com" for i in range(count)]


def wait_messages(sink, count: int, timeout: float) -> None:
    got = sink.handler.wait_count(count, timeout=timeout)
    if got < count:
        raise RuntimeError(f"only {got} of {count} messages arrived in {timeout}s")


def worker_throughput(smtp_delay: float, count: int, events: bool = False) -> dict:
    """``events``: the worker sends task events, as it does once Flower has turned them on.

    The events are pushed onto the queue at once (pipelined, so that publishing takes no CPU
    from the worker while it runs). ``per_second`` counts from that push to the last message
    accepted; ``steady_per_second`` leaves out the first tenth of the messages, while the worker
    starts its threads and opens its database and SMTP connections."""
    with Stack(smtp_delay=smtp_delay) as stack:
        stack.migrate()
        stack.setup_django()
        from shared.infra.redis_client import get_redis
        from shared.messaging.celery_wire import task_messages
        from shared.messaging.events import PasswordResetRequestedV1, make_event

        addresses = make_users(f"tp{int(smtp_delay * 1000)}x", count)
        raw = [
            m
            for a in addresses
            for m in task_messages(make_event(PasswordResetRequestedV1(email=a)).to_message())
        ]
        events_on = {"CELERY_TASK_EVENTS": "1"} if events else {}
        copies = stack.start_email_worker(
            *os.environ.get("BENCH_WORKER_ARGS", "").split(), **events_on
        )
        with PeakMemory({f"copy {i}": copy for i, copy in enumerate(copies)}) as memory:
            start = time.monotonic()
            pipe = get_redis().pipeline(transaction=False)
            for queue, message in raw:
                pipe.lpush(queue, message)
            pipe.execute()
            wait_messages(stack.sink, count, timeout=600)
            arrived = list(stack.sink.handler.received_at)
        assert len({env.rcpt_tos[0] for env, _ in stack.sink.handler.messages}) == count
        skip = count // 10
        return {
            "smtp_delay_ms": smtp_delay * 1000, "task_events": events, "messages": count,
            "seconds": arrived[-1] - start, "per_second": count / (arrived[-1] - start),
            "steady_per_second": (count - skip) / (arrived[-1] - arrived[skip - 1]),
            # All copies together, as the one command that ran them counted before.
            "peak_rss_mb": sum(memory.peaks.values()) / 2**20,
            "cpu_ms_per_message": sum(memory.cpu_seconds.values()) * 1000 / count,
        }  # fmt: skip


def end_to_end(rate: float, seconds: float, warmup: float) -> dict:
    """Requests at a steady ``rate``: ``warmup`` seconds first (the workers open their
    database and SMTP connections then), then ``seconds`` measured. Both are reported."""
    warm = int(rate * warmup)
    count = int(rate * seconds)
    with Stack(smtp_delay=0.0) as stack:
        stack.migrate()
        stack.setup_django()
        from shared.messaging import celery_wire
        from shared.messaging.events import PasswordChangedV1, make_event

        addresses = make_users("e2e", warm + count)
        base = stack.start_web()
        stack.start_worker("worker-security")
        stack.start_email_worker()
        wait_worker([f"security@{socket.gethostname()}"])
        sent_at: dict[str, float] = {}
        url = base + "/api/auth/password/reset/"
        lock = threading.Lock()

        def send(address: str, due: float) -> None:
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with lock:
                sent_at[address] = time.monotonic()
            timed_post(url, json.dumps({"email": address}).encode(), 202)

        with PeakMemory(stack.processes) as memory:
            start = time.monotonic() + 0.5
            with ThreadPoolExecutor(max_workers=16) as pool:
                for i, address in enumerate(addresses):
                    pool.submit(send, address, start + i / rate)
            wait_messages(stack.sink, warm + count, timeout=120)
            # The security worker under load too: one purge per account.
            from django.contrib.auth import get_user_model
            from django.utils import timezone

            for user_id in get_user_model().objects.values_list("id", flat=True)[:1000]:
                payload = PasswordChangedV1(user_id=user_id, reason="reset",
                                            changed_at=timezone.now())  # fmt: skip
                celery_wire.send(make_event(payload).to_message())
            wait_messages(stack.sink, warm + count + 1000, timeout=120)
        arrivals: dict[str, float] = {}
        for envelope, message, at in stack.sink.handler.timed_messages():
            if message["Subject"].endswith(": Reset your password"):  # after the SITE_NAME
                arrivals.setdefault(envelope.rcpt_tos[0], at)

        def latencies(chosen: list[str]) -> list[float]:
            return [(arrivals[a] - sent_at[a]) * 1000 for a in chosen if a in arrivals]

        measured = latencies(addresses[warm:])
        by_second = []
        for second in range(int(warmup + seconds)):
            chosen = addresses[int(second * rate) : int((second + 1) * rate)]
            values = sorted(latencies(chosen))
            if values:
                by_second.append({"second": second - warmup, "p50_ms": statistics.median(values),
                                  "max_ms": values[-1]})  # fmt: skip
        return {
            "rate": rate, "seconds": seconds, "warmup_seconds": warmup, "requests": count,
            "delivered": len(measured), **summary(measured),
            "warmup": {"requests": warm, **summary(latencies(addresses[:warm]))},
            "by_second": by_second,
            "peak_rss_mb": {name: peak / 2**20 for name, peak in memory.peaks.items()},
        }  # fmt: skip


def summary(latencies: list[float]) -> dict:
    if len(latencies) < 2:
        return {}
    values = sorted(latencies)
    q = statistics.quantiles(values, n=100)
    return {"p50_ms": statistics.median(values), "p90_ms": q[89], "p99_ms": q[98],
            "max_ms": values[-1]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=3, help="seconds at the same rate first")
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/delivery.json")
    parser.add_argument("--only", choices=["throughput", "e2e"])
    args = parser.parse_args()
    results: dict = {}
    if args.only in (None, "throughput"):
        results["worker_throughput"] = [
            worker_throughput(delay, args.messages, events)
            for delay, events in ((0.0, False), (0.1, False), (0.1, True))
        ]
    if args.only in (None, "e2e"):
        results["end_to_end"] = end_to_end(args.rate, args.seconds, args.warmup)
    print_tables(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))


def print_tables(results: dict) -> None:
    if "worker_throughput" in results:
        print("\nOne email worker (Procfile `worker-email`), queued reset events\n")
        print("| SMTP time per message | task events | messages | seconds | messages/s | "
              "messages/s after the first tenth | worker CPU per message (ms) | "
              "worker peak RSS (MB) |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        for row in results["worker_throughput"]:
            events = "on (Flower watching)" if row.get("task_events") else "off"
            print(f"| {row['smtp_delay_ms']:.0f} ms | {events} | {row['messages']} | "
                  f"{row['seconds']:.1f} | {row['per_second']:.0f} | "
                  f"{row.get('steady_per_second', row['per_second']):.0f} | "
                  f"{row['cpu_ms_per_message']:.2f} | "
                  f"{row['peak_rss_mb']:.0f} |")  # fmt: skip
    if "end_to_end" in results:
        e2e = results["end_to_end"]
        print(f"\nEnd to end at {e2e['rate']:.0f} requests/s: request sent → message accepted "
              f"by SMTP. {e2e['warmup_seconds']:.0f} s of warm-up at the same rate, then "
              f"{e2e['seconds']:.0f} s measured\n")  # fmt: skip
        print("| window | requests | delivered | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |")
        print("|---|---|---|---|---|---|---|")
        for label, row in (("warm-up", e2e["warmup"]), ("measured", e2e)):
            if "p50_ms" in row:
                print(f"| {label} | {row['requests']} | {row.get('delivered', row['requests'])} "
                      f"| {row['p50_ms']:.1f} | {row['p90_ms']:.1f} | {row['p99_ms']:.1f} | "
                      f"{row['max_ms']:.1f} |")  # fmt: skip
        slowest = sorted(e2e["by_second"], key=lambda row: row["max_ms"])[-3:]
        print(
            "\nSlowest seconds (from the start of the measured window): "
            + ", ".join(
                f"{row['second']:.0f} s (max {row['max_ms']:.0f} ms)" for row in reversed(slowest)
            )
        )
        print("\n| process | peak RSS (MB, whole process tree) |\n|---|---|")
        for name, mb in e2e["peak_rss_mb"].items():
            print(f"| {name} | {mb:.0f} |")


if __name__ == "__main__":
    main()
