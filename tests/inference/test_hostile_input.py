"""Hostile requests against the service as deployed (gunicorn, a real model from a moto registry), on both
ways ``POST /predict`` is answered (the middleware's fast path and the FastAPI route): each gets the answer
the README's hostile-input table gives it, in the one error shape, never a 500; the table is read from the
README, so it cannot drift from what the service does."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from prodml.contract import load_contract
from tests.conftest import CHURN_CONTRACT

from .conftest import ROW, SERVICE_DIR

pytestmark = pytest.mark.integration

API_KEY = "hostile-input-key"
MAX_BODY = 4096
MAX_ROWS = 5
JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class Case:
    """One kind of request, as the README's table names it, and the answer it must get."""

    kind: str
    status: int
    code: str | None  # the error code; None for a 200
    method: str = "POST"
    path: str = "/predict"
    body: Any = None  # JSON-encoded unless bytes; an iterator of bytes is sent chunked
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    field: str | None = None  # the field a 422 names first
    chunked: bool = False

    def send(self, client: httpx.Client) -> httpx.Response:
        content = self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()
        if self.body is None:
            content = b""
        if self.chunked:
            chunks = [content[i : i + 1024] for i in range(0, len(content), 1024)]
            return client.request(self.method, self.path, content=iter(chunks), headers=self.headers)
        return client.request(self.method, self.path, content=content, headers=self.headers)


def _row(**changes: Any) -> dict[str, Any]:
    return {**ROW, **changes}


