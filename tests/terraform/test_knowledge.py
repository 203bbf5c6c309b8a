"""The knowledge layer's Terraform (modules/knowledge, and what it adds to the root, modules/cloudwatch and
modules/s3_data_zones), checked offline: Terraform itself evaluates the root's spec-reading expressions (every
knowledge contract of contracts/knowledge/, src/prodml/jobs/knowledge.yaml) and the module's spec.tf and policies.tf
for dev, staging and prod, with stand-ins for the account, the queues' key and the guardrail. The models any role
may invoke are exactly the contracts' (an edited contract changes Terraform's answer), each role holds only its
own grants, every grant falls inside the permissions boundary, and the queue is the one prodml.knowledge uses.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from prodml import naming
from prodml.knowledge import worker
from prodml.knowledge.contract import load_knowledge_contracts
from prodml.zones import Zones
from tests.terraform.terraform_config import (
    ENVIRONMENTS,
    MODULES,
    PLATFORM,
    REPO,
    as_list,
    evaluate_module_locals,
    load_blocks,
    load_resources,
    not_allowed_by,
    run_terraform,
    tfvars,
    unwrap,
)
from tests.terraform.test_drift_alarm import drift_root
from tests.terraform.test_github_oidc import evaluate as evaluate_github_roles
from tests.terraform.test_github_oidc import outside_the_boundary
from tests.terraform.test_orchestration import as_hcl, load_locals, only_locals, references

MODULE = MODULES / "knowledge"
JOBS = REPO / "src" / "prodml" / "jobs"
CONTRACTS = REPO / "contracts" / "knowledge"
PROJECT = "prodml"
ACCOUNT = "123456789012"
GUARDRAIL_ID = "gr0example0"
GUARDRAIL_VERSION = "3"
# The module's files that hold no resource or data source; main.tf supplies these locals, the test stands in.
OFFLINE_FILES = ("variables.tf", "spec.tf", "policies.tf")
VALUES = (
    "embedding_model_arns",
    "answer_model_arns",
    "service_environment",
    "vector_indexes",
    "vector_index_arns",
    "queue_arn",
    "dead_letter_queue_arn",
    "ecs_tasks_trust_policy",
    "queue_policy",
    "dead_letter_queue_policy",
    "queue_key_policy",
    "vector_key_policy",
    "worker_policy",
    "worker_execution_policy",
    "service_policy",
)


def region(env: str) -> str:
    return str(tfvars(env)["region"])


def guardrail_arn(env: str) -> str:
    return f"arn:aws:bedrock:{region(env)}:{ACCOUNT}:guardrail/{GUARDRAIL_ID}"


def stand_ins(env: str) -> str:
    return f"""locals {{
  account_id        = "{ACCOUNT}"
  partition         = "aws"
  region            = "{region(env)}"
  queue_key_arn     = "arn:aws:kms:{region(env)}:{ACCOUNT}:key/queues"
  vector_key_arn    = "arn:aws:kms:{region(env)}:{ACCOUNT}:key/vectors"
  guardrail_arn     = "{guardrail_arn(env)}"
  guardrail_version = "{GUARDRAIL_VERSION}"
}}
"""


def bucket_arn(env: str, zone: str) -> str:
    return f"arn:aws:s3:::{naming.bucket_name(PROJECT, env, zone)}"


def module_inputs(env: str) -> dict[str, object]:
    """What this test sets for the inputs that come from other modules or the root's variables."""
    values = tfvars(env)
    prefix = f"{PROJECT}-{env}"
    return {
        "name": prefix,
        "queue_name": naming.knowledge_queue_name(PROJECT, env),
        "dead_letter_queue_name": naming.knowledge_dead_letter_queue_name(PROJECT, env),
        "worker_name": f"{prefix}-knowledge-worker",
        "guardrail_name": f"{prefix}-knowledge",
        "vector_bucket_name": f"{prefix}-knowledge-vectors",
        "vector_store_enabled": values["knowledge_vector_store_enabled"],
        "worker_settings": {"project": PROJECT, "env": env, "region": region(env)},
        "bucket_arns": {zone: bucket_arn(env, zone) for zone in naming.ZONES},
        "data_kms_key_arn": f"arn:aws:kms:{region(env)}:{ACCOUNT}:key/data",
        "container_image": f"{ACCOUNT}.dkr.ecr.{region(env)}.amazonaws.com/{prefix}-inference:abc123",
        "repository_arn": f"arn:aws:ecr:{region(env)}:{ACCOUNT}:repository/{prefix}-inference",
        "cluster_arn": f"arn:aws:ecs:{region(env)}:{ACCOUNT}:cluster/{prefix}-inference",
        "cluster_name": f"{prefix}-inference",
        "service_task_role_arn": f"arn:aws:iam::{ACCOUNT}:role/{prefix}-inference-task",
        "vpc_id": "vpc-0example",
        "private_subnet_ids": ["subnet-a", "subnet-b"],
        "log_group_retention_in_days": values["log_retention_in_days"],
        "log_group_kms_key_arn": f"arn:aws:kms:{region(env)}:{ACCOUNT}:key/logs",
        "iam_role_permissions_boundary": None,
        "tags": {},
    }


