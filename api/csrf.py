"""CSRF protection that works on pages sent with ``Referrer-Policy: no-referrer``.

Under that policy a browser posts a form with ``Origin: null`` and no Referer, so Django's
origin check (and, over HTTPS, its referer check) refuses every form on the reset pages. The
browser still tells us where the request came from, in ``Sec-Fetch-Site``: a header pages
cannot set or forge. A ``null`` origin is accepted only when it says ``same-origin``; the
CSRF token itself is checked as always.
"""

from __future__ import annotations

from django.middleware.csrf import CsrfViewMiddleware


def _same_origin_by_fetch_metadata(request) -> bool:
    return request.META.get("HTTP_SEC_FETCH_SITE") == "same-origin"


class NoReferrerCsrfViewMiddleware(CsrfViewMiddleware):
    def _origin_verified(self, request):
        if request.META.get("HTTP_ORIGIN") == "null" and _same_origin_by_fetch_metadata(request):
            return True
        return super()._origin_verified(request)
