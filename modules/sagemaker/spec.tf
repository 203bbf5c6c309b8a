################################################################################
# Training job spec
################################################################################

# What the module takes from the training spec (src/prodml/jobs/training.yaml, var.training_spec). Variables
# only, no resources or data sources: tests/terraform evaluates this file offline against prodml.jobs.

locals {
  # The MetricDefinitions Names per task, as prodml.jobs.TrainingJobSpec.metric_definitions names them
  # (`<split>:<metric>`). SageMaker publishes each to CloudWatch: namespace /aws/sagemaker/TrainingJobs,
  # metric name = the definition's Name, dimension Host = <training job>/algo-<n>.
  training_metric_definition_names = {
    for task, names in var.training_spec.metric_names :
    task => flatten([for split in var.training_spec.metric_splits : [for name in names : "${split}:${name}"]])
  }

  # One dashboard widget per metric (any task), one line per split and training job.
  training_dashboard_metrics = {
    for name in sort(distinct(flatten(values(var.training_spec.metric_names)))) :
    name => [for split in var.training_spec.metric_splits : "${split}:${name}"]
  }

  # SEARCH terms that keep the dashboard to this environment's jobs: every token of the job name prefix
  # must be a token of the Host dimension (prodml-dev- gives Host=prodml Host=dev).
  training_host_search_terms = join(" ", [for token in split("-", trimsuffix(var.job_name_prefix, "-")) : "Host=${token}"])
}
