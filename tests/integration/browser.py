"""Debian's chromium driven by Playwright, for the tests of the HTML pages (the ``browser_page``
fixture is in conftest.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

# CI installs chromium (.ci/run) and must run these tests; elsewhere they are skipped, saying why.
requires_chromium = pytest.mark.skipif(
    not os.environ.get("CI") and not shutil.which(CHROMIUM),
    reason=f"browser test needs Debian's chromium at {CHROMIUM} (apt-get install chromium)",
)


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
