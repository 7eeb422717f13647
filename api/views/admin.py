"""What every admin API view (``/api/admin/``) shares: an API key, checked before anything
else, and one answer to every request without a valid one.

Without a valid key, every path under /api/admin/, existing or not, with any method, gets the
same 401 and the same body: no 404, 405 or 400 tells an attacker which paths or users exist.
DRF checks permissions before it looks for the method's handler or reads the body, and the
catch-all view below answers the paths that no real view serves, after the same check.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotAuthenticated, NotFound
from rest_framework.generics import GenericAPIView

from api.api_keys import HasAdminAPIKey
from api.throttles import AdminKeyThrottle

KEY_REQUIRED = _("A valid API key is required.")


class AdminAPIView(GenericAPIView):
    authentication_classes: list = []
    permission_classes = [HasAdminAPIKey]
    throttle_classes = [AdminKeyThrottle]

    def get_authenticate_header(self, request):
        return 'Api-Key realm="admin"'

    def permission_denied(self, request, message=None, code=None):
        raise NotAuthenticated(KEY_REQUIRED)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code == 401:
            del response["Allow"]  # the methods a path has would tell which paths exist
        return response


@extend_schema(exclude=True)
class UnknownAdminPathView(AdminAPIView):
    """Any other path under /api/admin/: 404, but only to a caller with a valid key."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise NotFound
