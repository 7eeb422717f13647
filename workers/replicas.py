"""Run one command as N processes, as one unit: ``python -m workers.replicas [-n N] CMD...``.

A Celery worker on the threads pool sends many emails at once, but its Python runs on one core
at a time; on a machine with more cores the email worker is therefore N such processes. This
keeps them one command for the Procfile, docker-compose and operators:

* ``{n}`` in the command becomes each copy's number (1..N), for distinct Celery node names
  (``--hostname email-{n}@%h``).
* SIGTERM, SIGINT and SIGQUIT are passed on to every copy. The copies run in their own
  sessions, so a Ctrl-C on the terminal reaches each of them once, through this process, and
  not also directly (for Celery a second SIGINT means a cold shutdown). The copies die with
  this process (PR_SET_PDEATHSIG) if it is killed.
* If a copy exits on its own, the others are stopped and this process exits with its status,
  so that the supervisor (docker, systemd, honcho) restarts the whole unit.

N is ``--processes``, else ``$WORKER_PROCESSES``, else the number of CPU cores.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
PR_SET_PDEATHSIG = 1


def _prepare_child() -> None:  # runs in the child, between fork and exec
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def default_processes() -> int:
    value = os.environ.get("WORKER_PROCESSES", "")
    return int(value) if value.strip() else (os.cpu_count() or 1)


def run(command: list[str], processes: int) -> int:
    """Start ``processes`` copies of ``command`` and supervise them; return the exit status."""
    stopping: list[int] = []  # the signal that asked us to stop, if any

    def forward(signum, _frame) -> None:
        stopping.append(signum)
        for child in children:
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signum)

    children: list[subprocess.Popen] = []
    for signum in FORWARDED:
        signal.signal(signum, forward)
    # A signal that comes while the copies start is handled once they all exist.
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    try:
        for n in range(1, processes + 1):
            argv = [arg.replace("{n}", str(n)) for arg in command]
            children.append(
                subprocess.Popen(argv, start_new_session=True, preexec_fn=_prepare_child)  # noqa: S603, PLW1509
            )
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    status = 0
    running = list(children)
    while running:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break
        child = next((c for c in running if c.pid == pid), None)
        if child is None:
            continue
        running.remove(child)
        code = os.waitstatus_to_exitcode(wait_status)
        child.returncode = code
        if not stopping:
            # A copy ended on its own: stop the rest and report it.
            print(
                f"replicas: process {children.index(child) + 1} (pid {pid}) exited with "
                f"{code}; stopping the others",
                file=sys.stderr,
                flush=True,
            )
            status = code if code > 0 else 1
            stopping.append(signal.SIGTERM)
            for other in running:
                with contextlib.suppress(ProcessLookupError):
                    other.send_signal(signal.SIGTERM)
        elif code != 0 and status == 0 and code != -stopping[0]:
            status = code if code > 0 else 1
    return status


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m workers.replicas",
        description="Run a command as N supervised processes; {n} in it becomes 1..N.",
    )
    parser.add_argument("-n", "--processes", type=int, default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("a command is required")
    processes = args.processes if args.processes is not None else default_processes()
    if processes < 1:
        parser.error("--processes must be at least 1")
    sys.exit(run(command, processes))


if __name__ == "__main__":
    main()
