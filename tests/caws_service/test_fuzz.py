"""Schemathesis against the service's OpenAPI (CAWS endpoints only): generated requests never get a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.caws_service.conftest import make_key


@pytest.mark.slow
def test_no_server_errors(client) -> None:
    """Every /caws operation, with an admin key so the requests reach the handlers."""
    admin = make_key(client, scopes=["admin"], rate_limit_per_min=1_000_000)
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app).include(path_regex="^/caws")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case) -> None:
            statuses.append(case.call_and_validate(headers=admin, checks=[not_a_server_error]).status_code)

        fuzz()
    assert len(statuses) >= 5 * len(operations) and max(statuses) < 500
