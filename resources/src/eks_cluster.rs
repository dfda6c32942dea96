//! `aws.eks.cluster`: an EKS control plane with its version, VPC placement, endpoint access, logging and secrets encryption.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_eks::client::Waiters;
use aws_sdk_eks::operation::create_cluster::CreateClusterInput;
use aws_sdk_eks::types::{
    AuthenticationMode, Cluster, CreateAccessConfigRequest, EncryptionConfig, LogSetup, LogType, Logging, Provider, UpdateAccessConfigRequest, VpcConfigRequest,
};
use aws_sdk_eks::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, PropsRule, ProviderError, ResourceKind, ResourceSchema, TextRule,
};
use serde_json::{json, Value};

use crate::adopt::{adopt, foreign};
use crate::aws::AwsContext;
use crate::eks_common::{
    boolean, cluster_status, invalid, minutes, request_tags, required_string, sorted_json, still_deleting, string, string_list, sync_tags, tags_of,
    wait_cluster_active, wait_minutes, wait_update, waited, EksResultExt, Waited, ARN, CLUSTER_NAME, DEFAULT_WAIT_MINUTES,
};
use crate::error::{found, gone};
use crate::rds_common::{message_of, non_empty};

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.eks.cluster",
    doc: "An EKS control plane: Kubernetes version, VPC placement, API endpoint access, control-plane logging and secrets encryption. Its id is the cluster name.",
    props: &[
        PropSpec::new("name", PropType::String, "Cluster name (1-100 letters, digits, `-` and `_`); defaults to a name derived from stack, env and address.")
            .force_new()
            .naming(NAMING),
        PropSpec::new("role_arn", ARN, "ARN of the IAM role the control plane assumes (trusting eks.amazonaws.com, with AmazonEKSClusterPolicy).")
            .required()
            .force_new(),
        PropSpec::new(
            "version",
            PropType::Text(TextRule::len(1, 16).chars(".")),
            "Kubernetes version, e.g. \"1.30\"; unset takes EKS's default. Raising it upgrades the control plane in place, one minor version at a time.",
        ),
        PropSpec::new(
            "subnet_ids",
            PropType::List(&PropType::Text(TextRule::len(1, 255))),
            "Subnets for the control plane's network interfaces, in at least two Availability Zones.",
        )
        .required()
        .force_new()
        .rule(non_empty),
        PropSpec::new(
            "security_group_ids",
            PropType::List(&PropType::Text(TextRule::len(1, 255))),
            "Extra security groups for the control plane's network interfaces (EKS adds its own cluster security group too).",
        )
        .force_new()
        .default("[]"),
        PropSpec::new(
            "endpoint_private_access",
            PropType::Bool,
            "Whether the Kubernetes API is reachable from inside the VPC (this or endpoint_public_access must be true).",
        )
        .default("true"),
        PropSpec::new("endpoint_public_access", PropType::Bool, "Whether the Kubernetes API is reachable from the internet.").default("false"),
        PropSpec::new(
            "public_access_cidrs",
            PropType::List(&PropType::Text(TextRule::len(9, 18).chars("./"))),
            "IPv4 CIDR blocks allowed to reach the public endpoint; unset leaves EKS's default (0.0.0.0/0).",
        )
        .rule(ipv4_cidrs),
        PropSpec::new("enabled_log_types", PropType::List(&PropType::Enum(LOG_TYPES)), "Control-plane logs sent to CloudWatch Logs.").default("[]"),
        PropSpec::new("secrets_kms_key", ARN, "ARN of a KMS key that envelope-encrypts Kubernetes secrets.").force_new(),
        PropSpec::new(
            "access_config",
            PropType::Struct(&[
                PropSpec::new(
                    "authentication_mode",
                    PropType::Enum(AUTH_MODES),
                    "CONFIG_MAP (the aws-auth ConfigMap only; EKS's default), API_AND_CONFIG_MAP or API. Access entries need API or API_AND_CONFIG_MAP; \
                     the mode only moves CONFIG_MAP -> API_AND_CONFIG_MAP -> API.",
                ),
                PropSpec::new(
                    "bootstrap_cluster_creator_admin_permissions",
                    PropType::Bool,
                    "Make the cluster's creator its administrator (AWS default true); set at creation only.",
                ),
            ]),
            "How IAM principals authenticate to the cluster: `{ authentication_mode, bootstrap_cluster_creator_admin_permissions }`; unset, EKS uses CONFIG_MAP.",
        ),
        PropSpec::new("wait_timeout_minutes", PropType::IntRange(1, 1_440), "How long to wait for the cluster to become ACTIVE or for an update to finish.")
            .local()
            .default("30"),
    ],
    attrs: &["arn", "endpoint", "certificate_authority", "oidc_issuer_url", "cluster_security_group_id", "platform_version"],
    taggable: true,
    rules: &[PropsRule { props: &["endpoint_private_access", "endpoint_public_access"], check: some_endpoint_on }],
};

/// EKS refuses a cluster whose API is reachable from nowhere.
fn some_endpoint_on(p: &Props) -> Vec<String> {
    let on = |name: &str| SCHEMA.value_or_default(p, name).and_then(|v| v.as_bool()).unwrap_or(false);
    if on("endpoint_private_access") || on("endpoint_public_access") {
        vec![]
    } else {
        vec!["at least one of endpoint_private_access and endpoint_public_access must be true".into()]
    }
}

/// Cluster names: unique per account and region.
pub const NAMING: Naming = Naming::new(CLUSTER_NAME, NameScope::Region);

const LOG_TYPES: &[&str] = &["api", "audit", "authenticator", "controllerManager", "scheduler"];

/// The public endpoint takes IPv4 CIDR blocks only.
fn ipv4_cidrs(cidrs: &Value) -> Vec<String> {
    let valid = |c: &str| {
        c.split_once('/')
            .is_some_and(|(ip, bits)| ip.parse::<std::net::Ipv4Addr>().is_ok() && bits.parse::<u8>().is_ok_and(|b| b <= 32) && !bits.starts_with('+'))
    };
    let items = cidrs.as_array().map(Vec::as_slice).unwrap_or_default();
    items.iter().filter_map(Value::as_str).filter(|c| !valid(c)).map(|c| format!("{c:?} is not an IPv4 CIDR block (e.g. 203.0.113.0/24)")).collect()
}
/// Authentication modes in the only order EKS lets a cluster move through them.
const AUTH_MODES: &[&str] = &["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"];
const BOOTSTRAP: &str = "bootstrap_cluster_creator_admin_permissions";
const ENDPOINT_PROPS: &[&str] = &["endpoint_private_access", "endpoint_public_access", "public_access_cidrs"];

