"""OpenAPI: describe our Bearer authentication as simplejwt's and the admin API's API keys,
document the error answers every operation can give (api/errors.py) with the two shapes of
their bodies, and give every request and response an example.

Examples: views give theirs with ``extend_schema(examples=[...])``, built by the helpers
below (``request_example``, ``response_example``, ``error_example``, ``invalid_example``);
an error status a view gives none for gets the generic ones of ``GENERIC_EXAMPLES``.
"""

from __future__ import annotations

import copy

from django.utils.functional import Promise
from django.utils.translation import override
from drf_spectacular import openapi
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.plumbing import (
    ResolvedComponent,
    build_examples_list,
    force_instance,
    is_serializer,
)
from drf_spectacular.utils import OpenApiExample
from rest_framework.exceptions import ErrorDetail

from api.api_keys import HasAdminAPIKey
from api.authentication import SESSION_ENDED_BY_CHANGE
from api.errors import (
    NON_FIELD_ERRORS,
    RESERVED_KEYS,
    RETRY_AFTER_SECONDS,
    VALIDATION_CODE,
    error_body,
    validation_body,
)


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

# Every ``code`` an error body can carry, by status (README, "Errors"). A refused body's
# ``field_codes`` hold DRF's codes (``required``, ``blank``, ``max_length``...) and ours.
ERROR_CODES: list[tuple[int, str, str]] = [
    (400, "invalid", "A refused body: its messages per field, their codes in `field_codes`."),
    (400, "parse_error", "The body cannot be read: malformed JSON, a field given twice, a "
     "charset that is not a text encoding, a broken multipart body."),
    (400, "bad_request", "A request refused before any view (e.g. a Host header not allowed)."),
    (401, "not_authenticated", "No credentials: no Bearer token, or (admin API) no valid key."),
    (401, "invalid_credentials", "Login: no active account with these credentials."),
    (401, "token_not_valid", "The token is malformed, expired or revoked, or (refresh, logout) "
     "its session has ended."),
    (401, "password_changed", "The token was issued before the password last changed (a "
     "change, a reset, a lock): log in again."),
    (401, "bad_authorization_header", "The Authorization header is not `Bearer <token>`."),
    (401, "user_not_found", "The token's user no longer exists."),
    (401, "user_inactive", "The token's user is deactivated."),
    (403, "permission_denied", "Not allowed."),
    (404, "not_found", "No such URL, or no such object (session, user, webhook, forced reset)."),
    (405, "method_not_allowed", "The path does not take this method (header `Allow`)."),
    (406, "not_acceptable", "The Accept header allows no `application/json`."),
    (409, "email_taken", "Admin API: another user has this address (in any case)."),
    (409, "user_inactive", "Admin API: the user is inactive; reactivate them first."),
    (413, "request_too_large", "The body is over `MAX_REQUEST_BODY` (1 MiB by default)."),
    (415, "unsupported_media_type", "Send `application/json` (or a form encoding)."),
    (429, "throttled", "Too many requests: retry after `Retry-After` seconds."),
    (429, "too_many_failed_logins", "Login: too many failed attempts on this account; retry "
     "after `Retry-After` seconds (or reset the password)."),
    (500, "server_error", "A bug of ours: the body never holds a traceback."),
    (503, "database_unavailable", "The database cannot be reached; retry after `Retry-After`."),
    (503, "queue_unavailable", "Admin API: the work queue cannot be reached; nothing was "
     "started; retry after `Retry-After`."),
]  # fmt: skip

_CODE_LIST = "\n".join(f"- {status} `{code}`: {meaning}" for status, code, meaning in ERROR_CODES)

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error but a refused body: a message for people (translated by "
    "Accept-Language) and a code for programs.\n\nCodes:\n" + _CODE_LIST,
    "properties": {
        "detail": {"type": "string", "description": "For people; may change."},
        "code": {"type": "string", "description": "For programs; stable."},
    },
    "required": ["detail", "code"],
    "additionalProperties": False,
}

_MESSAGES = {"type": "array", "items": {"type": "string"}}