def root(env: str, overrides: dict[str, object] | None = None) -> str:
    """The platform root's spec-reading locals and its call of the knowledge module: every input built from those
    locals is the root's own expression (the contracts, knowledge.yaml), the others are this test's values."""
    root_locals = {
        name: expression
        for path in sorted(PLATFORM.glob("*.tf"))
        for name, expression in load_locals(path).items()
        if isinstance(expression, str) and references(expression) <= {"local"}
    }
    lines = ["locals {", *(f'  {n} = "{e}"' for n, e in root_locals.items()), "}"]
    _, body = load_blocks(PLATFORM, "module")["knowledge"]
    inputs = {**module_inputs(env), **(overrides or {})}
    from_spec = []
    lines += ['module "knowledge" {', '  source = "../../modules/knowledge"']
    for name, value in body.items():
        if name in ("source", "__start_line__", "__end_line__"):
            continue
        expression = unwrap(value)
        if name not in (overrides or {}) and references(expression) and only_locals(expression, root_locals):
            lines.append(f"  {name} = {as_hcl(expression)}")
            from_spec.append(name)
        else:
            assert name in inputs, f"module.knowledge.{name} = {expression!r}: give the test a value"
            lines.append(f"  {name} = {json.dumps(inputs[name])}")
    assert {"knowledge_contracts", "knowledge_spec"} <= set(from_spec), "the root must read the specs itself"
    lines.append("}")
    return "\n".join(lines) + "\n"


def copy_sources(repo: Path) -> None:
    for source in [
        *JOBS.glob("*.yaml"),
        *JOBS.glob("*.json"),
        *CONTRACTS.glob("*.yaml"),
        REPO / "src" / "prodml" / "__init__.py",
    ]:
        target = repo / source.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)


def evaluate(
    tmp_path: Path,
    env: str,
    edit: Callable[[Path], None] | None = None,
    overrides: dict[str, object] | None = None,
) -> tuple[int, dict, str]:
    """Terraform's values of the module's offline locals (VALUES), for this environment's root."""
    repo = tmp_path / "repo"
    copy_sources(repo)
    if edit:
        edit(repo)
    return evaluate_module_locals(
        repo, "knowledge", OFFLINE_FILES, stand_ins(env), VALUES, root(env, overrides)
    )


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def evaluated(request, tmp_path_factory) -> tuple[str, dict]:
    env = request.param
    code, values, said = evaluate(tmp_path_factory.mktemp(f"knowledge-{env}"), env)
    assert code == 0, said
    return env, values


def statements(policy: dict) -> dict[str, dict]:
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def knowledge_spec() -> dict:
    loaded: dict = yaml.safe_load((JOBS / "knowledge.yaml").read_text())
    return loaded


