"""`make run` as a newcomer meets it: the README's "Try it" waits until the stack is ready, a
port that is taken stops it before anything starts, every line says which process wrote it,
and its exit status tells a failure from a Ctrl-C."""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from shared.devservices import free_port
from tests.waiting import eventually

pytestmark = pytest.mark.spawns

ROOT = Path(__file__).resolve().parents[2]
PORT_VARIABLES = ("PORT", "FLOWER_PORT", "LOCAL_REDIS_PORT", "LOCAL_SMTP_PORT")
PROCESSES = [
    line.partition(":")[0] for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
]


@contextmanager
def listening():
    """A port some other server holds, on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def make(*args: str, var_dir: Path, timeout: float = 120, **env: str):
    """``make *args`` in the repository, with each port `make run` uses free unless ``env``
    names it, and ``var_dir`` for local state. Everything it starts is stopped at the end."""
    unset = {*PORT_VARIABLES, "DATABASE_URL", "REDIS_URL", "EMAIL_URL", "DEBUG", "MAKEFLAGS"}
    environment = {k: v for k, v in os.environ.items() if k not in unset}
    environment.update({name: str(free_port()) for name in PORT_VARIABLES})
    environment.update(VAR_DIR=str(var_dir), WORKER_PROCESSES="2", **env)
    process = subprocess.Popen(["make", "--no-print-directory", *args], cwd=ROOT, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        stop_group(process)
    return process.returncode, out, err


def stop_group(process: subprocess.Popen) -> None:
    """Whatever is left of ``process``'s group (it leads one of its own) is killed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize(
    ("variable", "process", "instead"),
    [
        ("PORT", "the web server", "choose another port: make run PORT="),
        ("FLOWER_PORT", "Flower", "choose another port: make run FLOWER_PORT="),
        ("LOCAL_REDIS_PORT", "the local Redis, as REDIS_URL is unset",
         "use a Redis of your own: make run REDIS_URL="),
        ("LOCAL_SMTP_PORT", "the local SMTP sink, as EMAIL_URL is unset",
         "use an SMTP server of your own: make run EMAIL_URL="),
    ],
)  # fmt: skip
def test_a_port_that_is_taken_stops_make_run_before_anything_starts(
    variable, process, instead, tmp_path
):
    with listening() as port:
        status, out, err = make("run", var_dir=tmp_path, **{variable: str(port)})
    assert status != 0
    assert f"make run: port {port} ({process}, on 127.0.0.1) is already in use." in err
    assert instead in err
    assert "make run: nothing was started." in err
    assert "Starting the password reset service" not in out  # no banner of URLs that fail
    assert "migrate" not in out
    assert not (tmp_path / "db.sqlite3").exists()


def test_one_port_for_two_processes_stops_make_run_too(tmp_path):
    port = str(free_port())
    status, out, err = make("run", var_dir=tmp_path, PORT=port, FLOWER_PORT=port)
    assert status != 0
    assert f"make run: port {port} would serve both the web server and Flower" in err
    assert "Starting the password reset service" not in out


