"""The summary `make mutate` ends with: mutmut's results per module, checked against the
verdicts in docs/mutation-testing.md.

Every surviving mutant must have a row in that document's table of equivalent mutants
(`| `name` | equivalent | why |`). The report prints the per-module table the document
carries, lists survivors that have no row (open: a rule no test guards) and rows whose mutant
no longer survives (stale), and exits 1 if any survivor is open.

Usage: ``python -m tests.mutation_report`` from the repository, after ``mutmut run``.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "mutation-testing.md"
ROW = re.compile(r"^\| `(?P<name>[\w.ǁ]+__mutmut_\d+)` \| (?P<verdict>[^|]+?) \|")

# mutmut's own verdict for each exit code, folded into what the report counts.
KILLED = {"killed", "timeout"}
NOT_RUN = {"not checked", "no tests", "skipped", "check was interrupted by user"}


def results(mutants: Path) -> dict[str, int | None]:
    """Every mutant's exit code, by name, from mutmut's ``.meta`` files."""
    codes: dict[str, int | None] = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    return codes


def verdicts(doc: Path = DOC) -> dict[str, str]:
    return {
        match["name"]: match["verdict"].strip()
        for line in doc.read_text().splitlines()
        if (match := ROW.match(line))
    }


def module_of(name: str) -> str:
    return name.rsplit(".", 1)[0]


def summarise(codes: dict[str, int | None], known: dict[str, str]) -> dict:
    rows: dict[str, Counter] = {}
    status = {name: status_by_exit_code[code] for name, code in codes.items()}
    for name, verdict in status.items():
        row = rows.setdefault(module_of(name), Counter())
        row["mutants"] += 1
        if verdict in KILLED:
            row["killed"] += 1
        elif verdict == "survived":
            row["equivalent" if known.get(name) == "equivalent" else "open"] += 1
        elif verdict in NOT_RUN:
            row["not run"] += 1
        else:
            row["other"] += 1
    survivors = {name for name, verdict in status.items() if verdict == "survived"}
    return {
        "rows": rows,
        "open": sorted(name for name in survivors if known.get(name) != "equivalent"),
        "stale": sorted(name for name in known if name not in survivors),
        "odd": sorted(
            name
            for name, verdict in status.items()
            if verdict not in KILLED | NOT_RUN | {"survived"}
        ),  # fmt: skip
    }


COLUMNS = ["mutants", "killed", "equivalent", "open", "not run", "other"]


def markdown(summary: dict) -> str:
    lines = [
        "| module | " + " | ".join(COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    total: Counter = Counter()
    for module, row in sorted(summary["rows"].items()):
        total.update(row)
        lines.append(f"| `{module}` | " + " | ".join(str(row[c]) for c in COLUMNS) + " |")
    lines.append("| **all** | " + " | ".join(f"**{total[c]}**" for c in COLUMNS) + " |")
    scored = total["mutants"] - total["equivalent"] - total["not run"]
    if scored:
        lines.append("")
        lines.append(
            f"Score: {total['killed']} of {scored} non-equivalent mutants run are killed "
            f"({100 * total['killed'] / scored:.1f} %)."
        )
    return "\n".join(lines)


def main() -> int:
    summary = summarise(results(ROOT / "mutants"), verdicts())
    print(markdown(summary))
    for title, names in (
        ("Open (survived, no verdict in docs/mutation-testing.md)", summary["open"]),
        ("Stale verdicts (mutant no longer survives)", summary["stale"]),
        ("Neither killed nor survived (segfault, suspicious)", summary["odd"]),
    ):
        if names:
            print(f"\n{title}:")
            print("\n".join(f"  {name}" for name in names))
    return 1 if summary["open"] or summary["odd"] else 0


if __name__ == "__main__":
    sys.exit(main())
