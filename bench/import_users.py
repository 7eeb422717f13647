"""How long does moving 100,000 users in take, and how long does running the same file again?

On PostgreSQL (DATABASE_URL, else an embedded one), in a scratch database of its own:
generates a JSON lines file of users (a quarter each with an argon2, a bcrypt_sha256 and a
pbkdf2_sha256 hash, a quarter with none), then runs ``manage.py import_users`` on it twice,
as an operator would, timing each run (Django's start-up included) and its peak RSS. The
second run finds every user already there and changes nothing. Target: under 60 s.

Each hash is made once and reused for every line of its kind: hashing 100,000 passwords
would take longer than the import, and the import never hashes anything (it stores hashes as
they are), so the figures are the same for distinct hashes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.import_users
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import setup_django_on_scratch_database  # noqa: E402

SCRATCH_DB = "resetpass_bench_import"
TARGET_SECONDS = 60


def write_users(path: Path, count: int) -> None:
    """``count`` flat lines with distinct addresses; hashes made once per hasher."""
    from django.contrib.auth.hashers import make_password

    hashes = [make_password("a-password-from-before", None, name)
              for name in ("argon2", "bcrypt_sha256", "pbkdf2_sha256")] + [None]  # fmt: skip
    with path.open("w") as out:
        for n in range(count):
            line = {"email": f"user{n}@example.com", "date_joined": "2020-01-02T03:04:05Z"}
            if hashes[n % 4] is not None:
                line["password_hash"] = hashes[n % 4]
            out.write(json.dumps(line) + "\n")


def timed_import(path: Path) -> dict:
    """One ``manage.py import_users`` process: seconds, peak RSS (MiB) and its summary."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "import_users", str(path)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"import_users exited {process.returncode}")
    return {"seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024,
            "summary": output.strip().splitlines()[-1]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/import_users.json")
    args = parser.parse_args()

    setup_django_on_scratch_database(SCRATCH_DB)

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "users.jsonl"
        write_users(path, args.users)
        runs = {"first": timed_import(path), "again": timed_import(path)}

    print(f"\nimport_users of {args.users:,} users (PostgreSQL; one process each run, "
          "start-up included; hashes made once and reused)\n")  # fmt: skip
    print("| run | users | seconds | users/s | peak RSS (MiB) | result |")
    print("|---|---|---|---|---|---|")
    for name, run in runs.items():
        rate = args.users / run["seconds"]
        run["users_per_second"] = rate
        print(f"| {name} | {args.users:,} | {run['seconds']:.1f} | {rate:,.0f} | "
              f"{run['peak_rss_mib']:.0f} | {run['summary']} |")  # fmt: skip
    slowest = max(run["seconds"] for run in runs.values())
    print(f"\ntarget: under {TARGET_SECONDS} s: {'met' if slowest < TARGET_SECONDS else 'NOT met'}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"users": args.users, "runs": runs}))


if __name__ == "__main__":
    main()
