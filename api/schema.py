"""OpenAPI: describe our Bearer authentication as simplejwt's."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class SessionJWTScheme(SimpleJWTScheme):
    target_class = "api.authentication.SessionJWTAuthentication"
    name = "jwtAuth"
