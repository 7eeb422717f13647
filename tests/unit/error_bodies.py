"""Reading the API's two error shapes (README, "Errors") in tests that assert on what an
error says rather than on its shape (tests/unit/test_error_shapes.py holds the shapes)."""

from __future__ import annotations


def field_errors(response) -> dict[str, list[str]]:
    """The messages per field of a refused body (400), after checking its shape: ``code``
    "invalid", and ``field_codes`` with the same keys and as many codes as messages."""
    assert response.status_code == 400, response.content[:300]
    body = dict(response.json())  # a copy: the test client keeps the one it parsed
    assert body.pop("code") == "invalid", body
    codes = body.pop("field_codes")
    assert {key: len(value) for key, value in codes.items()} == {
        key: len(value) for key, value in body.items()
    }, (body, codes)
    return body


def field_codes(response) -> dict[str, list[str]]:
    """The machine-readable codes per field of a refused body."""
    field_errors(response)
    return response.json()["field_codes"]


def error(response) -> dict[str, str]:
    """An error body other than a refused one: exactly ``detail`` and ``code``."""
    body = response.json()
    assert set(body) == {"detail", "code"}, body
    assert isinstance(body["detail"], str) and isinstance(body["code"], str), body
    return body
