"""Single use under a race: 16 simultaneous confirms of one link, one winner."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection, connections
from django.test import Client

from tests.conftest import set_rates
from tests.factories import issue_link, make_user

CONFIRMS = 16


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (DATABASE_URL): SQLite serialises all writers, so it proves nothing",
)
@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_confirms_of_one_link_give_exactly_one_200(settings, private_redis):
    set_rates(settings, confirm_ip=None)
    user = make_user()
    link = issue_link(user)
    start = threading.Barrier(CONFIRMS)
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def confirm(i: int) -> None:
        password = f"concurrent-passphrase-{i:02d}"
        body = {**link, "new_password1": password, "new_password2": password}
        client = Client()
        start.wait()
        try:
            response = client.post(
                "/api/auth/password/reset/confirm/", data=json.dumps(body),
                content_type="application/json",
            )  # fmt: skip
            with lock:
                results.append((response.status_code, password))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=confirm, args=(i,)) for i in range(CONFIRMS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [400] * (CONFIRMS - 1)
    [winner] = [password for status, password in results if status == 200]
    user.refresh_from_db()
    assert user.check_password(winner)
