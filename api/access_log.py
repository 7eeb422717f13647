"""gunicorn's access log, with reset tokens cut out of request paths, and cheaper to write.

gunicorn builds every atom for every request line (all request and response headers, the
whole WSGI environ, a formatted timestamp) and then copies them, whatever the format uses:
about a tenth of the CPU a reset request costs the web worker (docs/benchmarks.md). Here the
line's atoms are worked out when the format asks for them, each as gunicorn's ``atoms()``
would give it; ``tests/unit/test_access_log.py`` holds the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping

from gunicorn.glogging import Logger

# /accounts/reset/<uidb64>/<token>/ carries a live token until the view swaps it for the
# session; the log keeps the shape of the URL, not the secret.
from shared.infra.redaction import redact

# Atoms whose text may hold a request path.
_REDACTED = frozenset({"r", "U", "f"})


def _status(atoms: _Atoms) -> object:
    status = atoms.resp.status
    return status.split(None, 1)[0] if isinstance(status, str) else status


def _sent(atoms: _Atoms) -> str:
    sent = getattr(atoms.resp, "sent", None)
    return "-" if sent is None else str(sent)


# The atoms of the usual formats, each as gunicorn's Logger.atoms() computes it. Any other
# atom (headers, environ, user, time...) comes from gunicorn's own atoms(), built once.
_CHEAP = {
    "h": lambda a: a.environ.get("REMOTE_ADDR", "-"),
    "l": lambda a: "-",
    "r": lambda a: (
        f"{a.environ['REQUEST_METHOD']} {a.environ['RAW_URI']} {a.environ['SERVER_PROTOCOL']}"
    ),
    "m": lambda a: a.environ.get("REQUEST_METHOD"),
    "U": lambda a: a.environ.get("PATH_INFO"),
    "q": lambda a: a.environ.get("QUERY_STRING"),
    "H": lambda a: a.environ.get("SERVER_PROTOCOL"),
    "s": _status,
    "b": _sent,
    "B": lambda a: getattr(a.resp, "sent", None),
    "f": lambda a: a.environ.get("HTTP_REFERER", "-"),
    "a": lambda a: a.environ.get("HTTP_USER_AGENT", "-"),
    "T": lambda a: a.request_time.seconds,
    "D": lambda a: a.request_time.seconds * 1000000 + a.request_time.microseconds,
    "M": lambda a: a.request_time.seconds * 1000 + int(a.request_time.microseconds / 1000),
    "L": lambda a: f"{a.request_time.seconds}.{a.request_time.microseconds:06d}",
}


class _Atoms(Mapping):
    """One request's atoms, looked up as gunicorn's ``SafeAtoms`` would answer: quotes
    escaped, ``-`` for what is missing, header names in any case; paths redacted."""

    def __init__(self, logger, resp, req, environ, request_time):
        self.logger, self.resp, self.req = logger, resp, req
        self.environ, self.request_time = environ, request_time
        self._all = None

    def __getitem__(self, key: str):
        compute = _CHEAP.get(key)
        if compute is not None:
            value = compute(self)
            if isinstance(value, str):
                value = value.replace('"', '\\"')
        else:
            if self._all is None:
                self._all = self.logger.atoms_wrapper_class(
                    self.logger.atoms(self.resp, self.req, self.environ, self.request_time)
                )
            value = self._all[key]
        if key in _REDACTED and isinstance(value, str):
            value = redact(value)
        return value

    # logging passes a mapping on to the format only if it is a non-empty Mapping.
    def __len__(self) -> int:
        return len(_CHEAP)

    def __iter__(self):
        return iter(_CHEAP)


class RedactingLogger(Logger):
    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        try:
            self.access_log.info(
                self.cfg.access_log_format, _Atoms(self, resp, req, environ, request_time)
            )
        except Exception:
            self.exception("access log line not written")
