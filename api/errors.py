"""Error responses: JSON under the API, never an HTML page or a traceback, and never a 5xx
for bad input. Every body has one of two shapes (README, "Errors"), each with a ``code``:

* an error: ``{"detail": "<message>", "code": "<code>"}``;
* a refused body (400): DRF's and dj-rest-auth's one list of messages per field
  (``non_field_errors`` for the body as a whole), plus ``"code": "invalid"`` and
  ``field_codes``, the same keys with one machine-readable code per message.

* ``exception_handler``: DRF's, plus a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (413) and
  Django's other "suspicious" request errors (400), every answer in one of the two shapes.
* ``bad_request``, ``permission_denied``, ``page_not_found``, ``server_error``: Django's error
  views (``handler400`` ... in ``api.urls``), in JSON for the API and the probes, Django's
  HTML pages elsewhere.
* ``database_unavailable``: the one 503 of a database outage, JSON or a page, with Retry-After.
  ``ErrorResponseMiddleware`` gives it for any view, DRF's included; ``server_error`` for a
  middleware (where Django's own handler would answer 500).
* ``ErrorResponseMiddleware``: a database outage escaping any view is a 503, not a 500; on
  the HTML pages, a body in a charset Django cannot decode safely is a 400 before anything
  reads it; and, as a
  last guard (DEBUG pages, bare ``HttpResponseNotAllowed``), an error answer under the API
  that is not JSON is replaced by a JSON one with the same status and headers.
"""

from __future__ import annotations

import codecs
import logging
import sys
from http import HTTPStatus

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
DATABASE_ERRORS = (OperationalError, InterfaceError)
FORM_MEDIA_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
# Headers an error answer keeps when the guard rewrites its body as JSON.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "Cache-Control", "Referrer-Policy")

NON_FIELD_ERRORS = api_settings.NON_FIELD_ERRORS_KEY
VALIDATION_CODE = exceptions.ValidationError.default_code  # "invalid"
# The keys a body gives a meaning of its own. A field of the same name (``code``, in a reset
# by code) has its messages under ``non_field_errors``, so that ``code`` is always the code.
RESERVED_KEYS = frozenset({"detail", "code", "field_codes"})
# The code of an error whose raiser named none (Django's error views, the guard below): DRF's
# code for the status where DRF has one.
STATUS_CODES = {
    400: "bad_request",
    401: exceptions.NotAuthenticated.default_code,
    403: exceptions.PermissionDenied.default_code,
    404: exceptions.NotFound.default_code,
    405: exceptions.MethodNotAllowed.default_code,
    406: exceptions.NotAcceptable.default_code,
    413: "request_too_large",
    415: exceptions.UnsupportedMediaType.default_code,
    429: exceptions.Throttled.default_code,
    500: "server_error",
}


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def is_json_path(path: str) -> bool:
    """Paths whose errors are JSON: the API, the probes and the JWKS."""
    return (
        path == "/api"
        or path.startswith("/api/")
        or path.rstrip("/") in {"/healthz", "/readyz", "/.well-known/jwks.json"}
    )


def code_for_status(status_code: int) -> str:
    return STATUS_CODES.get(status_code, "error")


def error_body(detail, code: str) -> dict[str, str]:
    """The shape of every error but a refused body."""
    return {"detail": str(detail), "code": str(code)}


def _flat(detail) -> list[exceptions.ErrorDetail]:
    """One field's errors as one list, however DRF nested them (a list field's by position)."""
    if isinstance(detail, dict):
        return [
            exceptions.ErrorDetail(f"{key}: {error}", error.code)
            for key, value in detail.items()
            for error in _flat(value)
        ]
    if isinstance(detail, list):
        return [error for value in detail for error in _flat(value)]
    return [exceptions.ErrorDetail(str(detail), getattr(detail, "code", None))]


def validation_body(detail) -> dict:
    """The shape of a refused body: DRF's messages per field, ``code``, and ``field_codes``
    (the same keys, one code per message, in the same order)."""
    fields = detail if isinstance(detail, dict) else {NON_FIELD_ERRORS: detail}
    errors: dict[str, list[exceptions.ErrorDetail]] = {}
    for field, value in fields.items():
        key = NON_FIELD_ERRORS if field in RESERVED_KEYS else str(field)
        errors.setdefault(key, []).extend(_flat(value))
    body: dict = {key: [str(error) for error in found] for key, found in errors.items()}
    body["code"] = VALIDATION_CODE
    body["field_codes"] = {
        key: [error.code or VALIDATION_CODE for error in found] for key, found in errors.items()
    }
    return body


def _error_body_of(data, status_code: int) -> dict[str, str]:
    """DRF's ``{"detail": ...}``, or simplejwt's ``{"detail", "code", "messages"}``, as an
    error body: its ``messages`` (a list of objects, one per token class tried) are dropped;
    the authentication class puts what they said in ``detail``."""
    if isinstance(data, dict) and "detail" in data:
        detail = data["detail"]
        code = data.get("code") or getattr(detail, "code", None)
    else:
        errors = _flat(data)
        detail = " ".join(errors)
        code = errors[0].code if errors else None
    return error_body(detail, code or code_for_status(status_code))


def _html_page(title: str, details: str, status_code: int) -> HttpResponse:
    return HttpResponse(
        defaults.ERROR_PAGE_TEMPLATE % {"title": escape(title), "details": escape(details)},
        status=status_code,
        content_type="text/html; charset=utf-8",
    )


