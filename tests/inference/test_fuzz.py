"""Property-based fuzzing of the service's own OpenAPI document with schemathesis, against the service as
deployed: gunicorn with the Dockerfile's CMD, serving a real model from a moto registry, behind an API key.

Every operation the document lists gets generated requests, valid and invalid, from each of schemathesis's
phases (the document's examples, boundary coverage, random fuzzing), and every response is held to all of
its checks: never a 5xx; a status, Content-Type, headers and body the document declares for that
operation; schema-violating data refused and valid data accepted; a missing key refused (401); an
undocumented method answered 405 with an Allow header. The default run generates over a thousand cases
(~15-25 s); the slow one (``make test-slow``) five times as many.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

pytestmark = pytest.mark.integration

API_KEY = "fuzz-key"
EDGE_DAY = re.compile(r"(0001-01-01|9999-12-31)[Tt ]")


@dataclass
class FuzzRun:
    """What one run generated, by operation, phase, generation mode and status, checked at teardown."""

    minimum_cases: int
    tally: Counter[tuple[str, str, str, int]] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    def record(self, case, status: int) -> None:
        meta = case.meta
        phase = meta.phase.name.value if meta else "unknown"
        mode = meta.generation.mode.value if meta else "unknown"
        self.tally[(case.operation.label, phase, mode, status)] += 1

    def summary(self) -> str:
        lines = [f"{sum(self.tally.values())} cases in {time.monotonic() - self.started:.1f} s"]
        lines += [f"  {' '.join(map(str, key))}: {n}" for key, n in sorted(self.tally.items())]
        return "\n".join(lines)


def _fuzz(fuzzed_service, examples: int, minimum_cases: int):
    schema = schemathesis.openapi.from_url(
        fuzzed_service.url + "/openapi.json", headers={"X-API-Key": API_KEY}
    )
    schema.config.update(base_url=fuzzed_service.url, headers={"X-API-Key": API_KEY})
    schema.config.generation.update(max_examples=examples)

    @schema.hook("filter_body")
    def utc_in_range(context, body) -> bool:
        # A date-time that leaves years 1-9999 once in UTC (0001-01-01 with a positive offset, 9999-12-31
        # with a negative one) is refused by design, as the field's description says: JSON Schema's format
        # cannot, so such bodies are not generated as valid ones.
        return EDGE_DAY.search(str(body)) is None  # a dict, or bytes for a media type it should refuse

    operations = {
        f"{method.upper()} {path}" for path, item in schema.raw_schema["paths"].items() for method in item
    }
    run = FuzzRun(minimum_cases)
    yield schema, run
    print(f"\nschemathesis: {run.summary()}")
    fuzzed = {operation for operation, *_ in run.tally}
    assert fuzzed == operations, f"operations never fuzzed: {operations - fuzzed}"
    assert sum(run.tally.values()) >= minimum_cases, run.summary()
    # Checks send requests of their own (without the key, with other methods): none of those failed either.
    fuzzed_service.stop()  # the lifespan flushes the buffered access lines
    logged = [line for line in fuzzed_service.log_lines() if line.get("message") == "request"]
    assert len(logged) >= sum(run.tally.values()), "access lines missing"
    errors = [line for line in logged if line["status"] >= 500 and line["route"] != "/ready"]  # wait_ready
    assert not errors, errors[:5]


@pytest.fixture
def fuzzed_service(platform, artifacts, knowledge, serve):
    platform.publish(artifacts["a"])
    knowledge.promote(knowledge.ingest())  # /ask answers from a promoted index
    server = serve(
        PRODML_API_KEY=API_KEY, PRODML_CAPTURE_FRACTION=0, PRODML_MAX_BATCH_ROWS=20, **knowledge.env
    )
    server.wait_ready()
    return server


@pytest.fixture
def fuzz(fuzzed_service):
    yield from _fuzz(fuzzed_service, examples=400, minimum_cases=1000)


@pytest.fixture
def fuzz_deep(fuzzed_service):
    yield from _fuzz(fuzzed_service, examples=2000, minimum_cases=4000)


@pytest.fixture
def api_schema(fuzz):
    return fuzz[0]


@pytest.fixture
def api_schema_deep(fuzz_deep):
    return fuzz_deep[0]


FUZZ_SETTINGS = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
# The default run is derandomized: the same cases every run, so `make test` (and CI) cannot fail on a case
# no earlier run generated; the slow run keeps exploring new ones.
DEFAULT_RUN_SETTINGS = settings(FUZZ_SETTINGS, derandomize=True)


@schemathesis.pytest.from_fixture("api_schema").parametrize()
@DEFAULT_RUN_SETTINGS
def test_openapi_fuzz(case, fuzz):
    response = case.call_and_validate()
    fuzz[1].record(case, response.status_code)


@pytest.mark.slow
@schemathesis.pytest.from_fixture("api_schema_deep").parametrize()
@FUZZ_SETTINGS
def test_openapi_fuzz_deep(case, fuzz_deep):
    response = case.call_and_validate()
    fuzz_deep[1].record(case, response.status_code)
