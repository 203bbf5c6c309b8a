# Runs offline (the module has no provider): `terraform init && terraform test` in modules/naming.
# tests/terraform/test_naming_parity.py runs it too, next to the comparison with prodml.naming.

variables {
  project     = "prodml"
  environment = "dev"
  datasets    = ["customer_churn"]
}

run "dev_names_follow_the_convention" {
  command = plan

  assert {
    condition     = output.bucket_names["raw"] == "prodml-dev-raw"
    error_message = "raw bucket name is not {project}-{env}-raw"
  }

  assert {
    condition     = output.glue_database_name == "prodml_dev_catalog"
    error_message = "the Glue database must use underscores"
  }

  assert {
    condition     = output.model_package_group_names["customer_churn"] == "prodml-dev-customer-churn"
    error_message = "dataset underscores must become hyphens in model package group names"
  }

  assert {
    condition     = output.log_group_names["inference"] == "/prodml-dev-inference"
    error_message = "log group names are /{project}-{env}-{purpose}"
  }

  assert {
    condition     = output.state_machine_names["customer_churn"]["retrain"] == "prodml-dev-customer-churn-retrain"
    error_message = "state machine names are {project}-{env}-{dataset slug}-{kind}"
  }

  assert {
    condition     = output.image_parameter_name == "/prodml-dev-inference/image-uri"
    error_message = "the image parameter is /{project}-{env}-inference/image-uri"
  }
}

run "unknown_environment_is_rejected" {
  command = plan

  variables {
    environment = "qa"
  }

  expect_failures = [var.environment]
}

run "names_longer_than_63_characters_are_rejected" {
  command = plan

  variables {
    datasets = ["a_dataset_name_that_is_far_too_long_for_any_aws_resource_name"]
  }

  expect_failures = [var.datasets]
}
