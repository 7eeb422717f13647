"""Before ``make run`` starts anything: every port it is about to listen on must be free.

Otherwise the banner would print its URLs, every process would start, and the one that cannot
listen would stop the others a hundred lines later. ``python -m shared.devservices.ports
[redis] [mail]`` (naming the stand-ins that will start) exits 1 with a line per taken port.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import NamedTuple

from shared.infra.config import LOCAL_REDIS_PORT, LOCAL_SMTP_PORT


class Listener(NamedTuple):
    process: str  # as the person running `make run` knows it
    host: str
    port: int
    instead: str  # the way out: another port, or a server of one's own


def listeners(standins: list[str]) -> list[Listener]:
    """What ``make run`` will listen on, read from the variables its processes read."""
    web = int(os.environ.get("PORT", "8000"))
    flower = int(os.environ.get("FLOWER_PORT", "5555"))
    found = [
        Listener(
            "the web server",
            os.environ.get("BIND_ADDRESS", "127.0.0.1"),
            web,
            f"choose another port: make run PORT={web + 1}",
        ),
        Listener(
            "Flower",
            os.environ.get("FLOWER_ADDRESS", "127.0.0.1"),
            flower,
            f"choose another port: make run FLOWER_PORT={flower + 1}",
        ),
    ]
    if "redis" in standins:
        found.append(
            Listener(
                "the local Redis, as REDIS_URL is unset",
                "127.0.0.1",
                int(os.environ.get("LOCAL_REDIS_PORT", LOCAL_REDIS_PORT)),
                "use a Redis of your own: make run REDIS_URL=redis://HOST:6379/0",
            )
        )
    if "mail" in standins:
        found.append(
            Listener(
                "the local SMTP sink, as EMAIL_URL is unset",
                "127.0.0.1",
                int(os.environ.get("LOCAL_SMTP_PORT", LOCAL_SMTP_PORT)),
                "use an SMTP server of your own: make run EMAIL_URL=smtp://HOST:25",
            )
        )
    return found


def is_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now. With SO_REUSEADDR, as the servers
    bind: connections that a server just stopped left in TIME_WAIT do not hold the port."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror:
        return True  # a bad address is the server's to report, in its own words
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError:
            return False
    return True


def problems(standins: list[str]) -> list[str]:
    """A sentence for each port that is taken, or that two of the processes would need."""
    found: list[str] = []
    claimed: dict[int, str] = {}
    for listener in listeners(standins):
        if listener.port in claimed:
            found.append(
                f"port {listener.port} would serve both {claimed[listener.port]} and "
                f"{listener.process}: {listener.instead}"
            )
        elif not is_free(listener.host, listener.port):
            found.append(
                f"port {listener.port} ({listener.process}, on {listener.host}) is already in "
                f"use. Is another `make run` still running? Stop it, or {listener.instead}"
            )
        claimed.setdefault(listener.port, listener.process)
    return found


def main(standins: list[str]) -> int:
    found = problems(standins)
    for sentence in found:
        print(f"make run: {sentence}", file=sys.stderr)
    if found:
        print("make run: nothing was started.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
