"""Authentication is explicit: PRODML_AUTH=api_key (the default) or none. None only on a loopback-bound run
against the emulator (the endpoint's host parsed, never a substring) with no key configured; a configured key
is always enforced; every contradiction stops the service at start-up with a message saying why."""

from __future__ import annotations

import ast
import os
import re

import pytest
import yaml
from pydantic import ValidationError

from tests.inference.conftest import start_service
from tests.inference.test_service_integration import ROW
from tests.terraform.terraform_config import MODULES, REPO, load_blocks, root_dirs, unwrap

pytestmark = pytest.mark.integration

EMULATOR = "http://127.0.0.1:4566"
LOOKALIKES = [
    "https://localhost-gateway.corp.example.com",
    "https://api.example.com/?next=127.0.0.1",
    "https://api.example.com/127.0.0.1/",
]


@pytest.fixture
def environ(monkeypatch):
    """``environ(**variables)``: exactly these PRODML_* / AWS endpoint variables, as the service reads them."""
    from app.core.config import InferenceSettings

    def _settings(**variables: str) -> InferenceSettings:
        for name in list(os.environ):
            if name.startswith("PRODML_") or name == "AWS_ENDPOINT_URL":
                monkeypatch.delenv(name)
        monkeypatch.setenv("PRODML_DATASET", "customer_churn")
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return InferenceSettings()

    return _settings


# ---- settings -------------------------------------------------------------------------------------------
def test_the_default_is_api_key_and_a_key_is_then_enforced_even_on_the_emulator(environ):
    settings = environ(AWS_ENDPOINT_URL=EMULATOR, PRODML_API_KEY="k")
    assert settings.auth == "api_key" and not settings.is_local
    with pytest.raises(ValidationError, match="API key is required"):
        environ(AWS_ENDPOINT_URL=EMULATOR)


@pytest.mark.parametrize("url", LOOKALIKES)
def test_a_url_that_mentions_loopback_does_not_turn_the_key_off(environ, url):
    with pytest.raises(ValidationError, match="API key is required"):
        environ(AWS_ENDPOINT_URL=url)
    with pytest.raises(ValidationError, match="only for a local run against the emulator"):
        environ(AWS_ENDPOINT_URL=url, PRODML_AUTH="none", PRODML_BIND="127.0.0.1:8080")


def test_none_is_refused_against_real_aws(environ):
    with pytest.raises(ValidationError, match="the AWS endpoint is real AWS"):
        environ(PRODML_AUTH="none", PRODML_BIND="127.0.0.1:8080")


@pytest.mark.parametrize(
    "key",
    [{"PRODML_API_KEY": "k"}, {"PRODML_API_KEY_SECRET": "prodml/inference/api-key"}],
    ids=["key", "secret"],
)
def test_none_with_a_key_configured_is_a_contradiction(environ, key):
    with pytest.raises(ValidationError, match="contradicts the API key configured"):
        environ(AWS_ENDPOINT_URL=EMULATOR, PRODML_AUTH="none", PRODML_BIND="127.0.0.1:8080", **key)


@pytest.mark.parametrize("bind", [None, "0.0.0.0:8080", "10.1.2.3:8080", "localhost-gateway:8080"])
def test_none_is_refused_unless_bound_to_loopback(environ, bind):
    variables = {"PRODML_BIND": bind} if bind else {}
    with pytest.raises(ValidationError, match="would serve without an API key on"):
        environ(AWS_ENDPOINT_URL=EMULATOR, PRODML_AUTH="none", **variables)


@pytest.mark.parametrize("bind", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "unix:/tmp/prodml.sock"])
def test_none_on_a_loopback_bound_run_against_the_emulator(environ, bind):
    settings = environ(AWS_ENDPOINT_URL=EMULATOR, PRODML_AUTH="none", PRODML_BIND=bind)
    assert settings.is_local