const READ_ACTIONS: &[&str] = &["eks:DescribeCluster"];
// CreateCluster passes the role (iam:PassRole), may create EKS's service-linked role and
// checks it exists (iam:GetRole); tags given to CreateCluster need eks:TagResource; a
// secrets key needs the caller to be able to grant EKS use of it.
const CREATE_ACTIONS: &[&str] = &[
    "eks:CreateCluster",
    "eks:TagResource",
    "eks:DescribeCluster",
    "iam:PassRole",
    "iam:GetRole",
    "iam:CreateServiceLinkedRole",
    "kms:DescribeKey",
    "kms:CreateGrant",
];
const UPDATE_ACTIONS: &[&str] =
    &["eks:UpdateClusterVersion", "eks:UpdateClusterConfig", "eks:DescribeUpdate", "eks:TagResource", "eks:UntagResource", "eks:DescribeCluster"];
const DELETE_ACTIONS: &[&str] = &["eks:DescribeCluster", "eks:DeleteCluster"];

pub struct EksCluster {
    client: Client,
}

impl EksCluster {
    pub fn new(ctx: &AwsContext) -> Self {
        Self::from_client(ctx.eks())
    }

    pub fn from_client(client: Client) -> Self {
        EksCluster { client }
    }

    async fn describe(&self, name: &str) -> Result<Option<Cluster>, ProviderError> {
        let out = found(self.client.describe_cluster().name(name).send().await.eks("DescribeCluster"))?;
        Ok(out.and_then(|o| o.cluster().cloned()))
    }

    /// Moves the authentication mode forward; EKS refuses a move back and a change of the
    /// bootstrap flag, so both are refused here with what to do instead.
    async fn update_access(&self, id: &str, desired: &Desired, wait: u64) -> Result<(), ProviderError> {
        let Some((mode, bootstrap)) = access_config(desired) else { return Ok(()) };
        let cluster = self.describe(id).await?.ok_or_else(|| ProviderError::NotFound(format!("aws.eks.cluster {id} disappeared during update")))?;
        let now = observed(&cluster);
        let current = &now.props["access_config"];
        if let Some(b) = bootstrap.filter(|b| current[BOOTSTRAP].as_bool() != Some(*b)) {
            return Err(invalid(
                &SCHEMA,
                format!("access_config.{BOOTSTRAP} is set when the cluster is created and cannot change to {b}; keep the current value or replace the cluster"),
            ));
        }
        let (Some(mode), Some(from)) = (mode, current["authentication_mode"].as_str()) else { return Ok(()) };
        let rank = |m: &str| AUTH_MODES.iter().position(|x| *x == m).unwrap_or(0);
        if rank(&mode) < rank(from) {
            return Err(invalid(
                &SCHEMA,
                format!("authentication mode can only move CONFIG_MAP -> API_AND_CONFIG_MAP -> API; {id} is {from} and cannot go back to {mode}"),
            ));
        }
        if mode == from {
            return Ok(());
        }
        let request = UpdateAccessConfigRequest::builder().authentication_mode(AuthenticationMode::from(mode.as_str())).build();
        let out = self.client.update_cluster_config().name(id).access_config(request).send().await.eks("UpdateClusterConfig")?;
        match out.update() {
            Some(update) => wait_update(&self.client, id, None, update, &format!("aws.eks.cluster {id} authentication mode update to {mode}"), wait).await,
            None => wait_cluster_active(&self.client, id, wait).await,
        }
    }
}

/// The enabled log types (each one of `LOG_TYPES`, which the schema checks), once each.
fn log_types(desired: &Desired) -> Result<Vec<String>, ProviderError> {
    let types = string_list(&SCHEMA, desired, "enabled_log_types")?.unwrap_or_default();
    Ok(types.into_iter().collect::<BTreeSet<_>>().into_iter().collect())
}

/// The CreateCluster request for `desired`, checked against the schema first (values known
/// only at apply were not checked at validate). Pure, so the agreement test can build it.
fn create_input(desired: &Desired) -> Result<CreateClusterInput, ProviderError> {
    crate::schema_check::check(&SCHEMA, &desired.props)?;
    let role = required_string(&SCHEMA, desired, "role_arn")?;
    let subnets = string_list(&SCHEMA, desired, "subnet_ids")?.unwrap_or_default();
    let groups = string_list(&SCHEMA, desired, "security_group_ids")?.unwrap_or_default();
    let vpc = endpoint_access(desired, VpcConfigRequest::builder().set_subnet_ids(Some(subnets)).set_security_group_ids(Some(groups)))?.build();
    let logs = log_types(desired)?;
    let encryption = string(&SCHEMA, desired, "secrets_kms_key")?.map(secrets_encryption);
    let access = access_config(desired).map(|(mode, bootstrap)| {
        CreateAccessConfigRequest::builder()
            .set_authentication_mode(mode.map(|m| AuthenticationMode::from(m.as_str())))
            .set_bootstrap_cluster_creator_admin_permissions(bootstrap)
            .build()
    });
    CreateClusterInput::builder()
        .name(desired.name())
        .role_arn(role)
        .set_version(string(&SCHEMA, desired, "version")?)
        .resources_vpc_config(vpc)
        .logging(logging(&logs))
        .set_encryption_config(encryption.map(|e| vec![e]))
        .set_access_config(access)
        .set_tags(request_tags(&desired.tags))
        .client_request_token(&desired.idempotency_token)
        .build()
        .map_err(|e| invalid(&SCHEMA, e))
}

