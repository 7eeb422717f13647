"""An SMTP server (aiosmtpd) that accepts every message and keeps it as a .eml file.

``make run`` starts it when EMAIL_URL is unset; read the mail under var/mail/ or, with DEBUG
on, at /dev/mail/. The tests use :class:`MailSink` too, as a real SMTP server on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import os
import signal
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from shared.devservices import free_port
from shared.infra.config import LOCAL_SMTP_PORT, VAR_DIR


class MailSinkHandler:
    """Keeps each message in memory and, when ``directory`` is given, as a .eml file.

    For fault tests it can misbehave like a real server: answer every recipient with a given
    reply (``rcpt_reply = "421 ..."``), refuse some addresses for good (``refused``, 550),
    answer DATA with a given reply (``data_reply = "451 ..."``), or take ``delay`` seconds
    per message.
    """

    def __init__(self, directory: Path | None = None):
        self.directory = directory
        # Messages are kept as received and parsed when first read: parsing costs about 2 ms
        # of CPU per message, which a benchmark's SMTP server must not take from the workers.
        self._raw: list[tuple[Envelope, bytes]] = []
        self._parsed: list[tuple[Envelope, EmailMessage]] = []
        self.received_at: list[float] = []
        self.peers: list[tuple] = []  # the client (address, port) of each message
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None
        self.refused: set[str] = set()
        self.refusals: Counter[str] = Counter()  # replies other than 250 given, by code
        self.delay = 0.0
        self.receiving = threading.Event()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        if directory:
            directory.mkdir(parents=True, exist_ok=True)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.lower() in self.refused:
            return self._refuse("550 5.1.1 No such mailbox")
        if self.rcpt_reply:
            return self._refuse(self.rcpt_reply)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope: Envelope) -> str:  # noqa: N802
        if self.data_reply:
            return self._refuse(self.data_reply)
        self.receiving.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode()
        if self.directory:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            path = self.directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
            path.write_bytes(raw)
        with self._arrived:
            self._raw.append((envelope, raw))
            self.received_at.append(time.monotonic())
            self.peers.append(tuple(session.peer))
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def _refuse(self, reply: str) -> str:
        with self._lock:
            self.refusals[reply[:3]] += 1
        return reply

    def _parse_new(self) -> None:  # with the lock held
        for envelope, raw in self._raw[len(self._parsed) :]:
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            self._parsed.append((envelope, parsed))

    @property
    def messages(self) -> list[tuple[Envelope, EmailMessage]]:
        """Every message received so far, in order, parsed."""
        with self._lock:
            self._parse_new()
            return list(self._parsed)

    def timed_messages(self) -> list[tuple[Envelope, EmailMessage, float]]:
        """Every message received so far with the ``time.monotonic()`` of its arrival, taken
        together (messages arriving meanwhile cannot pair a message with another's time)."""
        with self._lock:
            self._parse_new()
            pairs = zip(self._parsed, self.received_at, strict=True)
            return [(envelope, message, at) for (envelope, message), at in pairs]

    def clear(self) -> None:
        """Forget every message received so far."""
        with self._lock:
            self._raw.clear()
            self._parsed.clear()
            self.received_at.clear()
            self.peers.clear()

    def wait_count(self, count: int, timeout: float) -> int:
        """Block until at least ``count`` messages arrived or ``timeout`` passed; return how
        many arrived (without parsing them)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._raw) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.wait(remaining)
            return len(self._raw)

    def wait_for(self, count: int, timeout: float) -> list[tuple[Envelope, EmailMessage]]:
        """Block until at least ``count`` messages arrived or ``timeout`` passed; return them."""
        self.wait_count(count, timeout)
        return self.messages


class MailSink:
    """A real SMTP server on ``host:port`` in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, directory: Path | None = None):
        self.handler = MailSinkHandler(directory)
        self.host = host
        self.controller = Controller(self.handler, hostname=host, port=port or free_port(host))

    @property
    def port(self) -> int:
        return self.controller.port

    @property
    def url(self) -> str:
        return f"smtp://{self.controller.hostname}:{self.controller.port}"

    def start(self) -> MailSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def restart(self) -> MailSink:
        """Listen again on the same port (after ``stop()``, to end a 'connection refused')."""
        self.controller = Controller(self.handler, hostname=self.host, port=self.port)
        self.controller.start()
        return self


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("LOCAL_SMTP_PORT", LOCAL_SMTP_PORT))
    )
    parser.add_argument("--dir", type=Path, default=VAR_DIR / "mail")
    args = parser.parse_args()
    sink = MailSink(args.host, args.port, args.dir).start()
    print(
        f"SMTP sink on smtp://{args.host}:{sink.port}, keeping messages in {args.dir}", flush=True
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    sink.stop()


if __name__ == "__main__":
    main()
