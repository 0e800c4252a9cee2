"""Property-based testing of the configuration API against its own OpenAPI document
(schemathesis), through a real api-server: no 5xx, every response as documented, every 4xx
saying what is wrong, and no operation reachable without authentication.

Bounded and reproducible: a fixed seed and ``MAX_EXAMPLES`` cases per operation. Writes carry
the current revision in If-Match when the case sends one, so changes are really made (and
validated), not only refused as stale.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as fixed_seed
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bds.config.api import create_app

MAX_EXAMPLES = 50
SEED = 20261203
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@schemathesis.check
def names_the_problem(ctx, response, case):
    """Every 4xx says what is wrong; a 422 lists each problem with its field path."""
    if 400 <= response.status_code < 500:
        body = response.json()
        assert body.get("detail"), f"{response.status_code} without a detail: {response.text[:300]}"
        if response.status_code == 422:
            assert body["problems"], f"422 without problems: {response.text[:300]}"
            assert all(p["path"] and p["message"] for p in body["problems"]), response.text[:500]
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
    names_the_problem,
]


# The document the app serves (test_the_served_document_is_the_apps checks it is this one),
# known before any server starts, so each operation is a test of its own.
SCHEMA = schemathesis.openapi.from_dict(create_app().openapi())
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}


def test_the_served_document_is_the_apps(api):
    served = api.call("GET", "/bds/openapi.json", role="viewer").json()
    assert served.pop("servers") == [{"url": "/bds"}]  # where the app is mounted: what the paths are relative to
    assert served == SCHEMA.raw_schema


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_the_api_keeps_its_documented_contract(label, api):
    operation = OPERATIONS[label]
    calls = []

    @fixed_seed(SEED)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def exchange(case):
        headers = {"Authorization": f"Bearer {api.tokens['admin']}"}
        if case.method.upper() in WRITES and case.headers and "If-Match" in case.headers:
            headers["If-Match"] = f'"{api.revision()}"'
        response = case.call(base_url=f"{api.base}/bds", headers=headers)
        calls.append(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)

    exchange()
    print(f"{label}: {len(calls)} calls, status codes {dict(sorted(Counter(calls).items()))}")
    assert calls