def validation_error_schema(fields: list[str]) -> dict:
    """A refused body of a request with these fields: one list of messages per field that has
    any, ``code`` "invalid", and ``field_codes`` with the same keys, a code per message."""
    keys = [field for field in fields if field not in RESERVED_KEYS] + [NON_FIELD_ERRORS]
    reserved = sorted(set(fields) & RESERVED_KEYS)
    moved = (
        f" Messages about {', '.join(f'`{f}`' for f in reserved)} are under "
        f"`{NON_FIELD_ERRORS}`: `code` is always the error code."
        if reserved
        else ""
    )
    return {
        "type": "object",
        "description": "A refused body: one list of messages per field that has any (dj-rest-"
        f"auth's field names), `{NON_FIELD_ERRORS}` for the body as a whole; `code` is "
        f"`{VALIDATION_CODE}`; `field_codes` has the same keys, one code per message, in the "
        "same order (`required`, `blank`, `max_length`, `password_too_short`...)." + moved,
        "properties": {
            **{key: _MESSAGES for key in keys},
            "code": {"type": "string", "enum": [VALIDATION_CODE]},
            "field_codes": {
                "type": "object",
                "properties": {key: _MESSAGES for key in keys},
                "additionalProperties": False,
            },
        },
        "required": ["code", "field_codes"],
        "additionalProperties": False,
    }


RETRY_AFTER_HEADER = {
    "Retry-After": {
        "schema": {"type": "integer", "minimum": 0},
        "description": "Seconds to wait before trying again.",
    }
}

BODY_METHODS = {"POST", "PUT", "PATCH"}

DESCRIPTIONS = {
    "400": "A refused body (`code` `invalid`, messages per field) or an unreadable one "
    "(`detail`, `code` `parse_error`).",
    "401": "Missing, invalid, expired or revoked credentials.",
    "404": "Not found.",
    "409": "Conflict with the current state.",
    "413": "The request body is larger than the limit (`MAX_REQUEST_BODY`, 1 MiB by default).",
    "415": "Unsupported Content-Type: send application/json (or a form encoding).",
    "429": "Too many requests; retry after Retry-After seconds.",
    "503": f"A dependency is temporarily unavailable; retry after Retry-After seconds "
    f"({RETRY_AFTER_SECONDS}).",
}
WITH_RETRY_AFTER = {"429", "503"}
# Statuses whose generic examples are only right for some views: a view's own replace them.
# For the others (a 413 is a 413 everywhere), a view's examples come in addition.
VIEW_SPECIFIC = {"401", "404", "409"}


# Examples. Their messages are the API's own (translatable) ones, in English whatever
# language is active when a view module is first imported.


