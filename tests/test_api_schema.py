"""schemathesis over the service's OpenAPI schema, against the real server on 127.0.0.1: for
requests generated from the schema, valid and invalid, no server error and every answer (status
code, content type, body) as documented.

The operations are walked in the test itself (schemathesis' pytest fixture loader does not run
under this pytest), one Hypothesis run per operation and generation mode."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 30


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_server_error_and_every_answer_as_documented(service, mode):
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    tested = []
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(base_url=service.url, headers={"X-API-Key": service.keys["admin"]},
                                   checks=CHECKS, timeout=120)

        try:
            run()
        except Unsatisfiable:  # an operation without parameters has no invalid request to make
            assert mode == GenerationMode.NEGATIVE, operation.label
            continue
        tested.append(operation.label)
    assert "POST /v1/manifests" in tested and "POST /v1/outcomes" in tested
