"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that verifies each delivery's
signature with the standardwebhooks library, as a subscriber would, and records it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    payload: dict | None  # the verified JSON body; None when the signature did not verify
    status: int  # what the receiver answered


@dataclass
class Receiver:
    secret: str | None = None
    # Statuses to answer, first to last; 200 once they are used up.
    answers: list[int] = field(default_factory=list)
    # Seconds to wait before answering (a slow receiver); ended early by stop().
    delay: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    started: int = 0  # requests received, answered or not

    def __post_init__(self):
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    @property
    def verified(self) -> list[dict]:
        return [d.payload for d in self.deliveries if d.payload is not None and d.status < 300]

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                with receiver._lock:
                    receiver.started += 1
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload = Webhook(receiver.secret or "whsec_AAAA").verify(body, headers)
                except WebhookVerificationError:
                    payload = None
                if receiver.delay:
                    receiver._stopping.wait(receiver.delay)
                with receiver._lock:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.deliveries.append(Delivery(headers, body, payload, status))
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args):
                pass

        return Handler