BIG_BATCH = {"rows": [_row(customer_id="x" * 200)] * 30}  # valid JSON, ~9 KiB: over MAX_BODY
CASES = [
    Case("a valid row", 200, None, body=ROW),
    Case(
        "a valid row, `Content-Type: application/json; charset=utf-8`",
        200,
        None,
        body=ROW,
        headers={"content-type": "application/json; charset=utf-8"},
    ),
    Case("a valid row sent chunked (no Content-Length), within the limit", 200, None, body=ROW, chunked=True),
    Case(
        "a valid row with `?explain=true` (the prediction and its explanation)",
        200,
        None,
        path="/predict?explain=true",
        body=ROW,
    ),
    Case(
        "`explain` given anything but `true` or `false` (`?explain=yes`, `?explain=1`, `?explain=`)",
        422,
        "validation_error",
        path="/predict?explain=yes",
        body=ROW,
        field="query.explain",
    ),
    Case(
        "`explain` given more than once (`?explain=true&explain=false`)",
        422,
        "validation_error",
        path="/predict?explain=true&explain=false",
        body=ROW,
        field="query.explain",
    ),
    Case(
        "batch with a bad `explain` (`/predict/batch?explain=maybe`)",
        422,
        "validation_error",
        path="/predict/batch?explain=maybe",
        body={"rows": [ROW]},
        field="query.explain",
    ),
    Case(
        "integer feature given a fractional number (`12.0` is an integer, `12.5` is not)",
        422,
        "validation_error",
        body=_row(tenure_months=12.5),
        field="tenure_months",
    ),
    Case(
        "integer feature given a boolean (`true`)",
        422,
        "validation_error",
        body=_row(tenure_months=True),
        field="tenure_months",
    ),
    Case(
        'integer feature given a numeric string (`"12"`, `"1e5"`)',
        422,
        "validation_error",
        body=_row(tenure_months="12"),
        field="tenure_months",
    ),
    Case(
        "float feature given a boolean or a numeric string",
        422,
        "validation_error",
        body=_row(monthly_spend="1.5"),
        field="monthly_spend",
    ),
    Case(
        "float feature given a number JSON cannot hold as a float (`1e400`)",
        422,
        "validation_error",
        body=json.dumps(_row(monthly_spend=0))
        .replace('"monthly_spend": 0', '"monthly_spend": 1e400')
        .encode(),
        field="monthly_spend",
    ),
    Case(
        'boolean feature given a number or a string (`1`, `"true"`)',
        422,
        "validation_error",
        body=_row(autopay=1),
        field="autopay",
    ),
    Case(
        "timestamp whose offset puts it outside years 1-9999 in UTC (`9999-12-31T23:59:59-23:59`)",
        422,
        "validation_error",
        body=_row(signup_date="9999-12-31T23:59:59-23:59"),
        field="signup_date",
    ),
    Case(
        "timestamp given a number or a string of digits (Unix seconds)",
        422,
        "validation_error",
        body=_row(signup_date=1700000000),
        field="signup_date",
    ),
    Case(
        "number outside the contract's range",
        422,
        "validation_error",
        body=_row(tenure_months=601),
        field="tenure_months",
    ),
    Case(
        "category the contract does not list", 422, "validation_error", body=_row(plan="gold"), field="plan"
    ),
    Case("unknown field", 422, "validation_error", body=_row(bogus=1), field="bogus"),
    Case(
        "required feature missing",
        422,
        "validation_error",
        body={k: v for k, v in ROW.items() if k != "region"},
        field="region",
    ),
    Case("body that is not JSON", 422, "validation_error", body=b"{not json", field="body"),
    Case("JSON that is not an object (`[1]`)", 422, "validation_error", body=[1], field="body"),
    Case("empty body", 422, "validation_error", body=b"", field="body"),
    Case(
        "batch with more rows than PRODML_MAX_BATCH_ROWS",
        422,
        "validation_error",
        path="/predict/batch",
        body={"rows": [ROW] * (MAX_ROWS + 1)},
        field="rows",
    ),
    Case(
        "batch with no rows", 422, "validation_error", path="/predict/batch", body={"rows": []}, field="rows"
    ),
    Case(
        "batch with one bad row",
        422,
        "validation_error",
        path="/predict/batch",
        body={"rows": [ROW, _row(autopay="yes")]},
        field="rows[1].autopay",
    ),
    Case(
        "`Content-Type: text/plain`",
        415,
        "unsupported_media_type",
        body=ROW,
        headers={"content-type": "text/plain"},
    ),
    Case(
        "`Content-Type: application/x-www-form-urlencoded`",
        415,
        "unsupported_media_type",
        body=ROW,
        headers={"content-type": "application/x-www-form-urlencoded"},
    ),
    Case("no Content-Type at all", 415, "unsupported_media_type", body=ROW, headers={}),
    Case(
        "batch not sent as JSON",
        415,
        "unsupported_media_type",
        path="/predict/batch",
        body={"rows": [ROW]},
        headers={"content-type": "text/plain"},
    ),
    Case(
        "Content-Length over PRODML_MAX_BODY_BYTES",
        413,
        "body_too_large",
        path="/predict/batch",
        body=BIG_BATCH,
    ),
    Case(
        "body over PRODML_MAX_BODY_BYTES sent chunked (no Content-Length), to /predict",
        413,
        "body_too_large",
        body=_row(customer_id="x" * 200, padding="y" * MAX_BODY),
        chunked=True,
    ),
    Case(
        "body over PRODML_MAX_BODY_BYTES sent chunked, to /predict/batch",
        413,
        "body_too_large",
        path="/predict/batch",
        body=BIG_BATCH,
        chunked=True,
    ),
    Case(
        "no X-API-Key, or a wrong one", 401, "unauthorized", body=ROW, headers={**JSON, "x-api-key": "wrong"}
    ),
    Case(
        "method the path does not take (`GET /predict`): `Allow` names those it does",
        405,
        "method_not_allowed",
        method="GET",
        headers={},
    ),
    Case("path no route serves", 404, "not_found", method="GET", path="/predict/nope", headers={}),
    Case(
        '`/ask` with an empty question (`""`, or only whitespace)',
        422,
        "validation_error",
        path="/ask",
        body={"question": "   "},
        field="question",
    ),
    Case(
        "`/ask` with a question over 2,000 characters",
        422,
        "validation_error",
        path="/ask",
        body={"question": "why " * 501},
        field="question",
    ),
    Case(
        "`/ask` with a question that is not a string (`42`, `null`, a list)",
        422,
        "validation_error",
        path="/ask",
        body={"question": 42},
        field="question",
    ),
    Case(
        "`/ask` with no question, or an unknown field",
        422,
        "validation_error",
        path="/ask",
        body={"query": "what is prodml?"},
        field="question",
    ),
    Case(
        "`/ask` not sent as JSON",
        415,
        "unsupported_media_type",
        path="/ask",
        body={"question": "what is prodml?"},
        headers={"content-type": "text/plain"},
    ),
    Case(
        "`/ask` with a valid question while no knowledge base is configured",
        503,
        "no_knowledge_base",
        path="/ask",
        body={"question": "what is prodml?"},
    ),
]

