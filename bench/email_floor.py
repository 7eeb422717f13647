"""The floor under issue 16's CPU target: what one reset email costs with Django's own mail
machinery, before any queue, broker or database is involved.

Table 13 (bench/cpu_per_reset.py) measures whole deployments. This script answers a narrower
question: how much of the worker's share is the email itself, which no change to queues or
round trips can remove? In this process, for ``--emails`` reset emails to an SMTP sink running
in another process (0 ms a message, its CPU not counted), it takes the CPU time
(``time.process_time``: user + system of this process) per email of:

* ``ours``: ``workers.emails.send_templated_email("password_reset", ...)``, the worker's own
  call: three templates (subject, text, HTML) rendered, the MIME message written and sent on
  the connection the worker keeps open;
* ``ours, templates only``: the three ``render_to_string`` calls;
* ``ours, message only``: the MIME message written (``message().as_bytes()``), not sent;
* ``as dj-rest-auth sends it``: ``PasswordResetForm.send_mail`` with Django's own templates
  (subject and text, no HTML part), on a new SMTP connection per email, which is what a peer's
  request does after its database work.

Then, from the API, Redis and peer figures of the last ``cpu_per_reset`` run
(bench/results/cpu_per_reset.json, which ``make bench`` writes just before; or the arguments),
what the target (ours at most 0.8 x the cheaper peer) leaves the worker per message.

    .venv/bin/python -m bench.email_floor [--emails 3000] [--api-ms 3.26 --peer-ms 5.42]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "email_floor.json"
sys.path.insert(0, str(ROOT))


def run_sink(ready) -> None:
    """An aiosmtpd sink in its own process, so that its CPU is not this process's."""
    from shared.devservices.mailsink import MailSink

    sink = MailSink().start()  # messages kept in memory
    ready.put(sink.url)
    while True:
        time.sleep(3600)


def setup_django(email_url: str, var_dir: str) -> None:
    import secrets

    from shared.accounts.signing_keys import generate_private_key

    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("JWT_SIGNING_KEY", generate_private_key("ES256"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "api.settings",
            "EMAIL_URL": email_url,
            "VAR_DIR": var_dir,
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "SECURE_SSL_REDIRECT": "0",
        }
    )
    os.environ.pop("DATABASE_URL", None)  # nothing here touches a database
    import django

    django.setup()


def per_email_ms(label: str, send, count: int, warmup: int) -> dict:
    for i in range(warmup):
        send(i)
    start = time.process_time()
    wall = time.perf_counter()
    for i in range(count):
        send(i)
    cpu = time.process_time() - start
    return {
        "what": label,
        "cpu_ms_per_email": round(cpu * 1000 / count, 3),
        "wall_ms_per_email": round((time.perf_counter() - wall) * 1000 / count, 3),
    }


