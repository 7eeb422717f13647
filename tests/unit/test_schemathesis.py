"""Property-based tests of the API against its own OpenAPI schema (schemathesis, in process).

Every operation of /api/schema/ gets generated requests, valid ones and ones that break the
schema; each response must be no 5xx, and its status, content type and body must be those the
schema documents. Bearer-protected operations are called with a real token, so they are
exercised beyond the 401.
"""

from __future__ import annotations

import math
import time
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.wsgi import application
from shared.accounts import sessions
from shared.operators.api_keys import create_api_key
from tests.conftest import set_rates
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

MIN_CASES = 1000
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_schema(fake_redis, settings):
    # Throttles would turn most cases into 429s: off, every scope.
    set_rates(settings, **dict.fromkeys(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]))
    return schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def access_token():
    user = make_user()
    return sessions.start_session(user, ip="198.51.100.7", user_agent="schemathesis").access


@pytest.fixture
def api_key():
    return create_api_key("schemathesis")


def operations(schema):
    found = [result.ok() for result in schema.get_all_operations()]
    assert found, "the schema lists no operation"
    return found


def needs(scheme: str, operation) -> bool:
    return any(
        scheme in requirement for requirement in operation.definition.raw.get("security", [])
    )


def run_operation(operation, mode, max_examples: int, headers: dict[str, str]) -> Counter:
    statuses: Counter = Counter()

    @hypothesis_settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        statuses[response.status_code] += 1

    check()
    return statuses


def test_every_operation_conforms_to_the_schema_and_never_answers_5xx(
    api_schema, access_token, api_key
):
    # The admin API last: its generated DELETEs may remove the user whose token the rest use.
    found = sorted(operations(api_schema), key=lambda operation: needs("ApiKeyAuth", operation))
    runs = [(operation, mode) for operation in found for mode in MODES]
    max_examples = math.ceil(MIN_CASES / len(runs))
    bearer = {"Authorization": f"Bearer {access_token}"}
    key = {"Authorization": f"Api-Key {api_key}"}

    started = time.monotonic()
    counts: dict[str, Counter] = {}
    for operation, mode in runs:
        headers = (
            bearer if needs("jwtAuth", operation) else key if needs("ApiKeyAuth", operation) else {}
        )
        label = f"{operation.label} [{mode.value}]"
        counts[label] = run_operation(operation, mode, max_examples, headers)
    elapsed = time.monotonic() - started

    total = sum(sum(statuses.values()) for statuses in counts.values())
    print(f"\nschemathesis: {total} cases over {len(found)} operations in {elapsed:.1f}s")
    for label, statuses in counts.items():
        print(f"  {sum(statuses.values()):5d}  {label}  {dict(sorted(statuses.items()))}")
    assert {op.label.split()[1] for op in found} >= {
        "/api/auth/login/", "/api/auth/token/refresh/", "/api/auth/logout/",
        "/api/auth/sessions/", "/api/auth/sessions/{family}/", "/api/auth/password/change/",
        "/api/auth/password/reset/", "/api/auth/password/reset/confirm/",
        "/api/admin/users/", "/api/admin/users/{user_id}/",
        "/api/admin/webhooks/", "/api/admin/webhooks/{webhook_id}/",
    }  # fmt: skip
    assert total >= MIN_CASES