def test_auth_takes_only_its_two_values_and_the_old_switch_is_refused(environ):
    with pytest.raises(ValidationError, match="'api_key' or 'none'"):
        environ(PRODML_AUTH="off", PRODML_API_KEY="k")
    for value in ("true", "false"):
        with pytest.raises(ValidationError, match="PRODML_LOCAL_MODE is no longer read"):
            environ(AWS_ENDPOINT_URL=EMULATOR, PRODML_LOCAL_MODE=value, PRODML_API_KEY="k")


def test_an_empty_key_is_refused(environ):
    with pytest.raises(ValidationError, match="PRODML_API_KEY is set but empty"):
        environ(PRODML_API_KEY=" ")


def test_a_refusal_never_echoes_the_key(environ):
    with pytest.raises(ValidationError) as refused:
        environ(AWS_ENDPOINT_URL=EMULATOR, PRODML_AUTH="none", PRODML_API_KEY="hunter2-do-not-log")
    assert "hunter2" not in str(refused.value)


def test_ecs_runs_the_service_in_api_key_mode(environ):
    """The task's plain environment chooses no auth mode and no endpoint (so: api_key against real AWS), and
    the key reaches it as PRODML_API_KEY from Secrets Manager."""
    roots = {root: load_blocks(root, "module") for root in root_dirs()}
    inference = [modules["inference"][1] for modules in roots.values() if "inference" in modules]
    assert inference, f"no root configuration in {list(roots)} deploys the inference module"
    _, variable = load_blocks(MODULES / "ecs_service", "variable")["api_key_secret_env_name"]
    for module in inference:
        container_environment = _container_environment(unwrap(module["container_environment"]))
        assert container_environment.get("PRODML_AUTH", "api_key") == "api_key"
        assert (
            not {"PRODML_LOCAL_MODE", "AWS_ENDPOINT_URL", "PRODML_ENDPOINT_URL"}
            & container_environment.keys()
        )
        secret_variable = unwrap(module.get("api_key_secret_env_name", variable["default"]))
        assert secret_variable == "PRODML_API_KEY"
        plain = {
            name: value if value in KNOWLEDGE_VALUES.values() else "x"
            for name, value in container_environment.items()
            if name != "PRODML_DATASET"
        }
        settings = environ(**plain, **{secret_variable: "from-secrets-manager"})
        assert settings.auth == "api_key" and settings.is_real_aws and not settings.is_local
        with pytest.raises(ValidationError, match="real AWS"):
            environ(**plain, PRODML_AUTH="none", PRODML_BIND="127.0.0.1:8080")


def _container_environment(value) -> dict:
    """The ECS task's environment as the root writes it: a literal map, or merge() of a literal map with the
    knowledge module's service_environment, whose names knowledge.yaml gives (the guardrail's ARN and version),
    and the knowledge base /ask answers from."""
    if isinstance(value, dict):
        return value
    literal = re.search(r"merge\((\{.*?\})\s*,\s*module\.knowledge\.service_environment\b", str(value))
    assert literal, f"container_environment is neither a map nor merge(map, knowledge): {value!r}"
    environment = ast.literal_eval(literal.group(1))
    spec = yaml.safe_load((REPO / "src/prodml/jobs/knowledge.yaml").read_text())
    knowledge = {name: KNOWLEDGE_VALUES[key] for key, name in spec["service_environment"].items()}
    return environment | knowledge | {"PRODML_KNOWLEDGE_BASE": "prodml_docs"}


# What the knowledge module's service_environment holds, by knowledge.yaml's key (a guardrail version is a
# number: the service refuses anything else).
KNOWLEDGE_VALUES = {
    "guardrail_identifier": "arn:aws:bedrock:us-east-1:123456789012:guardrail/gr-prodml",
    "guardrail_version": "1",
}


