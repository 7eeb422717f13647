"""Load generation: wrk for throughput, a sequential client for medians."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

SCRIPT = Path(__file__).with_name("wrk_post.lua")


def wrk(url: str, body: dict, *, connections: int = 8, seconds: int = 10, warmup: int = 2) -> dict:
    """Throughput and latency of POSTing ``body`` over ``connections`` connections, after
    ``warmup`` seconds of the same load whose figures are dropped (a fresh server process
    imports and caches things on its first requests)."""
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install wrk; `make bench` does it)")
    env = {**os.environ, "WRK_BODY": json.dumps(body)}
    for duration in ([warmup] if warmup else []) + [seconds]:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(SCRIPT),
             url],
            env=env, capture_output=True, text=True, check=True, timeout=duration + 60,
        ).stdout  # fmt: skip
    line = next(line for line in out.splitlines() if line.startswith("WRK_JSON "))
    result = json.loads(line.removeprefix("WRK_JSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def post(url: str, body: bytes) -> tuple[int, float]:
    """One POST on a new connection (as gunicorn's sync workers require): its status and the
    milliseconds it took."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        start = time.perf_counter()
        conn.request("POST", parts.path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status, (time.perf_counter() - start) * 1000
    finally:
        conn.close()


def timed_post(url: str, body: bytes, expect: int) -> float:
    """Milliseconds for one POST, which must answer ``expect``."""
    status, elapsed = post(url, body)
    if status != expect:
        raise RuntimeError(f"{url}: status {status}, expected {expect}")
    return elapsed


def alternating_medians(
    url: str, known: str, expect: int, pairs: int, warmup: int = 20, keep_samples: bool = False
) -> dict:
    """Alternate known and unknown addresses (order swapped every pair, so drift hits both
    alike); medians, their difference and a Mann-Whitney U p-value (no normality assumed)."""
    import statistics

    from scipy.stats import mannwhitneyu

    for i in range(warmup):
        timed_post(url, json.dumps({"email": f"warm{i}@example.com"}).encode(), expect)
    samples: dict[str, list[float]] = {"known": [], "unknown": []}
    for i in range(pairs):
        order = [("known", known), ("unknown", f"nobody{i}@example.com")]
        if i % 2:
            order.reverse()
        for kind, email in order:
            samples[kind].append(timed_post(url, json.dumps({"email": email}).encode(), expect))
    known_ms, unknown_ms = samples["known"], samples["unknown"]
    result = {
        "median_known_ms": statistics.median(known_ms),
        "median_unknown_ms": statistics.median(unknown_ms),
        "difference_ms": statistics.median(known_ms) - statistics.median(unknown_ms),
        "p_value": mannwhitneyu(known_ms, unknown_ms).pvalue,
        "pairs": pairs,
    }
    if keep_samples:
        result.update(known_ms=known_ms, unknown_ms=unknown_ms)
    return result
