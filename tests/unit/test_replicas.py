"""``python -m workers.replicas``: N copies of a command, started, signalled and stopped as one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.waiting import eventually

CHILD = """
import signal, sys, time
n, out = sys.argv[1], sys.argv[2]
def note(line):
    with open(out + n, "a") as f:
        f.write(line + "\\n")
def on_signal(signum, frame):
    note(f"signal {signum}")
    if signum == signal.SIGTERM:
        sys.exit(0)
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
note("started")
if len(sys.argv) > 4 and n == sys.argv[3]:  # this copy fails, once all of them run
    others = [str(i) for i in range(1, int(sys.argv[4]) + 1) if str(i) != n]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if all("started" in open(out + i).read() for i in others):
                break
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    sys.exit(3)
while True:
    time.sleep(0.05)
"""


@pytest.fixture
def child(tmp_path: Path) -> Path:
    path = tmp_path / "child.py"
    path.write_text(CHILD)
    return path


def start(child: Path, out: Path, *extra: str, processes: int = 3) -> subprocess.Popen:
    command = [sys.executable, "-m", "workers.replicas", "--processes", str(processes), "--",
               sys.executable, str(child), "{n}", str(out), *extra]  # fmt: skip
    return subprocess.Popen(command, start_new_session=True)  # noqa: S603


def notes(out: Path, n: int) -> list[str]:
    path = Path(f"{out}{n}")
    return path.read_text().splitlines() if path.exists() else []


def wait_started(out: Path, processes: int, timeout: float = 10) -> None:
    started = eventually(
        lambda: all("started" in notes(out, n) for n in range(1, processes + 1)), timeout
    )
    if not started:
        raise AssertionError("the copies did not all start")


def test_each_copy_gets_its_number_and_sigterm_stops_them_all(child, tmp_path):
    out = tmp_path / "out"
    launcher = start(child, out)
    wait_started(out, 3)
    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(timeout=10) == 0
    for n in (1, 2, 3):
        assert notes(out, n) == ["started", f"signal {int(signal.SIGTERM)}"]
    assert not Path(f"{out}4").exists()


def test_ctrl_c_on_the_terminal_reaches_each_copy_once(child, tmp_path):
    """A terminal's Ctrl-C goes to the launcher's whole process group; a copy must not get it a
    second time from the launcher (for Celery, a second SIGINT is a cold shutdown)."""
    out = tmp_path / "out"
    launcher = start(child, out, processes=2)
    wait_started(out, 2)
    os.killpg(launcher.pid, signal.SIGINT)
    assert eventually(lambda: all(len(notes(out, n)) >= 2 for n in (1, 2)), timeout=10)
    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(timeout=10) == 0
    # A second SIGINT from the launcher would have been sent before its SIGTERM, and a
    # pending SIGINT is delivered before a pending SIGTERM: it would show between the two.
    for n in (1, 2):
        assert notes(out, n) == [
            "started",
            f"signal {int(signal.SIGINT)}",
            f"signal {int(signal.SIGTERM)}",
        ]


def test_a_copy_that_dies_stops_the_others_and_sets_the_exit_status(child, tmp_path):
    out = tmp_path / "out"
    launcher = start(child, out, "2", "3")
    assert launcher.wait(timeout=10) == 3
    assert notes(out, 1) == ["started", f"signal {int(signal.SIGTERM)}"]
    assert notes(out, 2) == ["started"]
    assert notes(out, 3) == ["started", f"signal {int(signal.SIGTERM)}"]


def test_the_copies_die_with_a_killed_launcher(child, tmp_path):
    out = tmp_path / "out"
    launcher = start(child, out, processes=2)
    wait_started(out, 2)
    launcher.kill()
    launcher.wait(timeout=10)
    # Each copy's SIGTERM handler exits: once noted, nothing can follow it.
    expected = ["started", f"signal {int(signal.SIGTERM)}"]
    assert eventually(lambda: all(notes(out, n) == expected for n in (1, 2)), timeout=10)