def _english(value):
    if isinstance(value, Promise):
        with override("en"):
            return str(value)
    if isinstance(value, dict):
        return {key: _english(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_english(item) for item in value]
    return value


def request_example(name: str, value: dict, **kwargs) -> OpenApiExample:
    return OpenApiExample(name, value=_english(value), request_only=True, **kwargs)


def response_example(status: int, name: str, value, **kwargs) -> OpenApiExample:
    return OpenApiExample(
        name, value=_english(value), response_only=True, status_codes=[str(status)], **kwargs
    )


def error_example(status: int, name: str, detail, code: str, **kwargs) -> OpenApiExample:
    return response_example(status, name, error_body(_english(detail), code), **kwargs)


def invalid_example(name: str, errors: dict[str, list[tuple]], **kwargs) -> OpenApiExample:
    """A 400 refused body, built as api/errors.py builds it: ``errors`` maps each field to its
    (message, code) pairs."""
    detail = {
        field: [ErrorDetail(_english(message), code) for message, code in pairs]
        for field, pairs in errors.items()
    }
    return response_example(400, name, validation_body(detail), **kwargs)


GENERIC_EXAMPLES: dict[str, list[OpenApiExample]] = {
    "400": [
        error_example(
            400, "Unreadable body",
            "JSON parse error - Expecting value: line 1 column 1 (char 0)", "parse_error",
        ),
    ],
    "401": [
        error_example(401, "No token", "Authentication credentials were not provided.",
                      "not_authenticated"),
        error_example(401, "Expired or invalid token", "Token is expired", "token_not_valid"),
        error_example(401, "Password changed since the token was issued",
                      SESSION_ENDED_BY_CHANGE, "password_changed"),
    ],
    "404": [error_example(404, "Not found", "Not found.", "not_found")],
    "413": [error_example(413, "Too large", "The request body is too large.",
                          "request_too_large")],
    "415": [error_example(415, "Not JSON", 'Unsupported media type "text/plain" in request.',
                          "unsupported_media_type")],
    "429": [error_example(429, "Throttled",
                          "Request was throttled. Expected available in 60 seconds.",
                          "throttled")],
    "503": [error_example(
        503, "Database unavailable",
        "The service is temporarily unavailable. Try again in a few seconds.",
        "database_unavailable",
    )],
}  # fmt: skip
ADMIN_KEY_EXAMPLES = {
    "401": [error_example(401, "No valid API key", "A valid API key is required.",
                          "not_authenticated")],
}  # fmt: skip


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, plus the error responses of api/errors.py on every
    operation, each with its schema and examples. A response a view declares with
    ``extend_schema`` keeps its description; its body is always the error schema."""

    def _register(self, name: str, schema: dict) -> dict:
        component = ResolvedComponent(
            name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema
        )
        self.registry.register_on_missing(component)
        return component.ref

    def _error_ref(self) -> dict:
        return self._register("Error", ERROR_SCHEMA)

    def _request_component(self):
        serializer = force_instance(self.get_request_serializer())
        if not is_serializer(serializer):
            return None
        if self.method == "PATCH":  # as drf-spectacular names the request body's component
            serializer = copy.copy(serializer)
            serializer.partial = True
        return self.resolve_serializer(serializer, "request")

    def _schema_400(self) -> dict:
        component = self._request_component()
        if not component:
            return self._error_ref()
        fields = [
            name
            for name, field in component.schema.get("properties", {}).items()
            if not field.get("readOnly")
        ]
        invalid = self._register(
            f"{component.name}ValidationError", validation_error_schema(fields)
        )
        return {"oneOf": [invalid, self._error_ref()]}

    def _required_field_example(self) -> list[OpenApiExample]:
        component = self._request_component()
        required = component.schema.get("required", []) if component else []
        if not required:
            return []
        field = required[0]
        key = NON_FIELD_ERRORS if field in RESERVED_KEYS else field
        return [invalid_example(
            f"Missing {field}", {key: [("This field is required.", "required")]}
        )]  # fmt: skip

    def get_auth(self):
        if self._is_admin_view():
            self.registry.register_on_missing(API_KEY_SCHEME)
            return [{API_KEY_SCHEME.name: []}]
        return super().get_auth()

    def _is_admin_view(self) -> bool:
        return any(isinstance(p, HasAdminAPIKey) for p in self.view.get_permissions())

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

    def _view_examples(self, code: str) -> list[OpenApiExample]:
        return [
            example
            for example in self.get_examples()
            if not example.request_only
            and not example.parameter_only
            and code in {str(status) for status in example.status_codes or ()}
        ]

    def _error_examples(self, code: str) -> dict:
        own = self._view_examples(code)
        generic = (ADMIN_KEY_EXAMPLES if self._is_admin_view() else {}).get(code) or (
            GENERIC_EXAMPLES.get(code, [])
        )
        if code == "400" and not any(
            isinstance(e.value, dict) and e.value.get("code") == VALIDATION_CODE for e in own
        ):
            own = own + self._required_field_example()
        if own and code in VIEW_SPECIFIC:
            generic = []
        return build_examples_list(own + generic)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self._error_codes():
            responses.setdefault(code, {"description": DESCRIPTIONS[code]})
        for code, response in responses.items():
            if not str(code).isdigit() or int(code) < 400:
                continue
            schema = self._schema_400() if code == "400" else self._error_ref()
            response["content"] = {
                "application/json": {"schema": schema, "examples": self._error_examples(code)}
            }
            if str(response.get("description", "")) in {"", "No response body"}:
                response["description"] = DESCRIPTIONS.get(code, "")
            if code in WITH_RETRY_AFTER:
                response.setdefault("headers", {}).update(
                    {k: v for k, v in RETRY_AFTER_HEADER.items() if k not in response["headers"]}
                )
        return dict(sorted(responses.items()))
