################################################################################
# Policy documents
################################################################################

# Every policy of the module, as data: locals and variables only (the account, partition, region and the
# processing role's ARN come from main.tf), so tests/terraform evaluates them offline and compares each state
# machine role's actions with the service integrations its definitions call.

locals {
  arn = { for service in ["states", "glue", "sagemaker", "ssm", "logs"] :
    service => "arn:${local.partition}:${service}:${local.region}:${local.account_id}"
  }
  # An SSM ARN names a hierarchical parameter without its leading slash.
  image_parameter_arn = "${local.arn.ssm}:parameter/${trimprefix(var.image_parameter_name, "/")}"
  state_machine_arns  = { for key, machine in local.state_machines : key => "${local.arn.states}:stateMachine:${machine.name}" }
  source_account      = { StringEquals = { "aws:SourceAccount" = local.account_id } }

  ##############################################################################
  # Trust
  ##############################################################################

  state_machine_trust_policy = {
    Version   = "2012-10-17"
    Statement = [{ Sid = "StepFunctions", Effect = "Allow", Principal = { Service = "states.amazonaws.com" }, Action = "sts:AssumeRole", Condition = local.source_account }]
  }

  processing_trust_policy = {
    Version   = "2012-10-17"
    Statement = [{ Sid = "SageMaker", Effect = "Allow", Principal = { Service = "sagemaker.amazonaws.com" }, Action = "sts:AssumeRole", Condition = local.source_account }]
  }

  triggers_trust_policy = {
    Version   = "2012-10-17"
    Statement = [{ Sid = "SchedulerAndEventBridge", Effect = "Allow", Principal = { Service = ["scheduler.amazonaws.com", "events.amazonaws.com"] }, Action = "sts:AssumeRole", Condition = local.source_account }]
  }

  ##############################################################################
  # State machines: one role per dataset, for its own jobs only
  ##############################################################################

  # Exactly the service integrations the ASL templates call (arn:aws:states:::aws-sdk:<service>:<action>), each on
  # the dataset's own resources; tests/terraform derives the actions from the rendered definitions.
  state_machine_policies = {
    for dataset in local.datasets : dataset => {
      Version = "2012-10-17"
      Statement = concat([
        {
          Sid      = "ReadImageParameter"
          Effect   = "Allow"
          Action   = ["ssm:GetParameter"]
          Resource = local.image_parameter_arn
        },
        {
          # A run's processing jobs are named <job name prefix>-<step>-<run id>.
          Sid      = "ProcessingJobs"
          Effect   = "Allow"
          Action   = ["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob"]
          Resource = "${local.arn.sagemaker}:processing-job/${var.job_name_prefixes[dataset]}-*"
        },
        {
          Sid       = "PassProcessingRole"
          Effect    = "Allow"
          Action    = ["iam:PassRole"]
          Resource  = local.processing_role_arn
          Condition = { StringEquals = { "iam:PassedToService" = "sagemaker.amazonaws.com" } }
        },
        {
          # Step Functions delivers execution logs through CloudWatch Logs' vended log delivery, which AWS does
          # not scope by resource.
          Sid      = "DeliverExecutionLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"]
          Resource = "*"
        },
        ], [for statement in [
          {
            Sid      = "RunEtlJob"
            Effect   = "Allow"
            Action   = ["glue:StartJobRun", "glue:GetJobRun"]
            Resource = "${local.arn.glue}:job/${var.etl_job_names[dataset]}"
          },
          ] : statement if var.retrain_enabled], [for statement in [
          {
            # X-Ray takes no resource.
            Sid      = "Tracing"
            Effect   = "Allow"
            Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
            Resource = "*"
          },
      ] : statement if var.tracing_enabled])
    }
  }

  ##############################################################################
  # Processing jobs: drift, batch scoring, and (where this environment retrains) training and registration
  ##############################################################################

  s3 = { for zone, bucket in var.bucket_ids : zone => "arn:${local.partition}:s3:::${bucket}" }
  # Model packages are <group ARN with model-package in place of model-package-group>/<version>.
  model_package_arns = [for group in values(var.model_package_group_arns) : "${replace(group, ":model-package-group/", ":model-package/")}/*"]

  processing_policy = {
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid      = "ListZones"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
        Resource = [for zone in ["processed", "curated", "artifacts", "capture"] : local.s3[zone]]
      },
      {
        # Drift reads the captured requests and the serving model (its artifact carries the baseline); batch
        # scoring reads processed, curated or batch/ data; every job reads the released code and contracts.
        Sid      = "ReadInputs"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:GetObjectVersion"]
        Resource = ["${local.s3.processed}/*", "${local.s3.curated}/*", "${local.s3.capture}/*", "${local.s3.artifacts}/code/*", "${local.s3.artifacts}/training/*", "${local.s3.artifacts}/batch/*"]
      },
      {
        # The drift job's results (monitoring/<dataset>/<job>/) and batch scoring's output: on AWS, `prodml
        # batch-score --output` must be under s3://<artifacts>/batch/.
        Sid      = "WriteResults"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:AbortMultipartUpload"]
        Resource = ["${local.s3.artifacts}/monitoring/*", "${local.s3.artifacts}/batch/*"]
      },
      {
        Sid      = "UseDataKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
        Resource = var.data_kms_key_arn
      },
      {
        Sid      = "ReadImageParameter"
        Effect   = "Allow"
        Action   = ["ssm:GetParameter"]
        Resource = local.image_parameter_arn
      },
      {
        # The platform image; the authorization token has no resource.
        Sid      = "PullPlatformImage"
        Effect   = "Allow"
        Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        Resource = var.ecr_repository_arn
      },
      {
        Sid      = "EcrToken"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = "*"
      },
      {
        Sid      = "ProcessingLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
        Resource = ["${local.arn.logs}:log-group:/aws/sagemaker/ProcessingJobs:*"]
      },
      {
        # The drift job publishes DriftScore, in monitoring.yaml's namespace only.
        Sid       = "DriftMetrics"
        Effect    = "Allow"
        Action    = ["cloudwatch:PutMetricData"]
        Resource  = "*"
        Condition = { StringEquals = { "cloudwatch:namespace" = var.monitoring_spec.metric.namespace } }
      },
      {
        # The serving model: drift compares with its baseline, registration's gate with its metrics.
        Sid      = "ReadRegistry"
        Effect   = "Allow"
        Action   = ["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup", "sagemaker:ListModelPackages"]
        Resource = concat(values(var.model_package_group_arns), local.model_package_arns)
      },
      ], [for statement in [
        {
          # The train step stages the training job's config channel; register writes the report beside the model.
          Sid      = "WriteTrainingRecords"
          Effect   = "Allow"
          Action   = ["s3:PutObject"]
          Resource = [for part in ["input/config", "report"] : "${local.s3.artifacts}/training/*/${part}/*"]
        },
        {
          # The train step launches the training job on the training spec's instance type and nothing larger.
          Sid      = "StartTraining"
          Effect   = "Allow"
          Action   = ["sagemaker:CreateTrainingJob"]
          Resource = [for prefix in values(var.job_name_prefixes) : "${local.arn.sagemaker}:training-job/${prefix}-*"]
          Condition = {
            "ForAllValues:StringEquals" = { "sagemaker:InstanceTypes" = var.training_instance_types }
            Null                        = { "sagemaker:InstanceTypes" = "false" }
          }
        },
        {
          Sid      = "FollowTraining"
          Effect   = "Allow"
          Action   = ["sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob", "sagemaker:AddTags"]
          Resource = [for prefix in values(var.job_name_prefixes) : "${local.arn.sagemaker}:training-job/${prefix}-*"]
        },
        {
          Sid      = "FollowTrainingLogs"
          Effect   = "Allow"
          Action   = ["logs:GetLogEvents", "logs:FilterLogEvents", "logs:DescribeLogStreams"]
          Resource = ["${local.arn.logs}:log-group:/aws/sagemaker/TrainingJobs:*"]
        },
        {
          Sid       = "PassTrainingRole"
          Effect    = "Allow"
          Action    = ["iam:PassRole"]
          Resource  = var.training_role_arn
          Condition = { StringEquals = { "iam:PassedToService" = "sagemaker.amazonaws.com" } }
        },
        {
          # Registration through the gate, in this environment's groups only.
          Sid      = "RegisterModels"
          Effect   = "Allow"
          Action   = ["sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage", "sagemaker:AddTags"]
          Resource = concat(values(var.model_package_group_arns), local.model_package_arns)
        },
    ] : statement if var.retrain_enabled])
  }

  ##############################################################################
  # Triggers: the schedules and the drift alarm rules start the state machines, nothing else
  ##############################################################################

  triggers_policy = {
    Version = "2012-10-17"
    Statement = [{
      Sid      = "StartStateMachines"
      Effect   = "Allow"
      Action   = ["states:StartExecution"]
      Resource = values(local.state_machine_arns)
    }]
  }
}