NOT_READY = Case(
    "a valid row while the registry has no approved model (`not_ready` when none can serve for another reason)",
    503,
    "no_model",
    body=ROW,
)


def _readme_table() -> dict[str, tuple[int, str | None]]:
    """The README's hostile-input table: request kind → (status, error code)."""
    text = (SERVICE_DIR / "README.md").read_text()
    section = text.split("## Hostile input", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[int, str | None]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[1].isdigit():
            code = cells[2].strip("`")
            rows[cells[0]] = (int(cells[1]), None if code in ("", "—") else code)
    return rows


def _answer(response: httpx.Response) -> tuple[int, str | None, str | None]:
    if response.status_code == 200:
        return 200, None, None
    error = response.json()["error"]
    details = error.get("details") or [{}]
    return response.status_code, error["code"], details[0].get("field")


def test_readme_table_lists_every_case():
    assert _readme_table() == {case.kind: (case.status, case.code) for case in [*CASES, NOT_READY]}


def test_hostile_requests_get_the_documented_answer_on_both_paths(platform, artifacts, serve):
    servers = {
        fast: serve(
            PRODML_API_KEY=API_KEY,
            PRODML_MAX_BODY_BYTES=MAX_BODY,
            PRODML_MAX_BATCH_ROWS=MAX_ROWS,
            PRODML_CAPTURE_FRACTION=0,
            PRODML_FAST_PREDICT=str(fast).lower(),
        )
        for fast in (True, False)
    }
    # Before any model is approved, a valid request is refused (503), on both paths.
    for server in servers.values():
        with httpx.Client(base_url=server.url, timeout=10, headers={"x-api-key": API_KEY}) as client:
            assert _answer(NOT_READY.send(client)) == (503, "no_model", None)
    platform.publish(artifacts["a"])
    answers: dict[bool, list] = {}
    for fast, server in servers.items():
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=10) as client:
            client.headers["x-api-key"] = API_KEY
            responses = [case.send(client) for case in CASES]
        answers[fast] = []
        for case, response in zip(CASES, responses, strict=True):
            status, code, first_field = _answer(response)
            assert (status, code) == (case.status, case.code), f"{case.kind}: {response.text}"
            if case.field is not None:
                assert first_field == case.field, f"{case.kind}: {response.text}"
            if status != 200:
                body = response.json()
                assert set(body) == {"error", "request_id"} and body["request_id"]
                assert response.headers["content-type"] == "application/json"
                assert "Traceback" not in response.text
            answers[fast].append((status, code, response.json().get("error", {}).get("details")))
        allow = next(r for c, r in zip(CASES, responses, strict=True) if c.status == 405).headers
        assert allow.get("allow") == "POST", allow
        # The lifespan flushes the buffered access lines: every request is logged, and no 5xx but the
        # documented 503s before the model was ready.
        server.stop()
        logged = [line for line in server.log_lines() if line.get("message") == "request"]
        assert len(logged) >= len(CASES)
        assert not [line for line in logged if line["status"] >= 500 and line["status"] != 503]
    # The fast path and the FastAPI route answer alike, down to each error's details.
    assert answers[True] == answers[False]


