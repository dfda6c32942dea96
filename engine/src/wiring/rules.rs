//! The table of wiring rules: each rule's stable id, what it checks, and the AWS page that says why.

/// One rule: its stable id, what it checks, and the AWS page that says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub what: &'static str,
    pub link: &'static str,
}

const fn rule(id: &'static str, what: &'static str, link: &'static str) -> Rule {
    Rule { id, what, link }
}

/// Every wiring rule, by id.
pub const RULES: &[Rule] = &[
    rule(
        "kms-sns-to-sqs",
        "an encrypted queue subscribed to a topic: the queue's key admits sns.amazonaws.com (kms:GenerateDataKey*, kms:Decrypt)",
        "https://docs.aws.amazon.com/sns/latest/dg/sns-enable-encryption-for-topic-sqs-queue-subscriptions.html",
    ),
    rule(
        "kms-s3-notifications",
        "S3 event notifications to an encrypted queue or topic: its key admits s3.amazonaws.com",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/grant-destinations-permissions-to-s3.html",
    ),
    rule(
        "kms-cloudwatch-alarms",
        "CloudWatch alarms publishing to an encrypted topic: its key admits cloudwatch.amazonaws.com",
        "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services",
    ),
    rule(
        "kms-eventbridge",
        "EventBridge rules targeting an encrypted topic or queue: its key admits events.amazonaws.com",
        "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions",
    ),
    rule(
        "kms-log-delivery",
        "log delivery (WAF logs) to an SSE-KMS bucket: the bucket's key admits delivery.logs.amazonaws.com",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/AWS-logs-infrastructure-S3.html",
    ),
    rule(
        "kms-cloudtrail",
        "CloudTrail encrypting a trail's log files (kms_key_id) or writing to an SSE-KMS bucket: that key admits cloudtrail.amazonaws.com",
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html",
    ),
    rule(
        "s3-log-delivery-policy",
        "a bucket that receives WAF logs admits delivery.logs.amazonaws.com: PutObject with bucket-owner-full-control, and GetBucketAcl",
        "https://docs.aws.amazon.com/waf/latest/developerguide/logging-s3.html",
    ),
    rule(
        "s3-cloudtrail-policy",
        "a bucket that receives a trail's log files admits cloudtrail.amazonaws.com for that trail: GetBucketAcl, and PutObject under <prefix>/AWSLogs/<account>/ with bucket-owner-full-control",
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html",
    ),
    rule(
        "s3-access-log-policy",
        "a bucket that receives another's server access logs admits logging.s3.amazonaws.com: PutObject under the prefix, from that source bucket and account",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html",
    ),
    rule(
        "s3-access-log-loop",
        "a bucket does not log its access into itself without a target prefix",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerLogs.html",
    ),
    rule(
        "s3-replication-destination-versioning",
        "a replication destination of the stack is versioned (S3 replicates only between versioned buckets)",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-requirements.html",
    ),
    rule(
        "eks-nodegroup-version-skew",
        "a node group's Kubernetes version is not newer than its cluster's and at most three minor versions older (two before 1.28)",
        "https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html",
    ),
    rule(
        "rds-monitoring-role",
        "the role an RDS instance sends Enhanced Monitoring metrics with lets monitoring.rds.amazonaws.com assume it and has AmazonRDSEnhancedMonitoringRole",
        "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Monitoring.OS.Enabling.html",
    ),
    rule(
        "s3-replication-role-trust",
        "the role a bucket replicates with lets s3.amazonaws.com assume it",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/setting-repl-config-perm-overview.html",
    ),
    rule(
        "waf-log-destination-name",
        "a WAF log destination (bucket, log group, Firehose stream) is named aws-waf-logs-...",
        "https://docs.aws.amazon.com/waf/latest/developerguide/logging-destinations.html",
    ),
    rule(
        "s3-deny-locks-out-service",
        "a Deny for every principal in a bucket policy leaves out the AWS services the stack wires to the bucket (deny non-TLS with aws:SecureTransport false only)",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalisawsservice",
    ),
    rule(
        "sqs-policy-admits-sns",
        "a queue subscribed to a topic admits sns.amazonaws.com (sqs:SendMessage) from that topic in its queue policy",
        "https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html",
    ),
    rule(
        "sns-fifo-queue-needs-fifo-topic",
        "a FIFO queue can subscribe only to a FIFO topic",
        "https://docs.aws.amazon.com/sns/latest/dg/fifo-sns-sqs-subscription.html",
    ),
    rule(
        "sqs-fifo-dlq",
        "the dead-letter queue of a FIFO queue is FIFO, and that of a standard queue is standard",
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html",
    ),
    rule(
        "sqs-dlq-retention",
        "a standard queue's dead-letter queue keeps messages at least as long as the queue (expiry counts from the first enqueue)",
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html",
    ),
    rule(
        "eks-access-entry-auth-mode",
        "access entries need a cluster whose authentication mode is API or API_AND_CONFIG_MAP (EKS's default for API-created clusters is CONFIG_MAP)",
        "https://docs.aws.amazon.com/eks/latest/userguide/setting-up-access-entries.html",
    ),
    rule(
        "eks-pod-identity-role-trust",
        "a role given to pods through EKS Pod Identity (an association or an add-on's) lets pods.eks.amazonaws.com assume it and tag the session",
        "https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html",
    ),
    rule(
        "eks-secrets-key-symmetric",
        "the key that encrypts Kubernetes secrets is a symmetric ENCRYPT_DECRYPT key",
        "https://docs.aws.amazon.com/eks/latest/userguide/enable-kms.html",
    ),
    rule(
        "eks-subnets-two-azs",
        "an EKS cluster's subnets span at least two Availability Zones",
        "https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html",
    ),
    rule(
        "rds-subnet-group-two-azs",
        "a DB subnet group's subnets span at least two Availability Zones",
        "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_VPC.WorkingWithRDSInstanceinaVPC.html#USER_VPC.Subnets",
    ),
];