def model_arn(env: str, model_id: str) -> str:
    return f"arn:aws:bedrock:{region(env)}::foundation-model/{model_id}"


# ---- the models are the contracts' ----------------------------------------------------------------------


def test_every_role_invokes_exactly_the_contracts_models(evaluated):
    env, values = evaluated
    contracts = load_knowledge_contracts(CONTRACTS)
    embedding = sorted({model_arn(env, c.embedding.aws.model_id) for c in contracts.values()})
    answer = sorted(
        {
            model_arn(env, model)
            for c in contracts.values()
            for model in (c.answer.generation.model_id, c.answer.generation.fallback_model_id)
        }
    )
    assert values["embedding_model_arns"] == embedding
    assert values["answer_model_arns"] == answer
    worker_policy = statements(values["worker_policy"])
    service_policy = statements(values["service_policy"])
    assert worker_policy["EmbedDocuments"]["Resource"] == embedding
    assert service_policy["EmbedQuestions"]["Resource"] == embedding
    assert service_policy["AnswerThroughTheGuardrail"]["Resource"] == answer
    # Converse is authorised as InvokeModel; every Bedrock grant names its models or its guardrail, never "*".
    for policy in (values["worker_policy"], values["service_policy"]):
        for statement in policy["Statement"]:
            if any(action.startswith("bedrock:") for action in as_list(statement["Action"])):
                assert "*" not in "".join(as_list(statement["Resource"])), statement["Sid"]


def test_an_answer_model_is_invoked_only_with_the_guardrails_version(evaluated):
    env, values = evaluated
    service_policy = statements(values["service_policy"])
    assert service_policy["AnswerThroughTheGuardrail"]["Condition"] == {
        "StringEquals": {"bedrock:GuardrailIdentifier": f"{guardrail_arn(env)}:{GUARDRAIL_VERSION}"}
    }
    assert service_policy["ApplyTheGuardrail"] == {
        "Sid": "ApplyTheGuardrail",
        "Effect": "Allow",
        "Action": ["bedrock:ApplyGuardrail"],
        "Resource": guardrail_arn(env),
    }
    # The service's environment names the guardrail as knowledge.yaml says the Settings read it.
    names = knowledge_spec()["service_environment"]
    assert values["service_environment"] == {
        names["guardrail_identifier"]: guardrail_arn(env),
        names["guardrail_version"]: GUARDRAIL_VERSION,
    }


def test_editing_a_contract_changes_terraforms_models(tmp_path):
    def edit(repo: Path) -> None:
        path = repo / CONTRACTS.relative_to(REPO) / "prodml_docs.yaml"
        text = path.read_text()
        assert "amazon.nova-micro-v1:0" in text
        path.write_text(text.replace("amazon.nova-micro-v1:0", "amazon.nova-pro-v1:0"))

    code, values, said = evaluate(tmp_path, "dev", edit)
    assert code == 0, said
    assert model_arn("dev", "amazon.nova-pro-v1:0") in values["answer_model_arns"]
    assert model_arn("dev", "amazon.nova-micro-v1:0") not in values["answer_model_arns"]


def test_a_golden_question_file_is_not_a_knowledge_base(evaluated):
    # prodml_docs.golden.yaml sits beside the contract; like prodml.knowledge, the root skips it.
    _, values = evaluated
    assert len(values["embedding_model_arns"]) == len(
        {c.embedding.aws.model_id for c in load_knowledge_contracts(CONTRACTS).values()}
    )


# ---- the queue is the one prodml.knowledge uses ---------------------------------------------------------


