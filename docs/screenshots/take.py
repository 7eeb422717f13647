"""Screenshots of every HTML page at phone and desktop width (light theme), into docs/screenshots/.

Run from the repository's root: ``make screenshots``, or ``.venv/bin/python -m
docs.screenshots.take``. It needs nothing running and touches nothing of yours: in a throwaway
directory, on free loopback ports, it starts a Redis server and an SMTP sink
(shared/devservices), an SQLite database, the web server (``manage.py runserver``, DEBUG on, so
the local mailbox pages exist) and a Celery worker for the email and security queues. Then
Debian's chromium walks every page, with and without the errors its form can show, on the same
tour the accessibility test takes (tests/integration/page_tour.py), and each stop is written as
``NN-<stop>-phone.png`` (390x844) and ``NN-<stop>-desktop.png`` (1280x800), with README.md
listing them. Everything it started is stopped at the end.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
WIDTHS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


def environment(var_dir: Path, port: int) -> dict[str, str]:
    """What the web server, the worker and this process read: everything local, DEBUG on."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "EMAIL_URL", "THROTTLE_RATES", "SITE_NAME")
    }
    return {
        **env,
        "DEBUG": "1",
        "VAR_DIR": str(var_dir),
        "DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "PWNED_PASSWORDS_URL": "off",  # nothing leaves this machine
        "LOG_LEVEL": "WARNING",
    }


def wait_for_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while True:
        try:
            with opener.open(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def start(argv: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603


def take(out: Path = OUT) -> list[Path]:
    with ExitStack() as cleanup:
        var_dir = Path(tempfile.mkdtemp(prefix="resetpass-screenshots-"))
        cleanup.callback(shutil.rmtree, var_dir, ignore_errors=True)
        from shared.devservices import free_port, stop_process

        port = free_port()
        env = environment(var_dir, port)
        os.environ.update(env)  # read by the settings this process loads below

        from shared.devservices.mailsink import MailSink
        from shared.devservices.redis import RedisServer

        redis = RedisServer().start()
        cleanup.callback(redis.stop)
        sink = MailSink(directory=var_dir / "mail").start()
        cleanup.callback(sink.stop)
        env.update(REDIS_URL=redis.url, EMAIL_URL=sink.url)
        os.environ.update(env)

        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        get_user_model().objects.create_user(
            "erin", "erin@example.com", "erins-long-old-passphrase"
        )

        python = sys.executable
        web = start(
            [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            env,
            var_dir / "web.log",
        )
        cleanup.callback(stop_process, web)
        worker = start(
            [python, "-m", "celery", "-A", "workers.celery", "worker", "--queues",
             "email,security", "--pool", "solo", "--without-gossip", "--without-mingle",
             "--loglevel", "WARNING"],
            env,
            var_dir / "worker.log",
        )  # fmt: skip
        cleanup.callback(stop_process, worker)
        base_url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base_url}/healthz")
        try:
            return photograph(base_url, sink, out)
        except Exception:
            for log in ("web.log", "worker.log"):
                print(f"--- {log}", (var_dir / log).read_text(errors="replace")[-3000:])
            raise


def photograph(base_url: str, sink, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from tests.integration.browser import CHROMIUM_ARGS
    from tests.integration.page_tour import STOPS, Tour

    for old in out.glob("*.png"):
        old.unlink()
    taken: list[Path] = []
    numbers = {name: number for number, name in enumerate(STOPS, start=1)}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport=WIDTHS["phone"], locale="en-US", color_scheme="light", device_scale_factor=1
        )
        page = context.new_page()

        def shoot(name: str) -> None:
            for width, viewport in WIDTHS.items():
                page.set_viewport_size(viewport)
                path = out / f"{numbers[name]:02d}-{name}-{width}.png"
                page.screenshot(path=str(path), full_page=True, animations="disabled")
                taken.append(path)
            page.set_viewport_size(WIDTHS["phone"])
            print(f"  {name}", flush=True)

        Tour(page, base_url, sink.handler, visit=shoot).walk()
        browser.close()
    write_index(out, STOPS, numbers)
    return taken


def write_index(out: Path, stops: dict[str, str], numbers: dict[str, int]) -> None:
    lines = [
        "# Screenshots",
        "",
        "Every HTML page, at phone (390x844) and desktop (1280x800) width, light theme, with and",
        "without the errors its form can show. Made by `make screenshots`",
        "([take.py](take.py)), which starts everything it needs; run it again after changing a",
        "page.",
        "",
        "| # | page | phone | desktop |",
        "|---|---|---|---|",
    ]
    for name, what in stops.items():
        stem = f"{numbers[name]:02d}-{name}"
        phone, desktop = f"[phone]({stem}-phone.png)", f"[desktop]({stem}-desktop.png)"
        lines.append(f"| {numbers[name]} | {what} | {phone} | {desktop} |")
    (out / "README.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if not shutil.which(CHROMIUM):
        sys.exit(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    print(f"Taking screenshots into {OUT} ...", flush=True)
    shots = take()
    print(f"{len(shots)} screenshots in {OUT}")
