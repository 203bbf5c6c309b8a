################################################################################
# Policy documents
################################################################################

# Every policy of the module, as data: locals and variables only, no resources or data sources, so that
# tests/terraform evaluates them offline (with stand-ins for the account, partition, region and provider ARN
# that main.tf looks up). Names are the environment's `{project}-{env}` prefix (var.name) plus a purpose,
# as modules/naming builds every other name, so "${var.name}-*" is exactly this environment's resources.

locals {
  oidc_host     = "token.actions.githubusercontent.com"
  oidc_audience = "sts.amazonaws.com"

  # GitHub's default subject claims: a job that names `environment: <env>`, and a pull_request event. The
  # repository is written as GitHub spells it (IAM compares case-sensitively).
  deploy_subject = "repo:${var.github_repository}:environment:${var.environment}"
  plan_subject   = "repo:${var.github_repository}:pull_request"

  deploy_role_name = "${var.name}-github-deploy"
  plan_role_name   = "${var.name}-github-plan"
  boundary_name    = "${var.name}-boundary"
  read_policy_name = "${var.name}-terraform-read"

  iam_prefix   = "arn:${local.partition}:iam::${local.account_id}"
  boundary_arn = "${local.iam_prefix}:policy/${local.boundary_name}"
  guarded_role_arns = [
    "${local.iam_prefix}:role/${local.deploy_role_name}",
    "${local.iam_prefix}:role/${local.plan_role_name}",
  ]

  # ARN heads for this account and region.
  arn = { for service in ["ecs", "elasticloadbalancing", "cloudwatch", "logs", "sns", "events", "secretsmanager", "glue", "sagemaker", "ecr", "kms", "states", "scheduler", "ssm", "sqs", "s3vectors", "bedrock"] :
    service => "arn:${local.partition}:${service}:${local.region}:${local.account_id}"
  }
  s3_envs         = "arn:${local.partition}:s3:::${var.name}-*"
  catalog_name    = replace(var.name, "-", "_")
  state_bucket    = "arn:${local.partition}:s3:::${var.state_bucket_name}"
  state_object    = "${local.state_bucket}/${var.state_key}"
  environment_tag = { "aws:ResourceTag/Environment" = var.environment }

  # This environment's resources of the services that name them (every name is <name> or <name>-*).
  environment_service_arns = [
    "${local.arn.ecs}:cluster/${var.name}-*",
    "${local.arn.ecs}:service/${var.name}-*/*",
    "${local.arn.ecs}:task-definition/${var.name}-*:*",
    "${local.arn.elasticloadbalancing}:loadbalancer/app/${var.name}-*/*",
    "${local.arn.elasticloadbalancing}:targetgroup/${var.name}-*/*",
    "${local.arn.elasticloadbalancing}:listener/app/${var.name}-*/*",
    "${local.arn.cloudwatch}:alarm:${var.name}-*",
    # The operations dashboard is named <name> itself; the training one <name>-training.
    "arn:${local.partition}:cloudwatch::${local.account_id}:dashboard/${var.name}",
    "arn:${local.partition}:cloudwatch::${local.account_id}:dashboard/${var.name}-*",
    "${local.arn.logs}:log-group:/${var.name}-*",
    "${local.arn.sns}:${var.name}-*",
    "${local.arn.events}:rule/${var.name}-*",
    "${local.arn.secretsmanager}:secret:${var.name}-*",
    "${local.arn.glue}:catalog",
    "${local.arn.glue}:database/${local.catalog_name}_*",
    "${local.arn.glue}:table/${local.catalog_name}_*/*",
    "${local.arn.glue}:job/${var.name}-*",
    "${local.arn.glue}:trigger/${var.name}-*",
    "${local.arn.sagemaker}:model-package-group/${var.name}-*",
    "${local.arn.ecr}:repository/${var.name}-*",
    # The closed loop (modules/orchestration): state machines, their schedules (the default group).
    "${local.arn.states}:stateMachine:${var.name}-*",
    "${local.arn.scheduler}:schedule/default/${var.name}-*",
    # The knowledge layer (modules/knowledge): the ingestion queues, the optional vector bucket and its indexes.
    "${local.arn.sqs}:${var.name}-*",
    "${local.arn.s3vectors}:bucket/${var.name}-*",
  ]

  # Bedrock: AWS's own models (no account in their ARN), and guardrails, whose IDs are random (like KMS keys, a
  # guardrail is this environment's by its Environment tag). Roles name the exact models and guardrail.
  bedrock_models     = "arn:${local.partition}:bedrock:${local.region}::foundation-model/*"
  bedrock_guardrails = "${local.arn.bedrock}:guardrail/*"

  # The one SSM parameter of the environment: the platform image URI the deploy workflow writes.
  image_parameter_arn = "${local.arn.ssm}:parameter/${trimprefix(var.image_parameter_name, "/")}"

  # What promotion reads in the source environments (var.promotion_sources).
  promotion_image_actions    = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability", "ecr:DescribeImages"]
  promotion_model_actions    = ["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup", "sagemaker:ListModelPackages"]
  promotion_repositories     = [for source in var.promotion_sources : "${local.arn.ecr}:repository/${source.ecr_repository_name}"]
  promotion_artifact_buckets = [for source in var.promotion_sources : "arn:${local.partition}:s3:::${source.artifacts_bucket_name}*"]
  promotion_artifacts        = [for source in var.promotion_sources : "arn:${local.partition}:s3:::${source.artifacts_bucket_name}/training/*"]
  promotion_models = flatten([for source in var.promotion_sources : [
    "${local.arn.sagemaker}:model-package-group/${source.name_prefix}-*",
    "${local.arn.sagemaker}:model-package/${source.name_prefix}-*/*",
  ]])

  ##############################################################################
  # Trust
  ##############################################################################

  deploy_trust_policy = {
    Version = "2012-10-17"
    Statement = [{
      Sid       = "GitHubEnvironment"
      Effect    = "Allow"
      Principal = { Federated = local.oidc_provider_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      # StringEquals, never StringLike: one repository, one GitHub environment, this audience.
      Condition = {
        StringEquals = {
          "${local.oidc_host}:aud" = local.oidc_audience
          "${local.oidc_host}:sub" = local.deploy_subject
        }
      }
    }]
  }

  plan_trust_policy = {
    Version = "2012-10-17"
    Statement = [{
      Sid       = "GitHubPullRequest"
      Effect    = "Allow"
      Principal = { Federated = local.oidc_provider_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = {
          "${local.oidc_host}:aud" = local.oidc_audience
          "${local.oidc_host}:sub" = local.plan_subject
        }
      }
    }]
  }

  ##############################################################################
  # Permissions boundary (every role of the environment carries it)
  ##############################################################################

  boundary_policy = {
    Version = "2012-10-17"
    Statement = concat([
      {
        # The ceiling, part one: what names a resource may touch only this environment's, so no role of it (nor a
        # Glue or training job run under one, whatever its policy became) reaches another environment's data,
        # code, jobs or roles in the same account.
        Sid    = "ThisEnvironmentOnly"
        Effect = "Allow"
        Action = [
          "s3:*", "glue:*", "sagemaker:*", "secretsmanager:*", "ecs:*", "ecr:*", "elasticloadbalancing:*", "cloudwatch:*",
          "states:*", "scheduler:*", "ssm:*", "sqs:*", "s3vectors:*",
          "logs:*", "sns:*", "events:*", "iam:*Role", "iam:*RolePolicy", "iam:*RolePermissionsBoundary", "iam:UntagRole",
          "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy",
        ]
        Resource = concat(local.environment_service_arns, [
          local.s3_envs, "${local.s3_envs}/*", local.state_bucket, local.state_object, "${local.state_object}.tflock",
          "${local.iam_prefix}:role/${var.name}-*",
          "${local.arn.cloudwatch}:alarm:TargetTracking-service/${var.name}-*",
          "${local.arn.sagemaker}:training-job/${var.name}-*",
          "${local.arn.sagemaker}:model-package/${var.name}-*/*",
          "${local.arn.sagemaker}:processing-job/${var.name}-*",
          "${local.arn.states}:execution:${var.name}-*:*",
          "${local.arn.ssm}:parameter/${var.name}-*",
          # The services' own log groups, shared by every environment of the account.
          "${local.arn.logs}:log-group:/aws/sagemaker/TrainingJobs*",
          "${local.arn.logs}:log-group:/aws/sagemaker/ProcessingJobs*",
          "${local.arn.logs}:log-group:/aws-glue/*",
        ])
      },
      {
        # Part two: what AWS does not scope by resource, names nothing until it exists, or only reads metadata;
        # image pulls from anywhere (the SageMaker framework images live in AWS's accounts).
        Sid    = "AccountWide"
        Effect = "Allow"
        Action = [
          "ec2:*", "kms:*", "application-autoscaling:*", "route53:AssociateVPCWithHostedZone", "iam:Get*", "iam:List*",
          "iam:CreateServiceLinkedRole", "ecs:CreateCluster", "ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition",
          "ecs:TagResource", "ecs:Describe*", "ecs:List*", "ecr:GetAuthorizationToken", "ecr:BatchGetImage",
          "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability", "ecr:Describe*", "ecr:Get*", "ecr:List*",
          "elasticloadbalancing:Describe*", "cloudwatch:PutMetricData", "cloudwatch:Describe*", "cloudwatch:Get*",
          "cloudwatch:List*", "logs:Describe*", "logs:List*", "logs:PutResourcePolicy", "logs:DeleteResourcePolicy",
          "sns:Get*", "sns:List*", "events:Describe*", "events:List*", "glue:Get*", "glue:CreateSecurityConfiguration",
          "glue:DeleteSecurityConfiguration", "sagemaker:Describe*", "sagemaker:List*", "sagemaker:GetModelPackageGroupPolicy",
          "secretsmanager:GetRandomPassword", "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy",
          "secretsmanager:ListSecrets", "logs:*LogDelivery", "xray:Put*", "xray:GetSampling*", "ssm:DescribeParameters",
        ]
        Resource = "*"
      },
      {
        # The knowledge layer's model calls and its guardrail (the deploy role manages it, the service applies it).
        Sid      = "Bedrock"
        Effect   = "Allow"
        Action   = ["bedrock:InvokeModel*", "bedrock:*Guardrail*", "bedrock:*Resource"]
        Resource = [local.bedrock_models, local.bedrock_guardrails]
      },
      ], [for statement in [
        {
          # Promotion reads the source environments : images, model versions, model artifacts.
          Sid      = "PromotionSourcesReadOnly"
          Effect   = "Allow"
          Action   = concat(local.promotion_model_actions, ["s3:GetObject"])
          Resource = concat(local.promotion_models, local.promotion_artifacts)
        },
      ] : statement if length(var.promotion_sources) > 0], [
      {
        # What a role creates carries this boundary too, so no role of the environment can mint a stronger one.
        Sid      = "NoRoleWithoutThisBoundary"
        Effect   = "Deny"
        Action   = ["iam:CreateRole", "iam:PutRolePermissionsBoundary"]
        Resource = "*"
        Condition = {
          StringNotEquals = { "iam:PermissionsBoundary" = local.boundary_arn }
        }
      },
      {
        Sid      = "BoundaryStays"
        Effect   = "Deny"
        Action   = ["iam:DeleteRolePermissionsBoundary"]
        Resource = "*"
      },
      {
        # The guardrails themselves: changed by an administrator's apply, never by the roles they guard.
        Sid    = "GuardrailsAreAdministrators"
        Effect = "Deny"
        Action = [
          "iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion",
          "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy",
          "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary", "iam:DeleteRole", "iam:UpdateRole",
          "iam:CreateOpenIDConnectProvider", "iam:DeleteOpenIDConnectProvider", "iam:UpdateOpenIDConnectProviderThumbprint",
          "iam:AddClientIDToOpenIDConnectProvider", "iam:RemoveClientIDFromOpenIDConnectProvider",
        ]
        Resource = concat(local.guarded_role_arns, [
          local.boundary_arn,
          "${local.iam_prefix}:policy/${local.read_policy_name}",
          "${local.iam_prefix}:oidc-provider/${local.oidc_host}",
        ])
      },
    ])
  }

  ##############################################################################
  # Read: a managed policy both roles carry (the plan role's whole access, the deploy role's refresh)
  ##############################################################################

  read_statements = [
    {
      # Terraform refreshes every resource it manages; these are metadata reads, and most of these
      # Describe/List calls have no resource-level permissions.
      Sid    = "DescribePlatform"
      Effect = "Allow"
      Action = [
        "ec2:Describe*", "elasticloadbalancing:Describe*", "ecs:Describe*", "ecs:List*",
        "application-autoscaling:Describe*", "application-autoscaling:ListTagsForResource",
        "cloudwatch:Describe*", "cloudwatch:GetDashboard", "cloudwatch:ListTagsForResource",
        "logs:Describe*", "logs:ListTagsForResource", "logs:ListTagsLogGroup", "sns:GetTopicAttributes",
        "sns:GetSubscriptionAttributes", "sns:ListSubscriptionsByTopic", "sns:ListTagsForResource",
        "events:DescribeRule", "events:ListTargetsByRule", "events:ListTagsForResource", "glue:Get*",
        "sagemaker:Describe*", "sagemaker:List*", "sagemaker:GetModelPackageGroupPolicy", "ecr:Describe*",
        "ecr:GetLifecyclePolicy", "ecr:GetRepositoryPolicy", "ecr:ListTagsForResource", "kms:DescribeKey",
        "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags", "kms:ListAliases", "iam:GetRole",
        "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:GetPolicy",
        "iam:GetPolicyVersion", "iam:ListPolicyVersions", "iam:ListInstanceProfilesForRole", "iam:ListRoleTags",
        "iam:ListPolicyTags", "iam:GetOpenIDConnectProvider", "iam:ListOpenIDConnectProviders", "iam:ListOpenIDConnectProviderTags",
        "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy", "secretsmanager:GetRandomPassword",
        "ssm:DescribeParameters",
      ]
      Resource = "*"
    },
    {
      # Bucket configuration of this environment's buckets (s3:Get* on a bucket ARN reads no object).
      Sid      = "ReadBucketConfiguration"
      Effect   = "Allow"
      Action   = ["s3:GetBucket*", "s3:GetAccelerateConfiguration", "s3:GetLifecycleConfiguration", "s3:GetReplicationConfiguration", "s3:GetEncryptionConfiguration", "s3:GetIntelligentTieringConfiguration", "s3:ListBucket"]
      Resource = local.s3_envs
    },
    {
      # The closed loop's state machines, schedules and image parameter (the parameter's value is no secret).
      Sid      = "DescribeClosedLoop"
      Effect   = "Allow"
      Action   = ["states:DescribeStateMachine", "states:ListTagsForResource", "scheduler:GetSchedule", "ssm:GetParameter", "ssm:ListTagsForResource"]
      Resource = ["${local.arn.states}:stateMachine:${var.name}-*", "${local.arn.scheduler}:schedule/default/${var.name}-*", local.image_parameter_arn]
    },
    {
      # The knowledge layer's queues, vector store and guardrail (its configuration is no secret).
      Sid      = "DescribeKnowledge"
      Effect   = "Allow"
      Action   = ["sqs:GetQueueAttributes", "sqs:ListQueueTags", "s3vectors:Get*", "s3vectors:List*"]
      Resource = ["${local.arn.sqs}:${var.name}-*", "${local.arn.s3vectors}:bucket/${var.name}-*"]
    },
    {
      Sid      = "DescribeGuardrails"
      Effect   = "Allow"
      Action   = ["bedrock:GetGuardrail", "bedrock:ListTagsForResource"]
      Resource = local.bedrock_guardrails
    },
    {
      # Refreshing the API key's version reads it (GetSecretValue): that is the only secret value a plan sees.
      Sid      = "RefreshApiKeyVersion"
      Effect   = "Allow"
      Action   = ["secretsmanager:GetSecretValue"]
      Resource = "${local.arn.secretsmanager}:secret:${var.name}-*"
    },
    {
      Sid      = "DecryptApiKeyThroughSecretsManager"
      Effect   = "Allow"
      Action   = ["kms:Decrypt"]
      Resource = "*"
      Condition = {
        StringEquals = merge(local.environment_tag, { "kms:ViaService" = "secretsmanager.${local.region}.amazonaws.com" })
      }
    },
    {
      # This environment's state only, and its S3-native lock file (plan takes the lock too).
      Sid      = "StateObject"
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject"]
      Resource = [local.state_object, "${local.state_object}.tflock"]
    },
    {
      Sid      = "StateLockRelease"
      Effect   = "Allow"
      Action   = ["s3:DeleteObject"]
      Resource = "${local.state_object}.tflock"
    },
    {
      Sid      = "StateBucket"
      Effect   = "Allow"
      Action   = ["s3:ListBucket"]
      Resource = local.state_bucket
    },
    {
      # The state bucket's KMS key, used only through S3 for this bucket.
      Sid      = "StateKey"
      Effect   = "Allow"
      Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
      Resource = "*"
      Condition = {
        StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" }
        StringLike   = { "kms:EncryptionContext:aws:s3:arn" = [local.state_bucket, "${local.state_object}*"] }
      }
    },
  ]

  read_policy = {
    Version   = "2012-10-17"
    Statement = local.read_statements
  }

  ##############################################################################
  # Deploy: make apply (every module of terraform/platform)
  ##############################################################################

  deploy_terraform_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        # Roles of this environment only, and only with the boundary on them (the boundary denies the rest).
        Sid      = "EnvironmentRoles"
        Effect   = "Allow"
        Action   = ["iam:CreateRole", "iam:DeleteRole", "iam:TagRole", "iam:UntagRole", "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary"]
        Resource = "${local.iam_prefix}:role/${var.name}-*"
      },
      {
        # Task definitions, Glue jobs, training jobs, flow logs, state machines and their triggers name a role of
        # this environment.
        Sid      = "PassEnvironmentRoles"
        Effect   = "Allow"
        Action   = ["iam:PassRole"]
        Resource = "${local.iam_prefix}:role/${var.name}-*"
        Condition = {
          StringEquals = { "iam:PassedToService" = ["glue.amazonaws.com", "sagemaker.amazonaws.com", "ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com", "states.amazonaws.com", "scheduler.amazonaws.com", "events.amazonaws.com"] }
        }
      },
      {
        # ECS, the load balancer and autoscaling create their service-linked roles on first use in an account.
        Sid      = "ServiceLinkedRoles"
        Effect   = "Allow"
        Action   = ["iam:CreateServiceLinkedRole"]
        Resource = "*"
        Condition = {
          StringEquals = { "iam:AWSServiceName" = ["ecs.amazonaws.com", "elasticloadbalancing.amazonaws.com", "ecs.application-autoscaling.amazonaws.com"] }
        }
      },
      {
        # Buckets named ${var.name}-*: their configuration, and deleting objects when force_destroy empties one.
        Sid      = "EnvironmentBuckets"
        Effect   = "Allow"
        Action   = ["s3:CreateBucket", "s3:DeleteBucket", "s3:PutBucket*", "s3:DeleteBucket*", "s3:PutAccelerateConfiguration", "s3:PutLifecycleConfiguration", "s3:PutReplicationConfiguration", "s3:PutEncryptionConfiguration", "s3:PutIntelligentTieringConfiguration", "s3:ListBucketVersions", "s3:DeleteObject", "s3:DeleteObjectVersion"]
        Resource = [local.s3_envs, "${local.s3_envs}/*"]
      },
      {
        # KMS key ARNs are random: a key is this environment's by its Environment tag, set when it is created.
        Sid       = "CreateEnvironmentKeys"
        Effect    = "Allow"
        Action    = ["kms:CreateKey", "kms:TagResource"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:RequestTag/Environment" = var.environment } }
      },
      {
        Sid       = "ManageEnvironmentKeys"
        Effect    = "Allow"
        Action    = ["kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:UpdateKeyDescription", "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource", "kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias", "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant"]
        Resource  = "*"
        Condition = { StringEquals = local.environment_tag }
      },
      {
        Sid      = "EnvironmentKeyAliases"
        Effect   = "Allow"
        Action   = ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"]
        Resource = "${local.arn.kms}:alias/${var.name}-*"
      },
      {
        # The VPC and what is in it. EC2 IDs are random, so these families are not scoped by ARN; the list
        # stops at networking (no instances, volumes or images).
        Sid      = "Network"
        Effect   = "Allow"
        Action   = ["ec2:*Vpc", "ec2:*Vpcs", "ec2:*VpcAttribute", "ec2:*VpcEndpoint", "ec2:*VpcEndpoints", "ec2:*Subnet", "ec2:ModifySubnetAttribute", "ec2:*RouteTable", "ec2:*RouteTableAssociation", "ec2:*Route", "ec2:*InternetGateway", "ec2:*NatGateway", "ec2:AllocateAddress", "ec2:ReleaseAddress", "ec2:DisassociateAddress", "ec2:*SecurityGroup", "ec2:*SecurityGroupIngress", "ec2:*SecurityGroupEgress", "ec2:ModifySecurityGroupRules", "ec2:UpdateSecurityGroupRuleDescriptions*", "ec2:*FlowLogs", "ec2:*NetworkAclEntry", "ec2:ReplaceNetworkAclAssociation", "ec2:CreateTags", "ec2:DeleteTags"]
        Resource = "*"
      },
      {
        # CreateVpcEndpoint's dependent action for an interface endpoint's private DNS (AWS's own hosted zone).
        Sid      = "EndpointPrivateDns"
        Effect   = "Allow"
        Action   = ["route53:AssociateVPCWithHostedZone"]
        Resource = "*"
      },
      {
        # Target tracking's alarms are created in the caller's name, named after the service's resource ID.
        Sid      = "TargetTrackingAlarms"
        Effect   = "Allow"
        Action   = ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"]
        Resource = "${local.arn.cloudwatch}:alarm:TargetTracking-service/${var.name}-*"
      },
      {
        Sid      = "EnvironmentServices"
        Effect   = "Allow"
        Action   = ["ecs:*", "elasticloadbalancing:*", "cloudwatch:*", "logs:*", "sns:*", "events:*", "secretsmanager:*", "glue:*", "sagemaker:*ModelPackageGroup*", "sagemaker:AddTags", "sagemaker:DeleteTags", "ecr:*", "states:*", "scheduler:*", "sqs:*", "s3vectors:*"]
        Resource = local.environment_service_arns
      },
      {
        # The knowledge answerer's guardrail: created with this environment's tag, then managed by it.
        Sid       = "CreateEnvironmentGuardrails"
        Effect    = "Allow"
        Action    = ["bedrock:CreateGuardrail", "bedrock:TagResource"]
        Resource  = local.bedrock_guardrails
        Condition = { StringEquals = { "aws:RequestTag/Environment" = var.environment } }
      },
      {
        Sid       = "ManageEnvironmentGuardrails"
        Effect    = "Allow"
        Action    = ["bedrock:GetGuardrail", "bedrock:UpdateGuardrail", "bedrock:DeleteGuardrail", "bedrock:CreateGuardrailVersion", "bedrock:ListTagsForResource", "bedrock:TagResource", "bedrock:UntagResource"]
        Resource  = local.bedrock_guardrails
        Condition = { StringEquals = local.environment_tag }
      },
      {
        # The platform image parameter: apply creates it (with PublishImage's PutParameter), never its value.
        Sid      = "ImageParameter"
        Effect   = "Allow"
        Action   = ["ssm:DeleteParameter", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource", "ssm:ListTagsForResource", "ssm:GetParameters"]
        Resource = local.image_parameter_arn
      },
      {
        # These calls have no resource-level permissions (or name nothing until they have run).
        Sid      = "UnscopedByAws"
        Effect   = "Allow"
        Action   = ["ecs:CreateCluster", "ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition", "ecs:TagResource", "application-autoscaling:*", "glue:CreateSecurityConfiguration", "glue:DeleteSecurityConfiguration", "logs:PutResourcePolicy", "logs:DeleteResourcePolicy", "ecr:GetAuthorizationToken", "logs:*LogDelivery", "ssm:DescribeParameters"]
        Resource = "*"
      },
    ]
  }

  ##############################################################################
  # Deploy: the image push, prodml ship, prodml train / etl / register
  ##############################################################################

  deploy_release_policy = {
    Version = "2012-10-17"
    Statement = concat([
      {
        # After a deploy, the image the service runs becomes the one the processing jobs run: exactly this parameter.
        Sid      = "PublishImage"
        Effect   = "Allow"
        Action   = ["ssm:PutParameter", "ssm:GetParameter"]
        Resource = local.image_parameter_arn
      },
      {
        # prodml ship: the release files, then code/CURRENT (EnvironmentBuckets covers nothing inside objects).
        Sid      = "ShipRelease"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject"]
        Resource = "arn:${local.partition}:s3:::${var.name}-artifacts/code/*"
      },
      {
        # prodml train: the committed dataset version it trains on, and the config channel it stages.
        Sid      = "TrainingInputs"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = ["arn:${local.partition}:s3:::${var.name}-processed/*", "arn:${local.partition}:s3:::${var.name}-artifacts/training/*"]
      },
      {
        # What the commands write under training/<job>/: prodml train the config channel, prodml register the
        # report (metrics, lineage, model card), prodml models promote the copied artifact.
        Sid    = "WriteTrainingRecords"
        Effect = "Allow"
        Action = ["s3:PutObject"]
        Resource = [for part in ["input/config", "report", "output"] :
          "arn:${local.partition}:s3:::${var.name}-artifacts/training/*/${part}/*"
        ]
      },
      {
        Sid      = "UseDataKeyThroughS3"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = "*"
        Condition = {
          StringEquals = merge(local.environment_tag, { "kms:ViaService" = "s3.${local.region}.amazonaws.com" })
        }
      },
      {
        # prodml ship repoints each job (GetJob, UpdateJob); prodml etl starts and follows a run.
        Sid      = "GlueJobs"
        Effect   = "Allow"
        Action   = ["glue:GetJob", "glue:UpdateJob", "glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns"]
        Resource = "${local.arn.glue}:job/${var.name}-*"
      },
      {
        # The training job prodml train starts: its name is this environment's, and it runs on the instance
        # type of src/prodml/jobs/training.yaml and nothing larger.
        Sid      = "StartTraining"
        Effect   = "Allow"
        Action   = ["sagemaker:CreateTrainingJob"]
        Resource = "${local.arn.sagemaker}:training-job/${var.name}-*"
        Condition = {
          "ForAllValues:StringEquals" = { "sagemaker:InstanceTypes" = var.training_instance_types }
          Null                        = { "sagemaker:InstanceTypes" = "false" }
        }
      },
      {
        Sid      = "FollowTraining"
        Effect   = "Allow"
        Action   = ["sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob", "sagemaker:AddTags"]
        Resource = "${local.arn.sagemaker}:training-job/${var.name}-*"
      },
      {
        # prodml register: model packages in this environment's groups.
        Sid      = "RegisterModels"
        Effect   = "Allow"
        Action   = ["sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"]
        Resource = ["${local.arn.sagemaker}:model-package/${var.name}-*/*", "${local.arn.sagemaker}:model-package-group/${var.name}-*"]
      },
      {
        # Jobs' logs, followed while they run.
        Sid      = "FollowJobLogs"
        Effect   = "Allow"
        Action   = ["logs:GetLogEvents", "logs:FilterLogEvents", "logs:DescribeLogStreams"]
        Resource = ["${local.arn.logs}:log-group:/aws/sagemaker/TrainingJobs:*", "${local.arn.logs}:log-group:/aws-glue/*"]
      },
      ], [for statement in [
        {
          # Promotion copies what another environment ran and approved (the image by digest, a model version):
          # read-only, from those environments.
          Sid      = "PullPromotedImages"
          Effect   = "Allow"
          Action   = local.promotion_image_actions
          Resource = local.promotion_repositories
        },
        {
          Sid      = "ReadPromotedModels"
          Effect   = "Allow"
          Action   = local.promotion_model_actions
          Resource = local.promotion_models
        },
        {
          Sid      = "ReadPromotedModelArtifacts"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = local.promotion_artifacts
        },
        {
          Sid      = "DecryptPromotedModelArtifacts"
          Effect   = "Allow"
          Action   = ["kms:Decrypt"]
          Resource = "*"
          Condition = {
            StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" }
            StringLike   = { "kms:EncryptionContext:aws:s3:arn" = local.promotion_artifact_buckets }
          }
        },
        # (a for expression, not a conditional: the two branches would be tuples of different types)
        ] : statement if length(var.promotion_sources) > 0], [for statement in [
        {
          # prodml kb ingest --land-only: the documents and their landing records; prodml kb eval and promote: the
          # evaluation beside an index version, then CURRENT (the gate's move). Never processed documents or indexes.
          Sid      = "LandKnowledgeDocuments"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:PutObject"]
          Resource = "arn:${local.partition}:s3:::${var.name}-raw/knowledge/*"
        },
        {
          Sid      = "EvaluateAndPromoteIndexes"
          Effect   = "Allow"
          Action   = ["s3:PutObject"]
          Resource = ["arn:${local.partition}:s3:::${var.name}-artifacts/knowledge/*/index/*/evaluation.json", "arn:${local.partition}:s3:::${var.name}-artifacts/knowledge/*/CURRENT"]
        },
        {
          Sid      = "ReadIndexes"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = "arn:${local.partition}:s3:::${var.name}-artifacts/knowledge/*"
        },
        {
          # A chunking or model change requeues landed documents; the worker consumes the queue, not this role.
          Sid      = "QueueLandedDocuments"
          Effect   = "Allow"
          Action   = ["sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:SendMessage"]
          Resource = "${local.arn.sqs}:${try(var.knowledge_queue_names.queue, "")}"
        },
        {
          Sid      = "PeekDeadLetters"
          Effect   = "Allow"
          Action   = ["sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
          Resource = "${local.arn.sqs}:${try(var.knowledge_queue_names.dead_letter, "")}"
        },
        ] : statement if var.knowledge_queue_names != null], [for statement in [
        {
          Sid      = "EmbedGoldenQuestions"
          Effect   = "Allow"
          Action   = ["bedrock:InvokeModel"]
          Resource = [for id in var.knowledge_embedding_model_ids : "arn:${local.partition}:bedrock:${local.region}::foundation-model/${id}"]
        },
    ] : statement if length(var.knowledge_embedding_model_ids) > 0])
  }
}
