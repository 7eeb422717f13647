"""OpenAPI: describe our Bearer authentication as simplejwt's and the admin API's API keys,
and document the error answers every operation can give (api/errors.py), so the schema lists
each status the API sends."""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.plumbing import ResolvedComponent

from api.api_keys import HasAdminAPIKey
from api.errors import RETRY_AFTER_SECONDS


class SessionJWTScheme(SimpleJWTScheme):
    target_class = "api.authentication.SessionJWTAuthentication"
    name = "jwtAuth"


# The admin API checks its key in a permission (the library has no authentication class), so
# drf-spectacular sees no scheme of its own: AutoSchema.get_auth names this one.
API_KEY_SCHEME = ResolvedComponent(
    name="ApiKeyAuth",
    type=ResolvedComponent.SECURITY_SCHEMA,
    object="ApiKeyAuth",
    schema={
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Api-Key <key>`: a key made by `python manage.py create_api_key NAME`.",
    },
)

# Every error body: DRF's ``{"detail": ...}`` (with a ``code`` on some), or a validation error
# ``{"field": ["message", ...]}``; simplejwt adds ``messages``, a list of objects.
ERROR_RESPONSE_SCHEMA = {
    "type": "object",
    "description": "`detail` for most errors; for a refused body, one list of messages per "
    "field (`non_field_errors` for the body as a whole).",
    "properties": {
        "detail": {"type": "string"},
        # DRF's error code, or the messages about a field named ``code`` (reset by code).
        "code": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    },
    "additionalProperties": {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "object"}]}},
        ]
    },
}

RETRY_AFTER_HEADER = {
    "Retry-After": {
        "schema": {"type": "integer", "minimum": 0},
        "description": "Seconds to wait before trying again.",
    }
}

BODY_METHODS = {"POST", "PUT", "PATCH"}

DESCRIPTIONS = {
    "400": "Malformed or refused body: `detail`, or a list of messages per field.",
    "401": "Missing, invalid, expired or revoked credentials.",
    "404": "Not found.",
    "409": "Conflict with the current state.",
    "413": "The request body is larger than the limit (`MAX_REQUEST_BODY`, 1 MiB by default).",
    "415": "Unsupported Content-Type: send application/json (or a form encoding).",
    "429": "Too many requests; retry after Retry-After seconds.",
    "503": f"The database is temporarily unavailable; retry after Retry-After seconds "
    f"({RETRY_AFTER_SECONDS}).",
}
WITH_RETRY_AFTER = {"429", "503"}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, plus the error responses of api/errors.py on every
    operation. A response a view declares with ``extend_schema`` keeps its description; it
    only gains the JSON error body (and Retry-After) when it declares none."""

    def _error_ref(self) -> dict:
        component = ResolvedComponent(
            name="ErrorResponse",
            type=ResolvedComponent.SCHEMA,
            object="ErrorResponse",
            schema=ERROR_RESPONSE_SCHEMA,
        )
        self.registry.register_on_missing(component)
        return component.ref

    def get_auth(self):
        if any(isinstance(p, HasAdminAPIKey) for p in self.view.get_permissions()):
            self.registry.register_on_missing(API_KEY_SCHEME)
            return [{API_KEY_SCHEME.name: []}]
        return super().get_auth()

    def _answers_401(self) -> bool:
        """A view answers 401 (not 403) to bad credentials when it names a scheme in
        WWW-Authenticate: Bearer-protected views, and the token endpoints."""
        try:
            return bool(self.view.get_authenticate_header(self.view.request))
        except Exception:  # a view this inspection does not understand: no 401 documented
            return False

    def _error_codes(self) -> list[str]:
        codes = ["503"]
        if self.method in BODY_METHODS:
            codes += ["400", "413", "415"]
        if self._answers_401():
            codes.append("401")
        if "{" in self.path:
            codes.append("404")
        if self.view.get_throttles():
            codes.append("429")
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        content = {"application/json": {"schema": self._error_ref()}}
        for code in self._error_codes():
            responses.setdefault(code, {"description": DESCRIPTIONS[code]})
        for code, response in responses.items():
            if not str(code).isdigit() or int(code) < 400:
                continue
            if not response.get("content"):
                response["content"] = content
                if str(response.get("description", "")) in {"", "No response body"}:
                    response["description"] = DESCRIPTIONS.get(code, "")
            if code in WITH_RETRY_AFTER:
                response.setdefault("headers", {}).update(
                    {k: v for k, v in RETRY_AFTER_HEADER.items() if k not in response["headers"]}
                )
        return dict(sorted(responses.items()))
