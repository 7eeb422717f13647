"""Request parsers that refuse ambiguity: a field given twice is an error, not "the last one"."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser


def refuse_repeated(keys) -> None:
    """The one check every parser makes: no field may be given twice."""
    seen = set()
    for key in keys:
        if key in seen:
            raise ParseError(f"The field {key!r} is given more than once.")
        seen.add(key)


def _object_without_repeats(pairs: list[tuple]) -> dict:
    refuse_repeated(key for key, _ in pairs)
    return dict(pairs)


def _keys_of(*multivalue_dicts):
    """Every key once per value it holds."""
    return (key for data in multivalue_dicts for key, values in data.lists() for _ in values)


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
            return json.loads(text, object_pairs_hook=_object_without_repeats)
        except ParseError:
            raise
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except LookupError:
            # A charset Python knows but that is not a text encoding (rot13, zlib, hex...).
            raise ParseError(
                f'Unsupported charset "{encoding}" in request Content-Type header.'
            ) from None


class StrictFormParser(FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        refuse_repeated(_keys_of(data))
        return data


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        return 0


class StrictMultiPartParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        # Django counts only the non-file fields of a multipart body against the limit; a
        # file part would be accepted (and spooled to disk) whatever its size.
        request = (parser_context or {}).get("request")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request is not None and limit is not None and _content_length(request) > limit:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        result = super().parse(stream, media_type, parser_context)
        refuse_repeated(_keys_of(result.data, result.files))
        return result
