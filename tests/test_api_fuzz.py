"""Property-based fuzzing of the running API from its own OpenAPI document (schemathesis): never a 5xx.

Valid and invalid requests (``positive`` and ``negative`` generation) go to every
operation over real HTTP, half with a valid admin key, so the fuzzer gets past
authentication into validation and the handlers. Deterministic (derandomised)
and small enough for every CI run; run with ``LAPORGUB_FUZZ_EXAMPLES=500`` for a longer search.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from tests.api_helpers import start_api_fixture  # noqa: F401

EXAMPLES = int(os.environ.get("LAPORGUB_FUZZ_EXAMPLES", "60"))


def test_no_server_errors_from_generated_requests(start_api: Any) -> None:
    api = start_api(max_body_bytes=16384)
    key = api.key("admin", name="fuzzer")
    schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")
    seen: dict[int, int] = {}
    failures: list[str] = []

    strategy = st.one_of(schema.as_strategy(generation_mode=GenerationMode.POSITIVE),
                         schema.as_strategy(generation_mode=GenerationMode.NEGATIVE))

    @given(case=strategy, authorised=st.booleans())
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def probe(case: Any, authorised: bool) -> None:
        headers = {"Authorization": f"Bearer {key}"} if authorised else None
        response = case.call(base_url=api.base_url, headers=headers, timeout=10)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}")
        assert "Traceback" not in response.text
        if response.status_code >= 400 and case.path.startswith("/api/"):
            assert set(response.json()) == {"error"}

    probe()
    print("status codes seen:", dict(sorted(seen.items())))
    assert failures == []
    assert any(200 <= code < 300 for code in seen) and any(400 <= code < 500 for code in seen), seen
