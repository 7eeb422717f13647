"""``/.well-known/jwks.json``: the public keys any other service verifies our tokens with."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def jwks(request):
    """The current public key and the previous ones (``JWT_PREVIOUS_PUBLIC_KEYS``), each with its
    ``kid``. Verifiers cache it; five minutes lets a rotation reach them soon enough."""
    response = JsonResponse(settings.JWT_SIGNING_KEYS.jwks)
    response["Cache-Control"] = "public, max-age=300"
    return response