def json_response(body: dict, status_code: int) -> JsonResponse:
    """JSON as DRF renders it (compact, UTF-8), so that an error from a Django view has the
    same bytes as the same error from DRF."""
    return JsonResponse(
        body,
        status=status_code,
        json_dumps_params={"separators": (",", ":"), "ensure_ascii": False},
    )


def _json_error(detail, status_code: int, code: str | None = None) -> JsonResponse:
    return json_response(error_body(detail, code or code_for_status(status_code)), status_code)


def _error(request, detail, status_code: int, code: str | None = None) -> HttpResponse:
    if is_json_path(request.path):
        return _json_error(detail, status_code, code)
    return _html_page(HTTPStatus(status_code).phrase, str(detail), status_code)


def _database_unavailable_detail() -> dict[str, str]:
    return error_body(
        _("The service is temporarily unavailable. Try again in a few seconds."),
        "database_unavailable",
    )


def _log_database_error(exc: BaseException) -> None:
    log.error("database unavailable (%s): %s", type(exc).__name__, exc)


def database_unavailable(request) -> HttpResponse:
    """503 for a database that cannot be reached: JSON under the API, a short page elsewhere."""
    if is_json_path(request.path):
        response = json_response(_database_unavailable_detail(), 503)
    else:
        response = _html_page(
            _("Temporarily unavailable"), _database_unavailable_detail()["detail"], 503
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def exception_handler(exc, context):
    """DRF's handler, plus what it leaves to Django's 500 (or HTML 400) handling, with every
    body in one of the two shapes. A database outage it leaves alone: DRF re-raises it, and
    ``ErrorResponseMiddleware`` answers 503 as for every other view."""
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        # TooManyFieldsSent, TooManyFilesSent, a bad multipart body...: the client's mistake.
        exc = exceptions.ParseError(_("The request body could not be read."))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = validation_body(response.data)
    else:
        response.data = _error_body_of(response.data, response.status_code)
    if response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        response.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return response


# Django's error views. Its HTML ones run the CSRF check (``requires_csrf_token``), which reads
# a POST body: one Django refuses (too large, too many fields, a form in a charset other than
# UTF-8) makes them raise, and a 400 or a 404 would become a 500. A plain page stands in then.


def _json_or_django_page(request, status_code, json_detail, page, *args, title="", details=""):
    """JSON under the API; elsewhere Django's page, or a plain one when Django's raises."""
    if is_json_path(request.path):
        return _json_error(json_detail, status_code)
    try:
        return page(request, *args)
    except Exception:
        return _html_page(title, details, status_code)


def bad_request(request, exception, template_name=defaults.ERROR_400_TEMPLATE_NAME):
    if isinstance(exception, RequestDataTooBig):
        return _error(request, RequestTooLarge.default_detail, 413, RequestTooLarge.default_code)
    return _json_or_django_page(
        request, 400, _("Bad request."), defaults.bad_request, exception, template_name,
        title="Bad Request (400)",
    )  # fmt: skip


def permission_denied(request, exception, template_name=defaults.ERROR_403_TEMPLATE_NAME):
    return _json_or_django_page(
        request, 403, exceptions.PermissionDenied.default_detail, defaults.permission_denied,
        exception, template_name, title="403 Forbidden",
    )  # fmt: skip


def page_not_found(request, exception, template_name=defaults.ERROR_404_TEMPLATE_NAME):
    return _json_or_django_page(
        request, 404, exceptions.NotFound.default_detail, defaults.page_not_found, exception,
        template_name, title="Not Found",
        details="The requested resource was not found on this server.",
    )  # fmt: skip


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    # Django calls this from inside its ``except`` block: the exception is still at hand, so
    # a database outage raised outside a view (in a middleware) is a 503 here too.
    if isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        return database_unavailable(request)
    return _json_or_django_page(
        request, 500, _("A server error occurred."), defaults.server_error, template_name,
        title="Server Error (500)",
    )  # fmt: skip


def unusable_charset(request) -> str | None:
    """The request body's charset, if no parser can be trusted with it: a codec Python knows
    that is not a text encoding (rot13, zlib, hex: Django would accept the name and fail
    while decoding), or, for a form, anything but UTF-8 (Django refuses other charsets for
    urlencoded forms; in multipart ones, UTF-7 and the escape codecs yield lone surrogates
    that no database accepts)."""
    charset = getattr(request, "content_params", {}).get("charset")
    if not charset:
        return None
    try:
        info = codecs.lookup(charset)
    except LookupError:
        return None  # Django ignores names it does not know, and decodes as UTF-8
    try:
        b"".decode(info.name)
    except LookupError:
        return charset
    if request.content_type in FORM_MEDIA_TYPES and info.name != "utf-8":
        return charset
    return None


class ErrorResponseMiddleware:
    """Goes right after SecurityMiddleware: sees every request before anything reads its body,
    and every answer of the views and middleware inside it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # The API's parsers refuse such bodies themselves (after authentication, as DRF
        # orders it); Django's form parsing, under the HTML pages, would fail with a 500.
        charset = None if is_json_path(request.path) else unusable_charset(request)
        if charset is not None:
            detail = f'Unsupported charset "{charset}" in request Content-Type header.'
            return _html_page("Bad Request (400)", detail, 400)
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and is_json_path(request.path)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            response = self._as_json(response)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, DATABASE_ERRORS):
            _log_database_error(exception)
            return database_unavailable(request)
        return None

    @staticmethod
    def _as_json(response) -> JsonResponse:
        try:
            reason = HTTPStatus(response.status_code).phrase + "."
        except ValueError:
            reason = _("Error.")
        replacement = _json_error(reason, response.status_code)
        for header in _KEPT_HEADERS:
            if header in response:
                replacement[header] = response[header]
        return replacement