def test_the_queue_is_the_workers_and_only_the_raw_bucket_sends_to_it(evaluated):
    env, values = evaluated
    spec = knowledge_spec()["queue"]
    # prodml.knowledge.worker creates the same queue on the emulator (ensure_queues) and consumes it.
    assert spec["max_receive_count"] == worker.MAX_RECEIVE_COUNT
    assert spec["visibility_timeout_seconds"] == worker.VISIBILITY_TIMEOUT_SECONDS
    assert spec["receive_wait_seconds"] == worker.RECEIVE_WAIT_SECONDS
    assert spec["landing_prefix"] == Zones.knowledge_landing_prefix()
    head = f"arn:aws:sqs:{region(env)}:{ACCOUNT}"
    assert values["queue_arn"] == f"{head}:{naming.knowledge_queue_name(PROJECT, env)}"
    assert (
        values["dead_letter_queue_arn"] == f"{head}:{naming.knowledge_dead_letter_queue_name(PROJECT, env)}"
    )
    queue = statements(values["queue_policy"])
    assert queue["RawBucketLandingEvents"] == {
        "Sid": "RawBucketLandingEvents",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": values["queue_arn"],
        "Condition": {
            "ArnEquals": {"aws:SourceArn": bucket_arn(env, "raw")},
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
        },
    }
    assert queue["DenyInsecureTransport"]["Effect"] == "Deny"
    key = statements(values["queue_key_policy"])["RawBucketEncryptsEvents"]
    assert key["Principal"] == {"Service": "s3.amazonaws.com"}
    assert key["Condition"]["ArnEquals"] == {"aws:SourceArn": bucket_arn(env, "raw")}


def test_the_queue_resources_read_knowledge_yaml():
    resources = {(rtype, name): body for _, rtype, name, body in load_resources(MODULE)}
    queue = resources[("aws_sqs_queue", "this")]
    assert (
        unwrap(queue["visibility_timeout_seconds"])
        == "${var.knowledge_spec.queue.visibility_timeout_seconds}"
    )
    assert "var.knowledge_spec.queue.max_receive_count" in str(unwrap(queue["redrive_policy"]))
    assert unwrap(queue["kms_master_key_id"]) == "${aws_kms_key.queues.arn}"
    assert (
        unwrap(resources[("aws_sqs_queue", "dead_letter")]["kms_master_key_id"])
        == "${aws_kms_key.queues.arn}"
    )
    outputs = load_blocks(MODULE, "output")
    notification = str(unwrap(outputs["landing_notification"][1]["value"]))
    assert "var.knowledge_spec.queue.landing_prefix" in notification


def test_the_raw_bucket_has_one_notification_configuration_and_it_feeds_the_queue():
    notifications = [
        body
        for directory in sorted(MODULES.iterdir())
        if directory.is_dir()
        for _, rtype, _, body in load_resources(directory)
        if rtype == "aws_s3_bucket_notification"
    ]
    # s3_data_zones: one for every zone bucket (raw among them) and one for the access-log bucket; nowhere else.
    assert len(notifications) == 2
    zones = MODULES / "s3_data_zones"
    ((_, _, _, this),) = [
        r for r in load_resources(zones) if r[1] == "aws_s3_bucket_notification" and r[2] == "this"
    ]
    assert 'each.key == "raw" ? var.raw_queue_notifications : []' in str(unwrap(this["dynamic"]))
    _, call = load_blocks(PLATFORM, "module")["data_zones"]
    assert unwrap(call["raw_queue_notifications"]) == ["${module.knowledge.landing_notification}"]
    assert "${module.knowledge.worker_role_arn}" in unwrap(call["raw_zone_protected_role_arns"])


# ---- each role its own grants ---------------------------------------------------------------------------


