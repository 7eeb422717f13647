"""On a bare machine the suite runs on SQLite, where two rules cannot fail: single use under a
race (SQLite runs one writer at a time) and the look-alike address rule (SQLite folds case
for ASCII only, so `mıke@` never even matches `mike@` there). This runs their tests again, in
a pytest of their own, on a real PostgreSQL: an embedded one (pgserver) started here. Where
the suite itself runs on PostgreSQL (CI), they ran already and this test is deselected."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]

# pgserver logs its clean-up at interpreter exit, after pytest has closed its streams.
logging.getLogger("pgserver").setLevel(logging.WARNING)

POSTGRES_PROVES = [
    "tests/integration/test_reset_concurrency.py",
    "tests/unit/test_reset_email_handler.py::test_unicode_lookalike_addresses_are_never_mailed",
    "tests/unit/test_reset_codes.py::test_a_lookalike_address_cannot_use_the_code",
]


@pytest.mark.without_postgres_only
def test_the_rules_only_postgresql_can_prove_hold_on_an_embedded_postgresql(tmp_path):
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # noqa: S108 - platformdirs asks for one
    import pgserver

    data = tmp_path / "pg"
    server = pgserver.get_server(str(data), cleanup_mode="stop")
    try:
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://postgres@{quote(str(data), safe='')}/postgres",
            "CI": "true",  # there, a skipped test fails the run
        }
        result = subprocess.run(  # noqa: S603 - this interpreter, our own tests
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *POSTGRES_PROVES],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        server.cleanup()
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-4000:]
    assert re.search(r"\b4 passed\b", summary), summary  # 1 race + 2 look-alikes + 1 code
    assert "skipped" not in summary
