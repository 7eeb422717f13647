"""PNG charts of the benchmark results (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _bar(path: Path, labels, values, title: str, ylabel: str, colors=None) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4.5))
    bars = ax.bar(labels, values, color=colors)
    ax.bar_label(bars, fmt="%.0f" if max(values) >= 10 else "%.2f")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelrotation=25)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def draw_all(summary: dict) -> list[Path]:
    out: list[Path] = []
    api = summary.get("api_throughput")
    if api:
        runs = api["runs"]
        names = list(runs)
        colors = ["#1f6feb" if n.startswith(("ours", "floor")) else "#8c959f" for n in names]
        out.append(
            _bar(
                RESULTS / "throughput.png",
                names,
                [runs[n]["rps"] for n in names],
                "Reset requests per second (wrk, 8 connections)",
                "requests/s",
                colors,
            )
        )
        out.append(
            _bar(
                RESULTS / "latency_p99.png",
                names,
                [runs[n]["p99_us"] / 1000 for n in names],
                "Reset request p99 latency",
                "ms",
                colors,
            )
        )
        kvu = api["known_vs_unknown"]
        out.append(
            _bar(
                RESULTS / "known_vs_unknown.png",
                list(kvu),
                [abs(row["difference_ms"]) for row in kvu.values()],
                "Known minus unknown address: median latency difference",
                "ms",
            )
        )
    delivery = summary.get("delivery")
    if delivery and "worker_throughput" in delivery:
        rows = delivery["worker_throughput"]
        out.append(
            _bar(
                RESULTS / "worker_throughput.png",
                [
                    f"{r['smtp_delay_ms']:.0f} ms SMTP"
                    + (", events on" if r.get("task_events") else "")
                    for r in rows
                ],
                [r["per_second"] for r in rows],
                "One email worker: messages per second",
                "messages/s",
            )
        )
    if delivery and "end_to_end" in delivery:
        e2e = delivery["end_to_end"]
        out.append(
            _bar(
                RESULTS / "end_to_end.png",
                ["p50", "p90", "p99", "max"],
                [e2e["p50_ms"], e2e["p90_ms"], e2e["p99_ms"], e2e["max_ms"]],
                f"Request to SMTP acceptance at {e2e['rate']:.0f} requests/s",
                "ms",
            )
        )
        mem = e2e["peak_rss_mb"]
        out.append(
            _bar(
                RESULTS / "memory.png",
                list(mem),
                list(mem.values()),
                "Peak resident memory under load (process tree)",
                "MB",
            )
        )
    return out