def test_the_worker_reads_raw_and_writes_only_processed_documents_and_index_versions(evaluated):
    env, values = evaluated
    policy = statements(values["worker_policy"])
    raw, artifacts = bucket_arn(env, "raw"), bucket_arn(env, "artifacts")
    writes = [
        resource
        for statement in policy.values()
        if any(a.startswith("s3:Put") for a in as_list(statement["Action"]))
        for resource in as_list(statement["Resource"])
    ]
    assert writes == [f"{artifacts}/knowledge/*/documents/*", f"{artifacts}/knowledge/*/index/*"]
    # Never the raw zone, never CURRENT (only the gate promotes), never a delete.
    touching_raw = [s for s in policy.values() if raw in json.dumps(s["Resource"])]
    assert {a for s in touching_raw for a in s["Action"]} == {"s3:GetObject", "s3:ListBucket"}
    assert "CURRENT" not in json.dumps(values["worker_policy"])
    granted = {a for s in policy.values() for a in as_list(s["Action"])}
    assert not {a for a in granted if "Delete" in a and a.startswith("s3:")}
    assert policy["ReadLandedDocuments"]["Resource"] == f"{raw}/knowledge/*"
    assert policy["ConsumeIngestQueue"]["Resource"] == values["queue_arn"]
    assert policy["DeadLetterDocuments"]["Action"][0] == "sqs:SendMessage"
    assert policy["DeadLetterDocuments"]["Resource"] == values["dead_letter_queue_arn"]
    assert "sqs:SendMessage" not in policy["ConsumeIngestQueue"]["Action"]


def test_no_role_holds_another_roles_grants(evaluated):
    _, values = evaluated
    worker_actions = {a for s in values["worker_policy"]["Statement"] for a in as_list(s["Action"])}
    service_actions = {a for s in values["service_policy"]["Statement"] for a in as_list(s["Action"])}
    # The worker neither answers nor applies the guardrail; the service neither consumes the queue nor writes.
    assert not {"bedrock:ApplyGuardrail"} & worker_actions
    assert not {a for a in service_actions if a.startswith(("sqs:", "s3:Put", "s3vectors:Put"))}
    worker_models = {
        r for s in values["worker_policy"]["Statement"] if s["Sid"] == "EmbedDocuments" for r in s["Resource"]
    }
    assert not worker_models & set(values["answer_model_arns"])
    for name in ("worker_policy", "worker_execution_policy", "service_policy"):
        for statement in values[name]["Statement"]:
            if statement["Resource"] == "*":
                assert statement["Sid"] == "EcrLogin", f"{name} {statement['Sid']}"