/// The desired `access_config`: (authentication mode, bootstrap flag), each when set. Its
/// shape and the mode's values are the schema's, checked before any request is built.
fn access_config(desired: &Desired) -> Option<(Option<String>, Option<bool>)> {
    let v = desired.props.get("access_config").filter(|v| !v.is_null())?;
    Some((v.get("authentication_mode").and_then(Value::as_str).map(str::to_string), v.get(BOOTSTRAP).and_then(Value::as_bool)))
}

/// Every log type in one of two groups, so that an update also turns off what was removed.
fn logging(enabled: &[String]) -> Logging {
    let disabled: Vec<&str> = LOG_TYPES.iter().copied().filter(|t| !enabled.iter().any(|e| e == t)).collect();
    let mut logging = Logging::builder();
    if !enabled.is_empty() {
        logging =
            logging.cluster_logging(LogSetup::builder().set_types(Some(enabled.iter().map(|t| LogType::from(t.as_str())).collect())).enabled(true).build());
    }
    if !disabled.is_empty() {
        logging = logging.cluster_logging(LogSetup::builder().set_types(Some(disabled.into_iter().map(LogType::from).collect())).enabled(false).build());
    }
    logging.build()
}

/// The endpoint-access part of the VPC config, shared by create and update.
fn endpoint_access(
    desired: &Desired,
    vpc: aws_sdk_eks::types::builders::VpcConfigRequestBuilder,
) -> Result<aws_sdk_eks::types::builders::VpcConfigRequestBuilder, ProviderError> {
    let private = boolean(&SCHEMA, desired, "endpoint_private_access")?.unwrap_or(true);
    // That one is on is the schema's rule `some_endpoint_on`, which create and update ran first.
    let public = boolean(&SCHEMA, desired, "endpoint_public_access")?.unwrap_or(false);
    let cidrs = string_list(&SCHEMA, desired, "public_access_cidrs")?;
    Ok(vpc.endpoint_private_access(private).endpoint_public_access(public).set_public_access_cidrs(cidrs))
}

/// DescribeCluster output in the stack's shape.
fn observed(cluster: &Cluster) -> Observed {
    let name = cluster.name().unwrap_or_default().to_string();
    let mut props = Props::new();
    props.insert("name".into(), json!(name));
    props.insert("role_arn".into(), json!(cluster.role_arn().unwrap_or_default()));
    if let Some(version) = cluster.version() {
        props.insert("version".into(), json!(version));
    }
    let vpc = cluster.resources_vpc_config();
    props.insert("subnet_ids".into(), sorted_json(vpc.map(|v| v.subnet_ids()).unwrap_or_default()));
    props.insert("security_group_ids".into(), sorted_json(vpc.map(|v| v.security_group_ids()).unwrap_or_default()));
    props.insert("endpoint_private_access".into(), json!(vpc.map(|v| v.endpoint_private_access()).unwrap_or(false)));
    props.insert("endpoint_public_access".into(), json!(vpc.map(|v| v.endpoint_public_access()).unwrap_or(false)));
    props.insert("public_access_cidrs".into(), sorted_json(vpc.map(|v| v.public_access_cidrs()).unwrap_or_default()));
    let enabled: BTreeSet<String> = cluster
        .logging()
        .map(|l| l.cluster_logging())
        .unwrap_or_default()
        .iter()
        .filter(|s| s.enabled() == Some(true))
        .flat_map(|s| s.types().iter().map(|t| t.as_str().to_string()))
        .collect();
    props.insert("enabled_log_types".into(), json!(enabled));
    // Secrets are the only resource EKS envelope-encrypts with a customer key, so any
    // configured key is the secrets key (`resources` is deprecated in the API).
    let key = cluster.encryption_config().iter().find_map(|e| e.provider().and_then(|p| p.key_arn()));
    if let Some(key) = key {
        props.insert("secrets_kms_key".into(), json!(key));
    }
    // EKS reports the access configuration of every cluster; an answer without one describes a
    // cluster that authenticates as all did before access entries: through the aws-auth
    // ConfigMap, with its creator bootstrapped as administrator.
    let access = cluster.access_config();
    props.insert(
        "access_config".into(),
        json!({
            "authentication_mode": access.and_then(|a| a.authentication_mode()).map(|m| m.as_str()).unwrap_or("CONFIG_MAP"),
            BOOTSTRAP: access.and_then(|a| a.bootstrap_cluster_creator_admin_permissions()).unwrap_or(true),
        }),
    );

    let mut attrs = Props::new();
    let mut attr = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            attrs.insert(k.into(), json!(v));
        }
    };
    attr("arn", cluster.arn());
    attr("endpoint", cluster.endpoint());
    attr("certificate_authority", cluster.certificate_authority().and_then(|c| c.data()));
    attr("oidc_issuer_url", cluster.identity().and_then(|i| i.oidc()).and_then(|o| o.issuer()));
    attr("cluster_security_group_id", vpc.and_then(|v| v.cluster_security_group_id()));
    attr("platform_version", cluster.platform_version());
    Observed { id: name, props, attrs, tags: tags_of(cluster.tags()) }
}

/// `resources: [secrets]` is deprecated but still what the API documents as the only
/// accepted value, so it is sent for compatibility.
#[allow(deprecated)]
fn secrets_encryption(key: String) -> EncryptionConfig {
    EncryptionConfig::builder().resources("secrets").provider(Provider::builder().key_arn(key).build()).build()
}

fn is_deleting(cluster: &Cluster) -> bool {
    cluster.status().map(|s| s.as_str()) == Some("DELETING")
}

