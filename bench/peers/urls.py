"""Our own endpoints (their names are reversed by the peers' email templates, e.g.
``password_reset_confirm``), plus dj-rest-auth under /dj-rest-auth/ and djoser under /auth/."""

from django.urls import include, path

from api.urls import handler400, handler403, handler404, handler500  # noqa: F401
from api.urls import urlpatterns as api_urlpatterns

urlpatterns = [
    *api_urlpatterns,
    path("dj-rest-auth/", include("dj_rest_auth.urls")),
    path("auth/", include("djoser.urls")),
]
