"""CI's own rules for the suite: with CI=true a skipped test fails the run (CI has every
service), and the slowest tests are listed. Run on a throwaway test file, in a new pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SAMPLE = """
import pytest

def test_that_runs():
    pass

@pytest.mark.skip(reason="no chromium here")
def test_that_skips():
    pass
"""


def run_sample(tmp_path, ci: str | None):
    sample = tmp_path / "test_sample.py"
    sample.write_text(SAMPLE)
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "1", "VAR_DIR": str(tmp_path / "var")}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(  # noqa: S603 - this interpreter, our own test file
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-c", str(ROOT / "pyproject.toml"), str(sample)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_in_ci_a_skipped_test_fails_the_run_and_is_named(tmp_path):
    result = run_sample(tmp_path, ci="true")

    assert result.returncode == 1, result.stdout
    assert "CI=true: 1 test(s) skipped" in result.stdout
    assert "test_sample.py::test_that_skips: Skipped: no chromium here" in result.stdout


def test_outside_ci_a_skip_is_reported_and_passes(tmp_path):
    result = run_sample(tmp_path, ci=None)

    assert result.returncode == 0, result.stdout
    assert "SKIPPED [1]" in result.stdout
    assert "no chromium here" in result.stdout


def test_the_slowest_tests_are_listed(tmp_path):
    result = run_sample(tmp_path, ci=None)

    assert "slowest 15 durations" in result.stdout
