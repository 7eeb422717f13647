"""``/favicon.ico``: browsers ask every origin they open for it, a JSON endpoint's included, and
each 404 would be a warning in the logs. The pages link the same icon from the static files."""

from __future__ import annotations

import functools
from pathlib import Path

from django.http import HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

ICON = Path(__file__).resolve().parents[1] / "static" / "api" / "favicon.ico"


@functools.cache
def _icon() -> bytes:
    return ICON.read_bytes()


@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request):
    return HttpResponse(_icon(), content_type="image/vnd.microsoft.icon")
