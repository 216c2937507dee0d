"""schemathesis over the service's whole OpenAPI schema, against the real server on 127.0.0.1,
with every check schemathesis has: for requests generated from the schema (its examples, the
coverage of every parameter's edges, fuzzed valid and invalid data, and stateful sequences), no
server error, every answer (status, content type, headers, body) as documented, invalid data
refused, valid data accepted, undeclared methods answered 405 with ``Allow``, requests without
the key refused.

schemathesis runs as its own command (``schemathesis run``, the CLI's engine and every phase),
which the pytest plugin cannot do under this pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from schemathesis.checks import CHECKS, load_all_checks

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
EXAMPLES = 100
#: An uploaded file is valid to the schema whatever its bytes, and the service answers what
#: they are: 400 (not readable as declarations, or a mapping whose columns it lacks), 413 (more
#: than the limits), 415 (not CSV, XLSX or Parquet). The schema cannot tell a manifest from
#: random bytes, so these are accepted answers to schema-valid uploads (as documented there).
#: The desk's schema-valid requests the service may still refuse by what is stored: a case or
#: declaration or rule that does not exist (404), a case whose state does not allow it or a
#: retired rule (409), a policy whose lanes' capacities contradict each other, a rule whose
#: conditions do not hold together or whose dates are no dates (400).
_UPLOADS = ("/v1/manifests", "/v1/cases/outcomes")
_DESK = ("/v1/policy", "/v1/cases/{case_id}", "/v1/cases/{case_id}/outcome", "/v1/cases/{case_id}/close",
         "/v1/declarations/{declaration_id}/lane", "/v1/rules", "/v1/rules/{rule_id}", "/v1/rules/{rule_id}/retire", "/v1/rules/preview")
CONFIG = "".join(
    f"""
[[operations]]
include-path = "{path}"
checks.positive_data_acceptance.expected-statuses = {statuses}
""" for paths, statuses in ((_UPLOADS, '["2xx", "400", "401", "403", "413", "415"]'),
                            (_DESK, '["2xx", "400", "401", "403", "404", "409"]')) for path in paths)


def all_checks() -> list[str]:
    load_all_checks()
    return CHECKS.get_all_names()


@pytest.mark.slow
def test_every_operation_passes_every_check(service, tmp_path):
    checks = all_checks()
    assert {"not_a_server_error", "response_schema_conformance", "negative_data_rejection",
            "positive_data_acceptance", "unsupported_method", "missing_required_header",
            "ignored_auth", "use_after_free"} <= set(checks)
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    run = subprocess.run(
        [str(SCHEMATHESIS), "--config-file", str(config), "run", f"{service.url}/openapi.json",
         "--checks", ",".join(checks), "--header", f"X-API-Key: {service.keys['admin']}",
         "--max-examples", str(EXAMPLES), "--seed", "1", "--generation-deterministic",
         "--workers", "1", "--request-timeout", "120", "--suppress-health-check", "all", "--no-color",
         "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml")],
        capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    said = run.stdout + run.stderr
    assert run.returncode == 0, said[-30000:]
    for operation in ("POST /v1/manifests", "POST /v1/declarations/score", "GET /v1/declarations/{declaration_id}/evidence",
                      "POST /v1/outcomes", "GET /v1/outcomes", "GET /v1/model", "POST /v1/model/reload", "GET /healthz",
                      "GET /readyz", "POST /v1/declarations/amend", "GET /v1/declarations/{declaration_id}/versions",
                      "PUT /v1/policy", "GET /v1/cases", "POST /v1/cases/{case_id}/outcome", "POST /v1/cases/outcomes",
                      "POST /v1/declarations/{declaration_id}/lane", "GET /v1/audit", "POST /v1/rules",
                      "GET /v1/rules"):
        assert operation in (tmp_path / "junit.xml").read_text(), operation
