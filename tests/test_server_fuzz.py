"""Fuzz the studio's API from its own OpenAPI schema: whatever the request, never a 500."""

from __future__ import annotations

import tempfile

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from brushwork.server import StudioSettings, create_app  # noqa: E402

# Jobs are queued but not run (no worker), so fuzzed jobs cost nothing.
APP = create_app(StudioSettings(data=tempfile.mkdtemp(prefix="brushwork-fuzz-"), run_jobs=False))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