def test_the_vector_store_is_off_by_default_and_granted_only_when_on(evaluated, tmp_path):
    env, values = evaluated
    assert values["vector_indexes"] == {} and values["vector_index_arns"] == []
    assert "QueryVectors" not in statements(values["service_policy"])
    code, on, said = evaluate(tmp_path, env, overrides={"vector_store_enabled": True})
    assert code == 0, said
    contracts = load_knowledge_contracts(CONTRACTS)
    assert on["vector_indexes"] == {
        kb: {"name": kb.replace("_", "-"), "dimensions": c.embedding.aws.dimensions}
        for kb, c in contracts.items()
    }
    bucket = f"arn:aws:s3vectors:{region(env)}:{ACCOUNT}:bucket/{PROJECT}-{env}-knowledge-vectors"
    assert on["vector_index_arns"] == [f"{bucket}/index/{kb.replace('_', '-')}" for kb in sorted(contracts)]
    assert statements(on["service_policy"])["QueryVectors"]["Action"] == [
        "s3vectors:QueryVectors",
        "s3vectors:GetVectors",
    ]
    assert statements(on["worker_policy"])["WriteVectors"]["Resource"] == on["vector_index_arns"]
    # Vectors have a key of their own, which S3 Vectors' indexing (for this account) may decrypt with.
    key = f"arn:aws:kms:{region(env)}:{ACCOUNT}:key/vectors"
    assert statements(on["worker_policy"])["UseVectorKey"]["Resource"] == key
    assert statements(on["service_policy"])["DecryptVectors"]["Resource"] == key
    indexing = statements(on["vector_key_policy"])["S3VectorsIndexes"]
    assert indexing["Principal"] == {"Service": "indexing.s3vectors.amazonaws.com"}
    assert indexing["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_the_boundary_every_role_carries_admits_all_that_the_knowledge_roles_are_granted(evaluated, tmp_path):
    """Each (action, resource) of the worker's, its execution role's and the service's knowledge policies falls
    inside an Allow of the environment's permissions boundary (modules/github_oidc, evaluated by Terraform too),
    with the vector store on as well; wildcards in a role's policy are taken literally, conditions ignored."""
    env, values = evaluated
    code, roles, said = evaluate_github_roles(tmp_path / "roles", env)
    assert code == 0, said
    code, with_vectors, said = evaluate(tmp_path / "vectors", env, overrides={"vector_store_enabled": True})
    assert code == 0, said
    policies = {
        f"{label} {name}": source[name]
        for label, source in (("off", values), ("on", with_vectors))
        for name in ("worker_policy", "worker_execution_policy", "service_policy")
    }
    assert not_allowed_by(roles["boundary_policy"], policies) == []


def test_every_role_of_the_module_carries_the_boundary_and_the_root_passes_it():
    roles = [body for _, rtype, _, body in load_resources(MODULE) if rtype == "aws_iam_role"]
    assert len(roles) == 2
    for body in roles:
        assert unwrap(body["permissions_boundary"]) == "${var.iam_role_permissions_boundary}"
    _, call = load_blocks(PLATFORM, "module")["knowledge"]
    assert unwrap(call["iam_role_permissions_boundary"]) == "${module.github_oidc.permissions_boundary_arn}"
    # The service's knowledge grants go on the service's own task role, as a policy of their own.
    ((_, _, _, service),) = [
        r for r in load_resources(MODULE) if r[1] == "aws_iam_role_policy" and r[2] == "service"
    ]
    assert "var.service_task_role_arn" in str(unwrap(service["role"]))
    assert unwrap(call["service_task_role_arn"]) == "${module.inference.task_role_arn}"


# ---- the worker and the service ------------------------------------------------------------------------


def test_the_worker_runs_the_services_image_on_its_cluster_and_scales_to_zero():
    calls = load_blocks(PLATFORM, "module")
    _, knowledge = calls["knowledge"]
    _, inference = calls["inference"]
    assert (
        unwrap(knowledge["container_image"])
        == unwrap(inference["container_image"])
        == "${local.inference_image}"
    )
    assert unwrap(knowledge["cluster_arn"]) == "${module.inference.cluster_arn}"
    resources = {(rtype, name): body for _, rtype, name, body in load_resources(MODULE)}
    target = resources[("aws_appautoscaling_target", "worker")]
    assert unwrap(target["min_capacity"]) == 0
    assert unwrap(target["max_capacity"]) == "${var.knowledge_spec.worker.max_tasks}"
    task = str(unwrap(resources[("aws_ecs_task_definition", "worker")]["container_definitions"]))
    assert "var.knowledge_spec.worker.command" in task
    assert knowledge_spec()["worker"]["command"] == ["prodml", "kb", "worker"]
    # The service's environment gets the guardrail; so does the env file the CLI reads.
    assert "module.knowledge.service_environment" in str(unwrap(inference["container_environment"]))
    outputs = load_blocks(PLATFORM, "output")
    assert "module.knowledge.service_environment" in str(unwrap(outputs["prodml_env"][1]["value"]))


def test_the_bedrock_runtime_endpoint_is_one_of_the_networks_interface_endpoints():
    variables = load_blocks(MODULES / "network", "variable")
    assert "bedrock-runtime" in unwrap(variables["interface_endpoint_services"][1]["default"])


# ---- cost -----------------------------------------------------------------------------------------------


def evaluate_cost_alarms(tmp_path: Path, env: str) -> dict[str, dict]:
    """Terraform's value of modules/cloudwatch's knowledge_cost_alarms for this environment's root (the root's own
    expressions for knowledge.yaml and the knowledge bases; the threshold from this environment's tfvars)."""
    repo = tmp_path / "repo"
    copy_sources(repo)
    module = repo / "modules" / "cloudwatch"
    module.mkdir(parents=True)
    for name in ("variables.tf", "spec.tf"):
        shutil.copy(MODULES / "cloudwatch" / name, module / name)
    (module / "spec_values.tf").write_text(
        'output "knowledge_cost_alarms" {\n  value = local.knowledge_cost_alarms\n}\n'
    )
    text = drift_root(env, None)
    threshold = tfvars(env)["knowledge_cost_alarm_threshold_usd"]
    text = re.sub(
        r"alarm_knowledge_cost_threshold_usd = null",
        f"alarm_knowledge_cost_threshold_usd = {threshold}",
        text,
    )
    platform = repo / PLATFORM.relative_to(REPO)
    platform.mkdir(parents=True)
    (platform / "main.tf").write_text(text)
    init = run_terraform("init", "-input=false", "-no-color", cwd=platform)
    assert init.returncode == 0, init.stdout + init.stderr
    result = run_terraform(
        "console", cwd=platform, stdin="jsonencode(module.cloudwatch.knowledge_cost_alarms)\n"
    )
    assert result.returncode == 0 and result.stdout.startswith('"'), result.stdout + result.stderr
    return json.loads(json.loads(result.stdout.strip()))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_knowledge_base_has_an_hourly_cost_alarm_on_the_metric_the_service_publishes(tmp_path, env):
    alarms = evaluate_cost_alarms(tmp_path, env)
    spec = knowledge_spec()
    contracts = load_knowledge_contracts(CONTRACTS)
    assert set(alarms) == set(contracts)
    for kb, alarm in alarms.items():
        assert alarm == {
            "alarm_name": f"{PROJECT}-{env}-{kb.replace('_', '-')}-knowledge-cost",
            "namespace": spec["metrics"]["namespace"],
            "metric_name": spec["metrics"]["names"]["cost"],
            "dimensions": {"KnowledgeBase": kb},
            "statistic": "Sum",
            "period": 3600,
            "evaluation_periods": spec["cost_alarm"]["evaluation_periods"],
            "comparison_operator": spec["cost_alarm"]["comparison_operator"],
            "threshold": tfvars(env)["knowledge_cost_alarm_threshold_usd"],
            "treat_missing_data": spec["cost_alarm"]["treat_missing_data"],
        }
    # The metric is the answer's own figure: Answer.as_dict() reports cost.estimated_usd.
    assert spec["metrics"]["dimensions"] == ["KnowledgeBase"]
    _, call = load_blocks(PLATFORM, "module")["cloudwatch"]
    assert unwrap(call["alarm_knowledge_cost_threshold_usd"]) == "${var.knowledge_cost_alarm_threshold_usd}"


# ---- the deploy role: prodml kb from the deploy workflow ------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_deploy_role_lands_evaluates_and_promotes_but_never_builds_an_index(tmp_path, env):
    model = load_knowledge_contracts(CONTRACTS)["prodml_docs"].embedding.aws.model_id
    queues = {
        "queue": naming.knowledge_queue_name(PROJECT, env),
        "dead_letter": naming.knowledge_dead_letter_queue_name(PROJECT, env),
    }
    code, roles, said = evaluate_github_roles(
        tmp_path,
        env,
        knowledge_queue_names="{ " + ", ".join(f'{k} = "{v}"' for k, v in queues.items()) + " }",
        knowledge_embedding_model_ids=json.dumps([model]),
    )
    assert code == 0, said
    assert roles is not None
    release = statements(roles["deploy_release_policy"])
    raw, artifacts = bucket_arn(env, "raw"), bucket_arn(env, "artifacts")
    assert release["LandKnowledgeDocuments"]["Resource"] == f"{raw}/knowledge/*"
    assert release["EvaluateAndPromoteIndexes"] == {
        "Sid": "EvaluateAndPromoteIndexes",
        "Effect": "Allow",
        "Action": ["s3:PutObject"],
        "Resource": [f"{artifacts}/knowledge/*/index/*/evaluation.json", f"{artifacts}/knowledge/*/CURRENT"],
    }
    head = f"arn:aws:sqs:{region(env)}:{ACCOUNT}"
    # It queues documents, and only peeks at the dead letters: the worker alone consumes the queue.
    assert release["QueueLandedDocuments"]["Resource"] == f"{head}:{queues['queue']}"
    assert "sqs:ReceiveMessage" not in release["QueueLandedDocuments"]["Action"]
    assert release["PeekDeadLetters"]["Resource"] == f"{head}:{queues['dead_letter']}"
    assert release["EmbedGoldenQuestions"]["Resource"] == [model_arn(env, model)]
    assert outside_the_boundary(roles) == []
    size = {name: len(json.dumps(roles[name], separators=(",", ":"))) for name in roles}
    assert size["deploy_terraform_policy"] + size["deploy_release_policy"] < 10240, size
    assert size["boundary_policy"] < 6144 and size["read_policy"] < 6144, size
    # The root passes the names from modules/naming and the contracts' embedding models.
    _, call = load_blocks(PLATFORM, "module")["github_oidc"]
    assert "module.naming.knowledge_queue_name" in str(unwrap(call["knowledge_queue_names"]))
    assert "local.knowledge_contracts" in str(unwrap(call["knowledge_embedding_model_ids"]))


# ---- the guardrail ---------------------------------------------------------------------------------------

# Bedrock's documented PII entity types (CreateGuardrail, GuardrailPiiEntityConfig) that the guardrail may name.
PII_TYPES = {
    "ADDRESS",
    "AGE",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "CA_HEALTH_NUMBER",
    "CA_SOCIAL_INSURANCE_NUMBER",
    "CREDIT_DEBIT_CARD_CVV",
    "CREDIT_DEBIT_CARD_EXPIRY",
    "CREDIT_DEBIT_CARD_NUMBER",
    "DRIVER_ID",
    "EMAIL",
    "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
    "IP_ADDRESS",
    "LICENSE_PLATE",
    "MAC_ADDRESS",
    "NAME",
    "PASSWORD",
    "PHONE",
    "PIN",
    "SWIFT_CODE",
    "UK_NATIONAL_HEALTH_SERVICE_NUMBER",
    "UK_NATIONAL_INSURANCE_NUMBER",
    "UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER",
    "URL",
    "USERNAME",
    "US_BANK_ACCOUNT_NUMBER",
    "US_BANK_ROUTING_NUMBER",
    "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER",
    "US_PASSPORT_NUMBER",
    "US_SOCIAL_SECURITY_NUMBER",
    "VEHICLE_IDENTIFICATION_NUMBER",
}


def test_the_guardrail_fits_bedrocks_limits_and_the_service_runs_a_numbered_version():
    guardrail = load_locals(MODULE / "guardrail.tf")
    topics = guardrail["guardrail_denied_topics"]
    assert len(topics) >= 3
    for topic in topics:
        assert re.fullmatch(r"[0-9a-zA-Z\-_ !?.]{1,100}", topic["name"]), topic["name"]
        assert len(topic["definition"]) <= 200, topic["name"]
        assert 1 <= len(topic["examples"]) <= 5 and all(len(e) <= 100 for e in topic["examples"])
    entities = [*guardrail["guardrail_blocked_entities"], *guardrail["guardrail_contact_entities"]]
    assert set(entities) <= PII_TYPES and len(set(entities)) == len(entities)
    assert {"AWS_ACCESS_KEY", "AWS_SECRET_KEY", "PASSWORD"} <= set(guardrail["guardrail_blocked_entities"])
    resources = {(rtype, name): body for _, rtype, name, body in load_resources(MODULE)}
    this = resources[("aws_bedrock_guardrail", "this")]
    for key in ("description", "blocked_input_messaging", "blocked_outputs_messaging"):
        # At most 200 characters (description, with the longest name) and 500 (messages).
        assert len(str(unwrap(this[key]))) <= (200 - len("prodml-staging") if key == "description" else 500)
    version = resources[("aws_bedrock_guardrail_version", "this")]
    assert unwrap(version["skip_destroy"]) is True
    assert "aws_bedrock_guardrail.this" in str(unwrap(version["lifecycle"]))