#[async_trait]
impl ResourceKind for EksCluster {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        Ok(self.describe(id).await?.filter(|c| !is_deleting(c)).map(|c| observed(&c)))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let name = desired.name();
        let wait = wait_minutes(desired)?;
        let input = create_input(desired)?;
        let created = self
            .client
            .create_cluster()
            .set_name(input.name)
            .set_role_arn(input.role_arn)
            .set_version(input.version)
            .set_resources_vpc_config(input.resources_vpc_config)
            .set_logging(input.logging)
            .set_encryption_config(input.encryption_config)
            .set_access_config(input.access_config)
            .set_tags(input.tags)
            .set_client_request_token(input.client_request_token)
            .send()
            .await
            .eks("CreateCluster");
        let adopted = match created {
            Ok(_) => false,
            // The name is taken: by this cluster when a run died while waiting for it, or by someone else.
            Err(e @ ProviderError::Conflict(_)) if message_of(e.clone()).contains("ResourceInUseException") => match self.read(&name).await? {
                Some(o) if desired.owner.matches(&o.tags) => true,
                Some(o) => return Err(foreign(SCHEMA.kind, &format!("EKS cluster {name}"), desired, &o.tags)),
                None => return Err(e),
            },
            Err(e) => return Err(e),
        };
        wait_cluster_active(&self.client, &name, wait).await?;
        let observed = self.read(&name).await?.ok_or_else(|| ProviderError::Retryable(format!("aws.eks.cluster {name} is not readable yet")))?;
        if adopted {
            return adopt(self, desired, &format!("EKS cluster {name}"), observed).await;
        }
        Ok(observed)
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let wait = wait_minutes(desired)?;
        let has = |p: &str| changed.iter().any(|c| c == p);
        // EKS runs one update at a time and rejects an UpdateClusterConfig that mixes
        // endpoint access with logging, so each goes on its own and is waited for.
        if has("version") {
            let version = string(&SCHEMA, desired, "version")?
                .ok_or_else(|| invalid(&SCHEMA, "version cannot be unset once managed; set the version the cluster runs"))?;
            let out = self.client.update_cluster_version().name(id).version(&version).send().await.eks("UpdateClusterVersion")?;
            match out.update() {
                Some(update) => wait_update(&self.client, id, None, update, &format!("aws.eks.cluster {id} upgrade to {version}"), wait).await?,
                None => wait_cluster_active(&self.client, id, wait).await?,
            }
        }
        if ENDPOINT_PROPS.iter().any(|p| has(p)) {
            let vpc = endpoint_access(desired, VpcConfigRequest::builder())?.build();
            let out = self.client.update_cluster_config().name(id).resources_vpc_config(vpc).send().await.eks("UpdateClusterConfig")?;
            match out.update() {
                Some(update) => wait_update(&self.client, id, None, update, &format!("aws.eks.cluster {id} endpoint access update"), wait).await?,
                None => wait_cluster_active(&self.client, id, wait).await?,
            }
        }
        if has("enabled_log_types") {
            let logs = log_types(desired)?;
            let out = self.client.update_cluster_config().name(id).logging(logging(&logs)).send().await.eks("UpdateClusterConfig")?;
            match out.update() {
                Some(update) => wait_update(&self.client, id, None, update, &format!("aws.eks.cluster {id} logging update"), wait).await?,
                None => wait_cluster_active(&self.client, id, wait).await?,
            }
        }
        if has("access_config") {
            self.update_access(id, desired, wait).await?;
        }
        if has("tags") {
            let cluster = self.describe(id).await?.ok_or_else(|| ProviderError::NotFound(format!("aws.eks.cluster {id} disappeared during update")))?;
            let arn = cluster.arn().unwrap_or_default();
            sync_tags(&self.client, arn, &tags_of(cluster.tags()), &desired.tags).await?;
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("aws.eks.cluster {id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let Some(cluster) = self.describe(id).await? else {
            return Ok(());
        };
        // Already DELETING (an earlier run timed out): only the wait is left.
        if !is_deleting(&cluster) {
            gone(self.client.delete_cluster().name(id).send().await.map(|_| ()).eks("DeleteCluster"))?;
        }
        let result = self.client.wait_until_cluster_deleted().name(id).wait(minutes(DEFAULT_WAIT_MINUTES)).await;
        match waited("DescribeCluster", result)? {
            Waited::Reached => Ok(()),
            Waited::TimedOut => Err(still_deleting(&format!("aws.eks.cluster {id}"), "DELETING")),
            Waited::Failed(out) => {
                let status = out.cluster().and_then(|c| c.status()).map(|s| s.as_str().to_string()).unwrap_or_default();
                Err(ProviderError::Conflict(format!("aws.eks.cluster {id} is {status} instead of being deleted; another client may have recreated it")))
            }
        }
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let name = desired.name();
        let Some(found) = self.read(&name).await?.filter(|o| desired.owner.matches(&o.tags)) else { return Ok(None) };
        // A run that died during the long wait after CreateCluster left it CREATING: finish that wait.
        if cluster_status(&self.client, &name).await == "CREATING" {
            wait_cluster_active(&self.client, &name, wait_minutes(desired)?).await?;
            return self.read(&name).await;
        }
        Ok(Some(found))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => READ_ACTIONS,
            Operation::Create => CREATE_ACTIONS,
            Operation::Update => UPDATE_ACTIONS,
            Operation::Delete => DELETE_ACTIONS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eks_common::test_support::{client, desired, error};
    use aws_sdk_eks::operation::create_cluster::{CreateClusterError, CreateClusterOutput};
    use aws_sdk_eks::operation::delete_cluster::DeleteClusterOutput;
    use aws_sdk_eks::operation::describe_cluster::{DescribeClusterError, DescribeClusterOutput};
    use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
    use aws_sdk_eks::operation::tag_resource::TagResourceOutput;
    use aws_sdk_eks::operation::untag_resource::UntagResourceOutput;
    use aws_sdk_eks::operation::update_cluster_config::UpdateClusterConfigOutput;
    use aws_sdk_eks::operation::update_cluster_version::UpdateClusterVersionOutput;
    use aws_sdk_eks::types::error::{ResourceInUseException, ResourceNotFoundException};
    use aws_sdk_eks::types::{
        AccessConfigResponse, Certificate, ClusterHealth, ClusterIssue, ClusterIssueCode, ClusterStatus, ErrorCode, ErrorDetail, Identity, Oidc, Update,
        UpdateStatus, VpcConfigResponse,
    };
    use aws_smithy_mocks::mock;
    use cairn_engine::provider::Tags;
    use serde_json::Value;

    const NAME: &str = "shop-prod-cluster";
    const ARN: &str = "arn:aws:eks:us-east-1:111122223333:cluster/shop-prod-cluster";
    const ROLE: &str = "arn:aws:iam::111122223333:role/eks-cluster";

    fn props() -> Value {
        json!({
            "role_arn": ROLE, "version": "1.30", "subnet_ids": ["subnet-a", "subnet-b"], "security_group_ids": ["sg-1"],
            "endpoint_private_access": true, "endpoint_public_access": true, "public_access_cidrs": ["203.0.113.0/24"],
            "enabled_log_types": ["api", "audit"], "secrets_kms_key": "arn:aws:kms:us-east-1:111122223333:key/k",
            "access_config": { "authentication_mode": "API_AND_CONFIG_MAP", "bootstrap_cluster_creator_admin_permissions": false }
        })
    }

    fn cluster(status: ClusterStatus, tags: &Tags) -> Cluster {
        Cluster::builder()
            .name(NAME)
            .arn(ARN)
            .role_arn(ROLE)
            .version("1.30")
            .status(status)
            .endpoint("https://ABC.gr7.us-east-1.eks.amazonaws.com")
            .platform_version("eks.9")
            .certificate_authority(Certificate::builder().data("LS0tCA==").build())
            .identity(Identity::builder().oidc(Oidc::builder().issuer("https://oidc.eks.us-east-1.amazonaws.com/id/ABC").build()).build())
            .resources_vpc_config(
                VpcConfigResponse::builder()
                    .subnet_ids("subnet-b")
                    .subnet_ids("subnet-a")
                    .security_group_ids("sg-1")
                    .cluster_security_group_id("sg-cluster")
                    .endpoint_private_access(true)
                    .endpoint_public_access(true)
                    .public_access_cidrs("203.0.113.0/24")
                    .build(),
            )
            .logging(logging(&["audit".into(), "api".into()]))
            .encryption_config(secrets_encryption("arn:aws:kms:us-east-1:111122223333:key/k".into()))
            .access_config(
                AccessConfigResponse::builder()
                    .authentication_mode(AuthenticationMode::ApiAndConfigMap)
                    .bootstrap_cluster_creator_admin_permissions(false)
                    .build(),
            )
            .set_tags(Some(tags.clone().into_iter().collect()))
            .build()
    }

    fn describing(status: ClusterStatus, tags: Tags) -> DescribeClusterOutput {
        DescribeClusterOutput::builder().cluster(cluster(status, &tags)).build()
    }

    fn not_found() -> DescribeClusterError {
        DescribeClusterError::ResourceNotFoundException(
            ResourceNotFoundException::builder().message("No cluster found").meta(error("ResourceNotFoundException")).build(),
        )
    }

    fn update(status: UpdateStatus) -> Update {
        Update::builder().id("u-1").status(status).build()
    }

    fn assert_actions(actions: &[&str], operations: &[&str]) {
        for op in operations {
            assert!(actions.contains(&format!("eks:{op}").as_str()), "eks:{op} missing from {actions:?}");
        }
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        let with = |key: &str, bad: Value| {
            let mut p = props();
            p[key] = bad;
            p
        };
        for p in [
            json!({"subnet_ids": ["s"]}),
            json!({"role_arn": ROLE}),
            with("subnet_ids", json!([])),
            with("subnet_ids", json!("subnet-a")),
            with("role_arn", json!("")),
            with("enabled_log_types", json!(["kubelet"])),
            with("endpoint_public_access", json!("yes")),
            with("public_access_cidrs", json!(["203.0.113.0/24", 7])),
            with("access_config", json!({"authentication_mode": "IAM"})),
            with("access_config", json!({"authentication_mode": "API", "bootstrap": true})),
            with("access_config", json!({"bootstrap_cluster_creator_admin_permissions": "no"})),
            with("wait_timeout_minutes", json!(0)),
            with("wait_timeout_minutes", json!(100_000)),
            with("secrets_kms_key", json!(7)),
            json!({"role_arn": ROLE, "subnet_ids": ["s"], "endpoint_private_access": false}),
        ] {
            let d = desired(p.clone(), "cluster");
            assert!(create_input(&d).is_err(), "builder accepts {p}");
            assert!(crate::rds_common::test_support::schema_refuses(&SCHEMA, &d.props), "schema accepts {p}");
        }
    }

    #[test]
    fn public_access_cidrs_must_be_ipv4_blocks() {
        assert!(ipv4_cidrs(&json!(["0.0.0.0/0", "203.0.113.0/24"])).is_empty());
        for bad in ["203.0.113.0", "203.0.113.0/33", "2001:db8::/32", "a.b.c.d/8"] {
            assert!(!ipv4_cidrs(&json!([bad])).is_empty(), "{bad}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every props value the schema accepts (its rule that one endpoint is on included)
        /// becomes a CreateCluster request with values the SDK knows.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
            proptest::prop_assume!(crate::schema_check::rules_pass(&SCHEMA, &props));
            let input = create_input(&desired(Value::Object(props), "cluster"));
            proptest::prop_assert!(input.is_ok(), "{:?}", input.err());
            let input = input.unwrap();
            proptest::prop_assert!(input.resources_vpc_config.as_ref().is_some_and(|v| !v.subnet_ids().is_empty()));
            for setup in input.logging.as_ref().map(|l| l.cluster_logging()).unwrap_or_default() {
                proptest::prop_assert!(setup.types().iter().all(|t| LogType::values().contains(&t.as_str())));
            }
            if let Some(mode) = input.access_config.as_ref().and_then(|a| a.authentication_mode()) {
                proptest::prop_assert!(AuthenticationMode::values().contains(&mode.as_str()));
            }
        }
    }

    #[tokio::test]
    async fn create_sends_everything_in_one_call_then_waits_for_active() {
        let d = desired(props(), "cluster");
        let tags = d.tags.clone();
        let create = mock!(Client::create_cluster)
            .match_requests(|r| {
                let vpc = r.resources_vpc_config().unwrap();
                let tags = r.tags().unwrap();
                let logging = r.logging().unwrap().cluster_logging();
                let enabled: Vec<&str> = logging.iter().filter(|s| s.enabled() == Some(true)).flat_map(|s| s.types().iter().map(|t| t.as_str())).collect();
                let disabled: Vec<&str> = logging.iter().filter(|s| s.enabled() == Some(false)).flat_map(|s| s.types().iter().map(|t| t.as_str())).collect();
                r.name() == Some(NAME)
                    && r.role_arn() == Some(ROLE)
                    && r.version() == Some("1.30")
                    && r.client_request_token() == Some("token-1")
                    && vpc.subnet_ids() == ["subnet-a", "subnet-b"]
                    && vpc.security_group_ids() == ["sg-1"]
                    && vpc.endpoint_private_access() == Some(true)
                    && vpc.endpoint_public_access() == Some(true)
                    && vpc.public_access_cidrs() == ["203.0.113.0/24"]
                    && enabled == ["api", "audit"]
                    && disabled == ["authenticator", "controllerManager", "scheduler"]
                    && r.encryption_config()[0].provider().and_then(|p| p.key_arn()) == Some("arn:aws:kms:us-east-1:111122223333:key/k")
                    && r.access_config().and_then(|a| a.authentication_mode()) == Some(&AuthenticationMode::ApiAndConfigMap)
                    && r.access_config().and_then(|a| a.bootstrap_cluster_creator_admin_permissions()) == Some(false)
                    && tags.get("cairn:address").map(String::as_str) == Some("cluster")
                    && tags.get("team").map(String::as_str) == Some("platform")
            })
            .then_output(|| CreateClusterOutput::builder().build());
        let t = tags.clone();
        let describe = mock!(Client::describe_cluster)
            .sequence()
            .output({
                let t = t.clone();
                move || describing(ClusterStatus::Creating, t.clone())
            })
            .times(2)
            .output(move || describing(ClusterStatus::Active, t.clone()))
            .repeatedly()
            .build();

        let observed = EksCluster::from_client(client(&[&create, &describe])).create(&d).await.unwrap();

        assert_eq!(create.num_calls(), 1);
        assert!(describe.num_calls() >= 3, "waited through CREATING");
        assert_eq!(observed.id, NAME);
        assert_eq!(observed.tags, tags);
        for (name, value) in &d.props {
            assert_eq!(observed.props.get(name), Some(value), "{name} reads back as written");
        }
        assert_eq!(observed.props["name"], json!(NAME));
        assert_eq!(observed.attrs["oidc_issuer_url"], json!("https://oidc.eks.us-east-1.amazonaws.com/id/ABC"));
        assert_eq!(observed.attrs["cluster_security_group_id"], json!("sg-cluster"));
        assert_eq!(observed.attrs["certificate_authority"], json!("LS0tCA=="));
        assert_actions(CREATE_ACTIONS, &["CreateCluster", "DescribeCluster", "TagResource"]);
    }

    #[tokio::test]
    async fn create_that_stays_creating_times_out_as_retryable() {
        let create = mock!(Client::create_cluster).then_output(|| CreateClusterOutput::builder().build());
        let describe = mock!(Client::describe_cluster).then_output(|| describing(ClusterStatus::Creating, Tags::new()));
        let mut props = props();
        props["wait_timeout_minutes"] = json!(2);
        let result = EksCluster::from_client(client(&[&create, &describe])).create(&desired(props, "cluster")).await;
        match result {
            Err(ProviderError::Retryable(m)) => {
                assert!(m.contains(NAME) && m.contains("still CREATING after 2 minutes") && m.contains("wait_timeout_minutes"), "{m}")
            }
            other => panic!("expected a retryable timeout, got {other:?}"),
        }
        assert!(describe.num_calls() >= 2);
    }

    #[tokio::test]
    async fn create_that_fails_is_fatal_and_names_the_cluster() {
        let create = mock!(Client::create_cluster).then_output(|| CreateClusterOutput::builder().build());
        let describe = mock!(Client::describe_cluster).sequence().output(|| describing(ClusterStatus::Creating, Tags::new())).output(|| {
            let mut c = cluster(ClusterStatus::Failed, &Tags::new());
            c.health =
                Some(ClusterHealth::builder().issues(ClusterIssue::builder().code(ClusterIssueCode::IamRoleNotFound).message("role is gone").build()).build());
            DescribeClusterOutput::builder().cluster(c).build()
        });
        let describe = describe.build();
        let result = EksCluster::from_client(client(&[&create, &describe])).create(&desired(props(), "cluster")).await;
        match result {
            Err(ProviderError::Fatal(m)) => assert!(m.contains(NAME) && m.contains("FAILED") && m.contains("role is gone"), "{m}"),
            other => panic!("expected a fatal error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn invalid_props_fail_before_any_call() {
        let kind = EksCluster::from_client(client(&[]));
        for bad in [
            json!({"role_arn": ROLE, "subnet_ids": ["s"], "enabled_log_types": ["kubelet"]}),
            json!({"role_arn": ROLE, "subnet_ids": ["s"], "endpoint_private_access": false, "endpoint_public_access": false}),
            json!({"role_arn": ROLE, "subnet_ids": []}),
            json!({"subnet_ids": ["s"]}),
            json!({"role_arn": ROLE, "subnet_ids": ["s"], "wait_timeout_minutes": 0}),
        ] {
            assert!(matches!(kind.create(&desired(bad.clone(), "cluster")).await, Err(ProviderError::Invalid(_))), "{bad}");
        }
    }

    #[tokio::test]
    async fn read_of_missing_or_deleting_cluster_is_none() {
        let missing = mock!(Client::describe_cluster).then_error(not_found);
        assert_eq!(EksCluster::from_client(client(&[&missing])).read(NAME).await.unwrap(), None);
        let deleting = mock!(Client::describe_cluster).then_output(|| describing(ClusterStatus::Deleting, Tags::new()));
        assert_eq!(EksCluster::from_client(client(&[&deleting])).read(NAME).await.unwrap(), None);
    }

    #[tokio::test]
    async fn read_normalises_lists() {
        let describe = mock!(Client::describe_cluster).then_output(|| describing(ClusterStatus::Active, Tags::new()));
        let o = EksCluster::from_client(client(&[&describe])).read(NAME).await.unwrap().unwrap();
        assert_eq!(o.props["subnet_ids"], json!(["subnet-a", "subnet-b"]));
        assert_eq!(o.props["enabled_log_types"], json!(["api", "audit"]));
        assert_eq!(o.attrs["arn"], json!(ARN));
    }

    #[tokio::test]
    async fn delete_of_missing_cluster_is_ok() {
        let missing = mock!(Client::describe_cluster).then_error(not_found);
        EksCluster::from_client(client(&[&missing])).delete(NAME).await.unwrap();
    }

    #[tokio::test]
    async fn delete_waits_until_gone() {
        let describe = mock!(Client::describe_cluster)
            .sequence()
            .output(|| describing(ClusterStatus::Active, Tags::new()))
            .output(|| describing(ClusterStatus::Deleting, Tags::new()))
            .times(2)
            .error(not_found)
            .build();
        let delete = mock!(Client::delete_cluster).match_requests(|r| r.name() == Some(NAME)).then_output(|| DeleteClusterOutput::builder().build());
        EksCluster::from_client(client(&[&describe, &delete])).delete(NAME).await.unwrap();
        assert_eq!(delete.num_calls(), 1);
        assert_eq!(describe.num_calls(), 4);
        assert_actions(DELETE_ACTIONS, &["DescribeCluster", "DeleteCluster"]);
    }

    #[tokio::test]
    async fn delete_of_a_cluster_already_deleting_only_waits() {
        // No DeleteCluster rule: calling it would fail the test.
        let describe = mock!(Client::describe_cluster).sequence().output(|| describing(ClusterStatus::Deleting, Tags::new())).times(2).error(not_found).build();
        EksCluster::from_client(client(&[&describe])).delete(NAME).await.unwrap();
    }

    #[tokio::test]
    async fn delete_that_never_finishes_is_retryable() {
        let describe = mock!(Client::describe_cluster).then_output(|| describing(ClusterStatus::Deleting, Tags::new()));
        let result = EksCluster::from_client(client(&[&describe])).delete(NAME).await;
        assert!(matches!(&result, Err(ProviderError::Retryable(m)) if m.contains("still DELETING")), "{result:?}");
    }

    #[tokio::test]
    async fn version_upgrade_waits_for_the_update() {
        let upgrade = mock!(Client::update_cluster_version)
            .match_requests(|r| r.name() == Some(NAME) && r.version() == Some("1.31"))
            .then_output(|| UpdateClusterVersionOutput::builder().update(update(UpdateStatus::InProgress)).build());
        let poll = mock!(Client::describe_update)
            .match_requests(|r| r.name() == Some(NAME) && r.update_id() == Some("u-1") && r.nodegroup_name().is_none())
            .sequence()
            .output(|| DescribeUpdateOutput::builder().update(update(UpdateStatus::InProgress)).build())
            .times(3)
            .output(|| DescribeUpdateOutput::builder().update(update(UpdateStatus::Successful)).build())
            .build();
        let describe = mock!(Client::describe_cluster).then_output(|| describing(ClusterStatus::Active, Tags::new()));
        let mut p = props();
        p["version"] = json!("1.31");
        EksCluster::from_client(client(&[&upgrade, &poll, &describe])).update(NAME, &desired(p, "cluster"), &["version".into()]).await.unwrap();
        assert_eq!((upgrade.num_calls(), poll.num_calls()), (1, 4));
        assert_actions(UPDATE_ACTIONS, &["UpdateClusterVersion", "DescribeUpdate", "DescribeCluster"]);
    }

    #[tokio::test]
    async fn failed_update_is_fatal_with_its_errors() {
        let upgrade =
            mock!(Client::update_cluster_version).then_output(|| UpdateClusterVersionOutput::builder().update(update(UpdateStatus::InProgress)).build());
        let poll = mock!(Client::describe_update).then_output(|| {
            let u = Update::builder()
                .id("u-1")
                .status(UpdateStatus::Failed)
                .errors(ErrorDetail::builder().error_code(ErrorCode::InsufficientFreeAddresses).error_message("no IPs left").build())
                .build();
            DescribeUpdateOutput::builder().update(u).build()
        });
        let mut p = props();
        p["version"] = json!("1.31");
        let result = EksCluster::from_client(client(&[&upgrade, &poll])).update(NAME, &desired(p, "cluster"), &["version".into()]).await;
        assert!(matches!(&result, Err(ProviderError::Fatal(m)) if m.contains("no IPs left") && m.contains("Failed")), "{result:?}");
    }

    #[tokio::test]
    async fn update_that_never_finishes_is_retryable() {
        let config = mock!(Client::update_cluster_config).then_output(|| UpdateClusterConfigOutput::builder().update(update(UpdateStatus::InProgress)).build());
        let poll = mock!(Client::describe_update).then_output(|| DescribeUpdateOutput::builder().update(update(UpdateStatus::InProgress)).build());
        let mut p = props();
        p["wait_timeout_minutes"] = json!(1);
        let result = EksCluster::from_client(client(&[&config, &poll])).update(NAME, &desired(p, "cluster"), &["enabled_log_types".into()]).await;
        assert!(matches!(&result, Err(ProviderError::Retryable(m)) if m.contains("still InProgress after 1 minutes")), "{result:?}");
    }

    #[tokio::test]
    async fn endpoint_access_and_logging_are_separate_updates() {
        let endpoint = mock!(Client::update_cluster_config)
            .match_requests(|r| {
                r.logging().is_none()
                    && r.resources_vpc_config()
                        .is_some_and(|v| v.endpoint_public_access() == Some(false) && v.endpoint_private_access() == Some(true) && v.subnet_ids().is_empty())
            })
            .then_output(|| UpdateClusterConfigOutput::builder().update(update(UpdateStatus::Successful)).build());
        let logs = mock!(Client::update_cluster_config)
            .match_requests(|r| {
                let enabled: Vec<&str> = r
                    .logging()
                    .map(|l| l.cluster_logging())
                    .unwrap_or_default()
                    .iter()
                    .filter(|s| s.enabled() == Some(true))
                    .flat_map(|s| s.types().iter().map(|t| t.as_str()))
                    .collect();
                r.resources_vpc_config().is_none() && enabled == ["scheduler"]
            })
            // No update in the answer (as moto answers): the cluster is waited for instead.
            .then_output(|| UpdateClusterConfigOutput::builder().build());
        let describe = mock!(Client::describe_cluster).then_output(|| describing(ClusterStatus::Active, Tags::new()));
        let d = desired(json!({"role_arn": ROLE, "subnet_ids": ["s"], "endpoint_public_access": false, "enabled_log_types": ["scheduler"]}), "cluster");
        let changed = ["endpoint_public_access".to_string(), "enabled_log_types".to_string()];
        EksCluster::from_client(client(&[&endpoint, &logs, &describe])).update(NAME, &d, &changed).await.unwrap();
        assert_eq!((endpoint.num_calls(), logs.num_calls()), (1, 1));
        assert!(describe.num_calls() >= 2, "the cluster was waited for, then read");
    }

    #[tokio::test]
    async fn authentication_mode_moves_forward_only_and_bootstrap_is_create_only() {
        // The described cluster is API_AND_CONFIG_MAP with bootstrap false.
        let to_api = mock!(Client::update_cluster_config)
            .match_requests(|r| r.access_config().and_then(|a| a.authentication_mode()) == Some(&AuthenticationMode::Api) && r.logging().is_none())
            .then_output(|| UpdateClusterConfigOutput::builder().build());
        let describe = mock!(Client::describe_cluster).then_output(|| describing(ClusterStatus::Active, Tags::new()));
        let changed = ["access_config".to_string()];
        let access = |mode: &str, bootstrap: bool| {
            desired(json!({"role_arn": ROLE, "subnet_ids": ["s"], "access_config": { "authentication_mode": mode, BOOTSTRAP: bootstrap }}), "cluster")
        };
        EksCluster::from_client(client(&[&to_api, &describe])).update(NAME, &access("API", false), &changed).await.unwrap();
        assert_eq!(to_api.num_calls(), 1);

        let refused = mock!(Client::update_cluster_config).then_output(|| UpdateClusterConfigOutput::builder().build());
        let kind = EksCluster::from_client(client(&[&refused, &describe]));
        let back = kind.update(NAME, &access("CONFIG_MAP", false), &changed).await.unwrap_err().to_string();
        assert!(back.contains("can only move CONFIG_MAP -> API_AND_CONFIG_MAP -> API"), "{back}");
        let flag = kind.update(NAME, &access("API_AND_CONFIG_MAP", true), &changed).await.unwrap_err().to_string();
        assert!(flag.contains("set when the cluster is created"), "{flag}");
        assert_eq!(refused.num_calls(), 0);
    }

    #[test]
    fn a_cluster_reported_without_access_config_reads_as_config_map() {
        let mut c = cluster(ClusterStatus::Active, &Tags::new());
        c.access_config = None;
        assert_eq!(observed(&c).props["access_config"], json!({ "authentication_mode": "CONFIG_MAP", BOOTSTRAP: true }));
    }

    #[tokio::test]
    async fn tags_are_synced_with_tag_and_untag() {
        let describe = mock!(Client::describe_cluster)
            .then_output(|| describing(ClusterStatus::Active, Tags::from([("old".to_string(), "x".to_string()), ("team".to_string(), "other".to_string())])));
        let tag = mock!(Client::tag_resource)
            .match_requests(|r| {
                r.resource_arn() == Some(ARN)
                    && r.tags().is_some_and(|t| t.get("team").map(String::as_str) == Some("platform") && t.contains_key("cairn:stack"))
            })
            .then_output(|| TagResourceOutput::builder().build());
        let untag = mock!(Client::untag_resource).match_requests(|r| r.tag_keys() == ["old"]).then_output(|| UntagResourceOutput::builder().build());
        EksCluster::from_client(client(&[&describe, &tag, &untag])).update(NAME, &desired(props(), "cluster"), &["tags".into()]).await.unwrap();
        assert_eq!((tag.num_calls(), untag.num_calls()), (1, 1));
        assert_actions(UPDATE_ACTIONS, &["TagResource", "UntagResource"]);
    }

    #[tokio::test]
    async fn find_owned_checks_ownership_tags() {
        let d = desired(props(), "cluster");
        let theirs =
            mock!(Client::describe_cluster).then_output(|| describing(ClusterStatus::Active, Tags::from([("cairn:stack".to_string(), "other".to_string())])));
        assert_eq!(EksCluster::from_client(client(&[&theirs])).find_owned(&d).await.unwrap(), None);
        let (creating, active) = (d.tags.clone(), d.tags.clone());
        let ours = mock!(Client::describe_cluster)
            .match_requests(|r| r.name() == Some(NAME))
            .sequence()
            .output(move || describing(ClusterStatus::Creating, creating.clone()))
            .times(3)
            .output(move || describing(ClusterStatus::Active, active.clone()))
            .repeatedly()
            .build();
        let found = EksCluster::from_client(client(&[&ours])).find_owned(&d).await.unwrap();
        assert!(found.is_some());
        assert!(ours.num_calls() >= 4, "a cluster left CREATING by a killed run is waited for");
    }

    #[tokio::test]
    async fn create_answered_resource_in_use_adopts_our_cluster_and_refuses_another() {
        let d = desired(props(), "cluster");
        let in_use = mock!(Client::create_cluster).then_error(|| {
            CreateClusterError::ResourceInUseException(
                ResourceInUseException::builder().message("Cluster already exists").meta(error("ResourceInUseException")).build(),
            )
        });
        let tags = d.tags.clone();
        let ours = mock!(Client::describe_cluster).then_output(move || describing(ClusterStatus::Active, tags.clone()));
        assert_eq!(EksCluster::from_client(client(&[&in_use, &ours])).create(&d).await.map(|o| o.id), Ok(NAME.to_string()));
        let theirs = mock!(Client::describe_cluster).then_output(|| describing(ClusterStatus::Active, Tags::new()));
        crate::adopt::testing::assert_refused(EksCluster::from_client(client(&[&in_use, &theirs])).create(&d).await, &format!("EKS cluster {NAME}"));
    }

    #[test]
    fn every_operation_lists_read() {
        for action in READ_ACTIONS {
            assert!(CREATE_ACTIONS.contains(action) && UPDATE_ACTIONS.contains(action), "{action}");
        }
    }
}
