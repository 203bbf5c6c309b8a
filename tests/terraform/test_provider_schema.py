"""Every `resource` and `data` block in modules/ and terraform/ checked against the hashicorp/aws provider's
own schema (read from the cdktn-provider-aws bindings, see provider_schema.py), as `terraform validate` would
if it could download the provider: known types, known arguments and blocks at every depth (dynamic blocks'
content too), required ones present, computed-only attributes never set."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.terraform.provider_schema import (
    ProviderSchema,
    blocks_in,
    check_blocks,
    check_files,
    load_provider_schema,
    terraform_files,
)
from tests.terraform.terraform_config import MODULES, REPO, ROOTS


@pytest.fixture(scope="session")
def aws_schema(request: pytest.FixtureRequest) -> ProviderSchema:
    # Reading the assembly takes seconds; pytest's cache keeps the schema between runs.
    cache = getattr(request.config, "cache", None)
    return load_provider_schema(cache.mkdir("provider-schema") if cache is not None else None)


def check_snippet(schema: ProviderSchema, directory: Path, hcl: str) -> list[str]:
    path = directory / "main.tf"
    path.write_text(textwrap.dedent(hcl))
    return check_files([path], schema, relative_to=directory)


def test_the_configuration_matches_the_provider_schema(aws_schema: ProviderSchema) -> None:
    blocks = list(blocks_in(terraform_files(MODULES, ROOTS)))
    kinds = {kind for _, kind, *_ in blocks}
    assert kinds == {"resource", "data"}, "python-hcl2 found no resource or no data blocks: is it reading?"
    findings = check_blocks(blocks, aws_schema, relative_to=REPO)
    assert findings == [], (
        f"against {aws_schema.package} (hashicorp/aws {aws_schema.provider_version}):\n"
        + ("\n".join(findings))
    )


def test_the_schema_is_read_at_every_depth(aws_schema: ProviderSchema) -> None:
    assert aws_schema.provider_version.startswith("6.")  # the modules' versions.tf: >= 6.0, < 7.0
    bucket = aws_schema.resources["aws_s3_bucket"]
    assert {"bucket", "tags", "force_destroy"} <= bucket.optional
    assert {"arn", "bucket_domain_name"} <= bucket.computed
    assert bucket.blocks["logging"].max_items == 1
    listener = aws_schema.resources["aws_lb_listener"]
    assert listener.required == {"load_balancer_arn"}
    assert listener.blocks["default_action"].min_items == 1
    assert listener.blocks["default_action"].block.required == {"type"}
    assert (
        listener.blocks["default_action"].block.blocks["forward"].block.blocks["target_group"].min_items == 1
    )
    statement = aws_schema.data_sources["aws_iam_policy_document"].blocks["statement"]
    assert statement.min_items == 0 and statement.max_items is None
    assert statement.block.blocks["principals"].block.required == {"type", "identifiers"}


def test_a_misspelt_argument_is_reported(aws_schema: ProviderSchema, tmp_path: Path) -> None:
    findings = check_snippet(
        aws_schema,
        tmp_path,
        """
        resource "aws_s3_bucket" "this" {
          buckett = "prodml-dev-raw"
        }
        """,
    )
    assert findings == [
        "main.tf:aws_s3_bucket.this: buckett: unknown argument or block (did you mean bucket?)"
    ]


def test_a_missing_required_argument_is_reported(aws_schema: ProviderSchema, tmp_path: Path) -> None:
    findings = check_snippet(
        aws_schema,
        tmp_path,
        """
        resource "aws_s3_bucket_logging" "this" {
          bucket        = "prodml-dev-raw"
          target_prefix = "raw/"
        }
        """,
    )
    assert findings == ["main.tf:aws_s3_bucket_logging.this: target_bucket: required argument missing"]


def test_a_misspelt_nested_block_argument_is_reported(aws_schema: ProviderSchema, tmp_path: Path) -> None:
    findings = check_snippet(
        aws_schema,
        tmp_path,
        """
        resource "aws_s3_bucket_lifecycle_configuration" "this" {
          bucket = "prodml-dev-raw"

          rule {
            id     = "tiers"
            status = "Enabled"

            transition {
              days         = 30
              storage_clas = "STANDARD_IA"
            }
          }
        }
        """,
    )
    assert findings == [
        "main.tf:aws_s3_bucket_lifecycle_configuration.this: rule.transition.storage_clas: "
        "unknown argument or block (did you mean storage_class?)",
        "main.tf:aws_s3_bucket_lifecycle_configuration.this: rule.transition.storage_class: "
        "required argument missing",
    ]


def test_dynamic_blocks_are_checked_and_count_as_present(aws_schema: ProviderSchema, tmp_path: Path) -> None:
    findings = check_snippet(
        aws_schema,
        tmp_path,
        """
        resource "aws_lb_listener" "this" {
          load_balancer_arn = var.load_balancer_arn

          dynamic "default_action" {
            for_each = var.target_group_arns
            content {
              type            = "forward"
              targt_group_arn = default_action.value
            }
          }
        }

        data "aws_iam_policy_document" "this" {
          statement {
            actions   = ["s3:GetObject"]
            resources = ["*"]

            dynamic "principal" {
              for_each = var.principals
              content {
                type = "AWS"
              }
            }
          }
        }
        """,
    )
    assert findings == [
        "main.tf:aws_lb_listener.this: default_action.targt_group_arn: "
        "unknown argument or block (did you mean target_group_arn?)",
        'main.tf:data.aws_iam_policy_document.this: statement.dynamic "principal": '
        "unknown block (did you mean principals?)",
    ]


def test_meta_arguments_are_allowed_and_types_blocks_and_computed_attributes_checked(
    aws_schema: ProviderSchema, tmp_path: Path
) -> None:
    findings = check_snippet(
        aws_schema,
        tmp_path,
        """
        resource "aws_s3_bucket" "this" {
          for_each   = toset(["raw", "curated"])
          provider   = aws.replica
          depends_on = [aws_kms_key.this]
          bucket     = "prodml-dev-${each.key}"
          arn        = "arn:aws:s3:::prodml"

          lifecycle {
            prevent_destroy = true
          }

          timeouts {
            create = "5m"
          }
        }

        resource "aws_s3_bucket_logging" "this" {
          count         = 1
          bucket        = "prodml-dev-raw"
          target_bucket = "prodml-dev-access-logs"
          target_prefix = "raw/"

          target_object_key_format {
            simple_prefix {}
          }

          target_object_key_format {
            simple_prefix {}
          }
        }

        resource "aws_lb_listener" "this" {
          load_balancer_arn = var.load_balancer_arn
        }

        resource "aws_s3_buckets" "this" {}

        data "aws_regions" "all" {}

        data "aws_regoin" "current" {}
        """,
    )
    assert findings == [
        "main.tf:aws_s3_bucket.this: arn: computed-only attribute, set by the provider, cannot be set",
        "main.tf:aws_s3_bucket_logging.this: target_object_key_format: at most 1 allowed, 2 written",
        "main.tf:aws_lb_listener.this: default_action: required block missing",
        "main.tf:aws_s3_buckets.this: unknown resource type aws_s3_buckets (did you mean aws_s3_bucket?)",
        "main.tf:data.aws_regoin.current: unknown data source aws_regoin (did you mean aws_region?)",
    ]