def measure(count: int, warmup: int) -> list[dict]:
    from django.conf import settings
    from django.contrib.auth.forms import PasswordResetForm
    from django.contrib.auth.models import User
    from django.template.loader import render_to_string
    from django.utils import translation

    from workers import emails

    user = User(pk=1, username="reader", email="reader@example.test")

    def context(i: int) -> dict:
        return {
            "user": user,
            "reset_url": f"{settings.PUBLIC_BASE_URL}/reset/MQ/{'t' * 20}{i}/",
            "reset_code": f"{i:08d}",
            "lifetime_minutes": 60,
            "code_lifetime_minutes": 15,
            "site_url": settings.PUBLIC_BASE_URL,
            "code_url": settings.PUBLIC_BASE_URL + "/reset/code/",
            "requested_ip": "127.0.0.1",
        }

    def ours(i: int) -> None:
        to = f"user{i}@example.test"
        emails.send_templated_email("password_reset", to=to, context=context(i))

    def templates_only(i: int) -> None:
        for part in ("_subject.txt", ".txt", ".html"):
            render_to_string(f"emails/password_reset{part}", context(i))

    rendered = [
        render_to_string(f"emails/password_reset{part}", context(0))
        for part in ("_subject.txt", ".txt", ".html")
    ]

    def message_only(i: int) -> None:
        message = emails.TemplatedEmail(
            " ".join(rendered[0].split()), rendered[1], settings.DEFAULT_FROM_EMAIL,
            [f"user{i}@example.test"],
        )  # fmt: skip
        message.attach_alternative(rendered[2], "text/html")
        message.message().as_bytes()

    form = PasswordResetForm()

    def as_peer(i: int) -> None:
        form.send_mail(
            "registration/password_reset_subject.txt",
            "registration/password_reset_email.html",
            {
                "email": f"user{i}@example.test", "domain": "example.test",
                "site_name": "example", "uid": "MQ", "user": user, "token": "t" * 39,
                "protocol": "https",
            },
            settings.DEFAULT_FROM_EMAIL,
            f"user{i}@example.test",
        )  # fmt: skip

    with translation.override("en"):
        rows = [
            per_email_ms("ours (templates + message + send, kept connection)", ours, count, warmup),
            per_email_ms("ours, templates only", templates_only, count, warmup),
            per_email_ms("ours, message only (not sent)", message_only, count, warmup),
            per_email_ms("as dj-rest-auth sends it (new connection each)", as_peer, count, warmup),
        ]
    emails.close_connection()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emails", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--api-ms", type=float, help="ours' API CPU per reset")
    parser.add_argument("--redis-ms", type=float, help="Redis CPU per reset")
    parser.add_argument("--peer-ms", type=float, help="the cheaper peer's total")
    args = parser.parse_args()
    last = last_cpu_per_reset()
    api_ms = args.api_ms if args.api_ms is not None else last["api"]
    redis_ms = args.redis_ms if args.redis_ms is not None else last["redis"]
    peer_ms = args.peer_ms if args.peer_ms is not None else last["peer"]

    ready = multiprocessing.Queue()
    sink = multiprocessing.Process(target=run_sink, args=(ready,), daemon=True)
    sink.start()
    try:
        url = ready.get(timeout=30)
        with tempfile.TemporaryDirectory() as var_dir:
            setup_django(url, var_dir)
            rows = measure(args.emails, args.warmup)
    finally:
        sink.terminate()

    print(f"\nCPU per reset email, {args.emails} emails, SMTP sink at 0 ms in another process\n")
    print("| what | CPU ms per email | wall ms per email |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['what']} | {row['cpu_ms_per_email']:.3f} | {row['wall_ms_per_email']:.3f} |")
    budget = 0.8 * peer_ms - api_ms - redis_ms
    ours = rows[0]["cpu_ms_per_email"]
    print(
        f"\nFrom {last['source']}: target 0.8 x {peer_ms:.2f} = {0.8 * peer_ms:.2f} ms; API "
        f"{api_ms:.2f} + Redis {redis_ms:.2f} leave the worker {budget:.2f} ms a message. The "
        f"email alone costs {ours:.2f} ms ({ours / budget:.1f} x that budget) before the worker "
        "receives, looks up or acknowledges anything."
    )
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(
        json.dumps(
            {
                "emails": args.emails,
                "rows": rows,
                "api_ms": api_ms,
                "redis_ms": redis_ms,
                "cheaper_peer_ms": peer_ms,
                "worker_budget_ms": budget,
            },
            indent=1,
        )  # fmt: skip
        + "\n"
    )


def last_cpu_per_reset() -> dict:
    """The medians of the last bench.cpu_per_reset run, or the 943ff92 run's if there is none."""
    try:
        median = json.loads((RESULT.parent / "cpu_per_reset.json").read_text())["median"]
    except (OSError, ValueError, KeyError):
        return {"api": 3.26, "redis": 0.33, "peer": 5.42, "source": "the 943ff92 run (table 13)"}
    return {
        "api": median["ours"]["api"],
        "redis": median["ours"]["redis"],
        "peer": min(median[peer]["total"] for peer in ("dj-rest-auth", "djoser")),
        "source": "bench/results/cpu_per_reset.json",
    }


if __name__ == "__main__":
    main()