def test_the_port_check_says_nothing_when_every_port_is_free():
    environment = {**os.environ, **{name: str(free_port()) for name in PORT_VARIABLES}}
    result = subprocess.run([sys.executable, "-m", "shared.devservices.ports", "redis", "mail"],
                            cwd=ROOT, env=environment, capture_output=True, text=True)  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def run_recipes_honcho_command() -> str:
    """The command that starts every process, as `make run` hands it to the shell."""
    dry = subprocess.run(["make", "--no-print-directory", "-n", "run"], cwd=ROOT,
                         env={**os.environ, "WORKER_PROCESSES": "2"},
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    [command] = [line for line in dry.stdout.replace("\\\n", " ").splitlines()
                 if "/honcho start " in line]  # fmt: skip
    return command


class Stack:
    """`make run`'s own honcho command over a Procfile whose processes are small shell
    commands (``sleep`` unless given), each named as in the real Procfile."""

    def __init__(self, directory: Path, **commands: str):
        procfile = "".join(f"{name}: {commands.get(name, 'exec sleep 60')}\n" for name in PROCESSES)
        (directory / "Procfile").write_text(procfile)
        (directory / ".venv").symlink_to(ROOT / ".venv")  # the recipe names .venv/bin/honcho
        self.lines: list[str] = []
        self.process = subprocess.Popen(["bash", "-c", run_recipes_honcho_command()],
                                        cwd=directory, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def shows(self, pattern: str, timeout: float = 30) -> bool:
        return eventually(lambda: any(re.search(pattern, ln) for ln in self.lines), timeout)

    def signal_all(self, signum: int) -> None:
        """As a terminal's Ctrl-C, or `kill %1` on a background job: the whole group."""
        os.killpg(self.process.pid, signum)

    def status(self, timeout: float = 30) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            stop_group(self.process)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_each_line_names_its_process_and_a_stop_ends_make_run_quietly(tmp_path, stop):
    stack = Stack(tmp_path, web="echo hello from web; exec sleep 60")
    assert stack.shows(r"^\S+ web\.1 +\| hello from web$"), stack.lines
    assert stack.shows(r"\| worker-email\.2 started"), stack.lines  # WORKER_PROCESSES copies
    time.sleep(0.5)  # every process started
    stack.signal_all(stop)
    assert stack.status() == 0, stack.lines


def test_a_process_that_fails_stops_the_others_and_make_run_fails_with_its_status(tmp_path):
    stack = Stack(tmp_path, **{"worker-security": "echo cannot reach Redis; exit 3"})
    assert stack.status() == 3, stack.lines
    assert any(re.search(r"worker-security\.1 +\| cannot reach Redis$", ln) for ln in stack.lines)
    assert any("sending SIGTERM to web.1" in line for line in stack.lines)


def try_it_commands() -> list[str]:
    """The README's "Try it" block, a command a line (continuations joined, comments cut)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("Try it:\n\n```sh\n", 1)[1].split("```", 1)[0]
    commands = block.replace("\\\n", " ").splitlines()
    return [c.split("  #")[0].strip() for c in commands if c.strip() and not c.startswith("#")]


def test_the_readme_try_it_waits_for_readiness_before_it_uses_the_stack():
    commands = try_it_commands()
    assert commands[:2] == ["make run &", "make wait"]
    assert any(".venv/bin/python" in c for c in commands[2:])
    assert any("curl" in c and "localhost:8000" in c for c in commands[2:])


class Readyz(http.server.BaseHTTPRequestHandler):
    """/readyz as the web server answers it while Redis is still starting: 503 for the
    server's first ``unready_answers`` requests, then 200."""

    def do_GET(self):  # noqa: N802
        self.server.asked += 1
        ready = self.server.asked > self.server.unready_answers
        body = b'{"checks": {"database": "ok", "redis": "%s"}}' % (
            b"ok" if ready else b"unavailable"
        )
        self.send_response(200 if ready else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def readyz(unready_answers: int):
    server = http.server.HTTPServer(("127.0.0.1", 0), Readyz)
    server.asked, server.unready_answers = 0, unready_answers
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_make_wait_returns_once_readyz_answers_200(tmp_path):
    with readyz(unready_answers=2) as server:
        status, out, err = make("wait", var_dir=tmp_path, PORT=str(server.server_port),
                                WAIT_TIMEOUT="30")  # fmt: skip
    assert status == 0, err
    assert server.asked == 3
    assert out == f"ready: http://127.0.0.1:{server.server_port}/readyz\n"


def test_make_wait_gives_up_after_wait_timeout_saying_what_it_saw_last(tmp_path):
    with readyz(unready_answers=10**6) as server:
        status, out, err = make("wait", var_dir=tmp_path, PORT=str(server.server_port),
                                WAIT_TIMEOUT="2")  # fmt: skip
    assert status != 0
    assert (
        f"make wait: http://127.0.0.1:{server.server_port}/readyz not ready after 2 s "
        '(503 {"checks": {"database": "ok", "redis": "unavailable"}})'
    ) in err
