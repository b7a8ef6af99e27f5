"""Fuzz the studio's API from its own OpenAPI schema: whatever the request, never a 500."""

from __future__ import annotations

import json
import tempfile

import pytest

schemathesis = pytest.importorskip("schemathesis")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from brushwork.studio.server import StudioSettings, create_app  # noqa: E402
from brushwork.engine.transfer import TransferConfig  # noqa: E402

# Jobs are queued but not run (no worker), so fuzzed jobs cost nothing. The fuzzer's requests
# name the host "testserver"; the Host guard itself is tested in test_server_security.
APP = create_app(StudioSettings(data=tempfile.mkdtemp(prefix="brushwork-fuzz-"), run_jobs=False,
                                allowed_hosts=("testserver", "localhost")))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"


NUMERIC = [name for name, info in TransferConfig.help().items() if "min" in info]
HOSTILE = ["NaN", "Infinity", "-Infinity", "1e308", "-1e308", str(2**64), str(-2**64), "true", "\"12\""]


@pytest.mark.parametrize("name", NUMERIC)
def test_every_numeric_option_refuses_nan_infinity_and_huge_values(name):
    with TestClient(APP, base_url="http://localhost") as client:
        for value in HOSTILE:
            option = f"[{value}]" if name == "style_layer_weights" else value
            body = ('{"content": "sample:chelsea", "styles": ["sample:strokes"], "options": {"%s": %s}}' % (name, option))
            response = client.post("/api/jobs", content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 422, (name, value, response.status_code, response.text[:200])
            detail = json.loads(response.text)["detail"]  # plain JSON, one sentence
            assert isinstance(detail, str) and name in detail, (name, value, detail)
        for field, value in (("style_weights", "[NaN]"), ("style_weights", "[1e400]")):
            body = '{"content": "sample:chelsea", "styles": ["sample:strokes"], "%s": %s}' % (field, value)
            response = client.post("/api/jobs", content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 422 and isinstance(response.json()["detail"], str)
        assert client.get("/api/jobs").json() == []
