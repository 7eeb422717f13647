"""DEBUG only, loopback only: read what the local SMTP sink (``make run``) received, under
var/mail/. Every message there holds a live reset link, so the page answers only with DEBUG on
and only a client on this machine: one whose socket address is loopback and that came through
no proxy (a proxy on this machine would make every client look local)."""

from __future__ import annotations

import email
import email.policy
import ipaddress
from pathlib import Path

from django.conf import settings
from django.http import Http404
from django.shortcuts import render

from shared.infra.config import VAR_DIR


def mail_dir() -> Path:
    return VAR_DIR / "mail"


def _load(path: Path):
    with path.open("rb") as fh:
        return email.message_from_binary_file(fh, policy=email.policy.default)


def _from_this_machine(request) -> bool:
    if "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _debug_only(view):
    def wrapped(request, *args, **kwargs):
        # The Host header is the client's to choose: only the socket's address counts.
        if not settings.DEBUG or not _from_this_machine(request):
            raise Http404("the mail page exists only with DEBUG on, for this machine")
        return view(request, *args, **kwargs)

    return wrapped


@_debug_only
def mailbox(request):
    files = sorted(mail_dir().glob("*.eml"), reverse=True)[:200]
    messages = []
    for path in files:
        msg = _load(path)
        messages.append(
            {"name": path.stem, "to": msg["To"], "subject": msg["Subject"], "date": msg["Date"]}
        )
    return render(request, "dev/mailbox.html", {"messages": messages, "mail_dir": mail_dir()})


@_debug_only
def message(request, name: str):
    path = mail_dir() / f"{name}.eml"
    if not name.replace("-", "").replace("_", "").isalnum() or not path.is_file():
        raise Http404("no such message")
    msg = _load(path)
    text = msg.get_body(preferencelist=("plain",))
    return render(
        request,
        "dev/message.html",
        {
            "msg": msg,
            "name": name,
            "text": text.get_content() if text else "",
            "headers": list(msg.items()),
        },
    )