# ---- the service, run as its container runs it ------------------------------------------------------------
def test_a_configured_key_is_enforced_on_a_local_run(platform, artifacts, serve):
    platform.publish(artifacts["a"])
    server = serve(PRODML_API_KEY="local-key")  # against the emulator on 127.0.0.1, no PRODML_AUTH
    server.wait_ready()
    assert server.get("/health").status_code == 200
    denied = server.post("/predict", ROW)
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "unauthorized"
    assert server.post("/predict", ROW, headers={"X-API-Key": "wrong"}).status_code == 401
    assert server.get("/model").status_code == 401
    assert server.post("/predict", ROW, headers={"X-API-Key": "local-key"}).status_code == 200


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"PRODML_AUTH": "none", "PRODML_API_KEY": "hunter2-do-not-log"},
            "contradicts the API key configured",
        ),
        (
            {"PRODML_AUTH": "none", "AWS_ENDPOINT_URL": "https://localhost-gateway.corp.example.com"},
            "only for a local run against the emulator",
        ),
    ],
    ids=["none-with-a-key", "lookalike-endpoint"],
)
def test_the_service_refuses_to_start_on_a_contradiction(platform, tmp_path, variables, message):
    try:
        server = start_service({"PRODML_DATASET": platform.contract.name, **variables}, tmp_path, timeout=60)
    except AssertionError as refused:
        log = str(refused)
    else:
        server.stop()
        pytest.fail("the service started")
    assert "gunicorn exited" in log
    assert message in log and "hunter2" not in log


# ---- prodml serve and the demo --------------------------------------------------------------------------
def test_the_demo_turns_the_key_off_visibly_on_the_emulator_and_sends_a_configured_one(
    platform, artifacts, capsys, monkeypatch
):
    from prodml.cli.demo import DemoContext
    from prodml.cli.serving import step_serve
    from tests.conftest import CHURN_CONTRACT

    platform.publish(artifacts["a"])
    context = DemoContext(contract=platform.contract, contract_path=CHURN_CONTRACT, data=CHURN_CONTRACT)
    step_serve(context)
    out = capsys.readouterr().out
    assert "auth: none (PRODML_AUTH=none" in out and "(contract example) → 200" in out

    monkeypatch.setenv("PRODML_API_KEY", "demo-key")
    step_serve(context)
    out = capsys.readouterr().out
    assert "auth: API key required (X-API-Key; from PRODML_API_KEY)" in out
    assert "(contract example) → 200" in out and "GET /model → v" in out


def test_prodml_serve_refuses_to_serve_without_a_key_away_from_the_emulator(monkeypatch):
    from tests.conftest import run_prodml

    for name in ("PRODML_AUTH", "PRODML_API_KEY", "PRODML_API_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    result = run_prodml(
        "serve", "--port", "1", env={"AWS_ENDPOINT_URL": "https://localhost-gateway.corp.example.com"}
    )
    assert result.returncode == 1
    assert "serving against https://localhost-gateway.corp.example.com needs an API key" in " ".join(
        result.stderr.split()
    ), result.stderr


@pytest.mark.parametrize("version", [None, "", "DRAFT", "v2"])
def test_a_guardrail_without_its_numbered_version_is_refused_at_start(environ, version):
    """Not quietly applied as DRAFT, which changes under the service and which the IAM grant (the numbered
    version's ARN) denies: every /ask would have failed with AccessDenied."""
    guardrail = {"PRODML_API_KEY": "k", "PRODML_KNOWLEDGE_GUARDRAIL_ID": "gr-123"}
    if version is not None:
        guardrail["PRODML_KNOWLEDGE_GUARDRAIL_VERSION"] = version
    with pytest.raises(ValidationError, match="PRODML_KNOWLEDGE_GUARDRAIL_VERSION must be the guardrail's"):
        environ(**guardrail)
    settings = environ(**{**guardrail, "PRODML_KNOWLEDGE_GUARDRAIL_VERSION": "3"})
    assert (settings.knowledge_guardrail_id, settings.knowledge_guardrail_version) == ("gr-123", "3")