def test_request_model_refuses_what_its_openapi_schema_refuses():
    """Booleans are not numbers, strings are not numbers, numbers are not booleans: the JSON types the
    generated schema names, and only those (pure: the request model alone)."""
    from app.serving.schema import describe_errors, row_model

    row_cls = row_model(load_contract(CHURN_CONTRACT))

    def refused(**changes: Any) -> list[dict[str, str]]:
        with pytest.raises(ValidationError) as info:
            row_cls.model_validate_json(json.dumps(_row(**changes)))
        return describe_errors(info.value)

    def accepted(**changes: Any) -> dict[str, Any]:
        return row_cls.model_validate_json(json.dumps(_row(**changes))).model_dump()

    for value in (True, False, "1", "1e5", "12", 12.5, [12], {"v": 12}):
        assert [d["field"] for d in refused(tenure_months=value)] == ["tenure_months"], value
        assert [d["field"] for d in refused(last_login_days=value)] == ["last_login_days"], value
    assert refused(tenure_months=True)[0]["reason"] == "Input should be a valid integer, not a boolean"
    assert refused(tenure_months="1e5")[0]["reason"] == "Input should be a valid integer, not a string"
    assert refused(tenure_months=12.5)[0]["type"] == "int_from_float"
    assert accepted(tenure_months=12.0)["tenure_months"] == 12  # JSON Schema's integer includes 12.0
    assert type(accepted(tenure_months=12.0)["tenure_months"]) is int
    for value in (True, "1.5", "NaN", [1.5]):
        assert [d["type"] for d in refused(monthly_spend=value)] == ["float_type"], value
    assert accepted(monthly_spend=3)["monthly_spend"] == 3.0
    for value in (1, 0, "true", "yes", None):
        assert [d["field"] for d in refused(autopay=value)] == ["autopay"], value
    for value in (0, 1700000000, 1.7e9, "1700000000", True, ["2023-02-01"]):
        assert [d["type"] for d in refused(signup_date=value)] == ["datetime_type"], value
    assert accepted(signup_date="2023-02-01")["signup_date"].isoformat() == "2023-02-01T00:00:00+00:00"

    schema = row_cls.model_json_schema()["properties"]
    assert schema["tenure_months"]["type"] == "integer"
    assert schema["monthly_spend"]["anyOf"][0]["type"] == "number"
    assert schema["autopay"]["type"] == "boolean"
    assert "in UTC it must fall in years 1 to 9999" in schema["signup_date"]["description"]


@pytest.mark.parametrize(
    "stamp",
    ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-01:00"],
)
def test_a_timestamp_out_of_range_in_utc_is_a_field_error(stamp):
    from app.serving.schema import describe_errors, row_model

    row_cls = row_model(load_contract(CHURN_CONTRACT))
    with pytest.raises(ValidationError) as info:  # was an OverflowError, so a 500
        row_cls.model_validate_json(json.dumps(_row(signup_date=stamp)))
    assert describe_errors(info.value) == [
        {
            "field": "signup_date",
            "reason": "out of range: in UTC it falls outside years 1 to 9999",
            "type": "value_error",
        }
    ]
    # The extremes themselves still serve, with or without an offset that keeps them in range.
    for fine in ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00", "9999-12-31T20:00:00-03:00"):
        assert row_cls.model_validate_json(json.dumps(_row(signup_date=fine))).signup_date.year in (1, 9999)


@pytest.mark.parametrize(
    ("value", "is_json"),
    [
        (b"application/json", True),
        (b"application/json; charset=utf-8", True),
        (b"Application/JSON", True),
        (b"application/vnd.api+json", True),
        (b"application/merge-patch+json; charset=utf-8", True),
        (None, False),
        (b"", False),
        (b"text/plain", False),
        (b"text/json", False),
        (b"application/x-www-form-urlencoded", False),
        (b"multipart/form-data; boundary=x", False),
        (b"application/jsonx", False),
    ],
)
def test_json_content_type_follows_fastapis_rule(value, is_json):
    from app.core.middleware import is_json_content_type

    assert is_json_content_type(value) is is_json


def test_openapi_documents_every_answer_the_middleware_gives():
    from app.core.config import InferenceSettings
    from app.main import create_app

    app = create_app(InferenceSettings(dataset="customer_churn", api_key="k"))
    paths = app.openapi()["paths"]
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    for path in ("/predict", "/predict/batch"):
        responses = paths[path]["post"]["responses"]
        assert set(responses) == {"200", "401", "413", "415", "422", "503"}, path
        for status in ("401", "413", "415", "422", "503"):
            assert responses[status]["content"]["application/json"]["schema"] == error, (path, status)
    assert "401" in paths["/model"]["get"]["responses"] and "401" in paths["/metrics"]["get"]["responses"]
    assert "401" not in paths["/health"]["get"]["responses"]  # the probes never ask for a key
    assert not re.search(r'"41[35]"', json.dumps(paths["/model"]))  # no body, so no 413/415
