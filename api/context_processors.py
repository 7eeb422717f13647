"""What every page's template may name."""

from __future__ import annotations

from django.conf import settings


def site(request) -> dict:
    """``site_name``: the service's name (``SITE_NAME``), for the header and the titles."""
    return {"site_name": settings.SITE_NAME}
