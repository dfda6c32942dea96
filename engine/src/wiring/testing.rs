//! Test support for the wiring rules: compiles a fixture stack against stand-in schemas of the AWS kinds (the real ones live in `cairn-resources`).

use serde_json::Value;

use crate::compile::{compile, CompileOptions};
use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::ResourceGraph;
use crate::provider::{PropSpec, PropType, ResourceSchema, SchemaSource};
use crate::source::SourceFile;

const fn p(name: &'static str, ty: PropType) -> PropSpec {
    PropSpec::new(name, ty, "")
}

const ATTRS: &[&str] = &["arn", "url", "key_id", "name", "bucket", "endpoint", "oidc_issuer_url", "cluster_security_group_id"];

macro_rules! kind {
    ($kind:literal, [$($prop:expr),* $(,)?]) => {
        ResourceSchema { kind: $kind, doc: "", props: &[$($prop),*], attrs: ATTRS, taggable: true, rules: &[] }
    };
}

use PropType::{Bool, Int, Object, Policy, String as Str, StringList};

static SCHEMAS: &[ResourceSchema] = &[
    kind!(
        "aws.kms.key",
        [p("description", Str), p("key_usage", Str), p("key_spec", Str), p("enable_key_rotation", Bool), p("policy", Policy), p("alias", Str)]
    ),
    kind!(
        "aws.sqs.queue",
        [
            p("name", Str),
            p("fifo_queue", Bool),
            p("message_retention_seconds", Int),
            p("visibility_timeout_seconds", Int),
            p("kms_key", Str),
            p("redrive", Object),
            p("policy", Policy)
        ]
    ),
    kind!("aws.sns.topic", [p("name", Str), p("fifo_topic", Bool), p("display_name", Str), p("kms_key", Str), p("policy", Policy)]),
    kind!("aws.sns.subscription", [p("topic", Str), p("protocol", Str), p("endpoint", Str), p("raw_message_delivery", Bool), p("filter_policy", Object)]),
    kind!(
        "aws.s3.bucket",
        [
            p("bucket", Str),
            p("versioning", Bool),
            p("sse", Object),
            p("block_public_access", Bool),
            p("lifecycle_rules", Object),
            p("policy", Policy),
            p("force_destroy", Bool),
            p("logging", Object),
            p("replication_configuration", Object)
        ]
    ),
    kind!(
        "aws.iam.role",
        [
            p("name", Str),
            p("description", Str),
            p("path", Str),
            p("max_session_duration", Int),
            p("assume_role_policy", Policy),
            p("managed_policy_arns", StringList),
            p("inline_policies", Object),
            p("permissions_boundary", Str)
        ]
    ),
    kind!("aws.wafv2.logging_configuration", [p("web_acl_arn", Str), p("log_destination_arns", StringList)]),
    kind!(
        "aws.eks.cluster",
        [
            p("name", Str),
            p("role_arn", Str),
            p("version", Str),
            p("subnet_ids", StringList),
            p("endpoint_private_access", Bool),
            p("endpoint_public_access", Bool),
            p("public_access_cidrs", StringList),
            p("enabled_log_types", StringList),
            p("secrets_kms_key", Str),
            p("access_config", Object),
        ]
    ),
    kind!("aws.eks.access_entry", [p("cluster_name", Str), p("principal_arn", Str), p("access_policies", Object)]),
    kind!("aws.eks.addon", [p("cluster_name", Str), p("addon_name", Str), p("pod_identity_association", Object)]),
    kind!("aws.eks.pod_identity_association", [p("cluster_name", Str), p("namespace", Str), p("service_account", Str), p("role_arn", Str)]),
    kind!("aws.ec2.subnet", [p("vpc_id", Str), p("cidr_block", Str), p("availability_zone", Str), p("map_public_ip_on_launch", Bool)]),
    kind!("aws.rds.subnet_group", [p("subnet_ids", StringList)]),
    kind!(
        "aws.eks.nodegroup",
        [
            p("name", Str),
            p("cluster_name", Str),
            p("node_role_arn", Str),
            p("subnet_ids", StringList),
            p("instance_types", StringList),
            p("capacity_type", Str),
            p("min_size", Int),
            p("max_size", Int),
            p("desired_size", Int),
            p("labels", Object),
            p("taints", Object),
            p("version", Str),
            p("release_version", Str),
            p("launch_template", Object),
            p("update_config", Object)
        ]
    ),
    kind!("aws.rds.instance", [p("monitoring_interval", Int), p("monitoring_role_arn", Str)]),
    kind!(
        "aws.cloudwatch.metric_alarm",
        [p("alarm_name", Str), p("alarm_actions", StringList), p("ok_actions", StringList), p("insufficient_data_actions", StringList)]
    ),
    kind!("aws.cloudtrail.trail", [p("name", Str), p("s3_bucket_name", Str), p("s3_key_prefix", Str), p("is_multi_region_trail", Bool), p("kms_key_id", Str)]),
];

pub(crate) struct Schemas;

impl SchemaSource for Schemas {
    fn schema_of(&self, kind: &str) -> Option<&'static ResourceSchema> {
        SCHEMAS.iter().find(|s| s.kind == kind)
    }
    fn all_schemas(&self) -> Vec<&'static ResourceSchema> {
        SCHEMAS.iter().collect()
    }
}

/// What compiling a fixture gave: the graph when it compiled, and every diagnostic.
pub(crate) struct Outcome {
    pub graph: Option<ResourceGraph>,
    pub diags: Vec<Diagnostic>,
    pub file: SourceFile,
}

impl Outcome {
    /// The codes of the diagnostics, in order.
    pub fn codes(&self) -> Vec<&'static str> {
        self.diags.iter().map(|d| d.code).collect()
    }
    /// The diagnostics as the binary prints them.
    pub fn rendered(&self) -> String {
        self.diags.iter().map(|d| d.render(&self.file)).collect()
    }
    /// A resource's compiled props.
    pub fn props(&self, address: &str) -> Value {
        let g = self.graph.as_ref().unwrap_or_else(|| panic!("did not compile:\n{}", self.rendered()));
        Value::Object(g.nodes.get(address).unwrap_or_else(|| panic!("no {address}")).props.clone())
    }
    /// The statement with this Sid in a resource's policy-holding property.
    pub fn statement(&self, address: &str, prop: &str, sid: &str) -> Option<Value> {
        super::statements(self.props(address).get(prop)).into_iter().find(|s| s.get("Sid").and_then(Value::as_str) == Some(sid))
    }
}

/// Compiles `engine/tests/fixtures/wiring/<name>.yaml` for env `dev`, account 111122223333.
pub(crate) fn fixture(name: &str) -> Outcome {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wiring").join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = SourceFile::new(format!("wiring/{name}.yaml"), text);
    let opts = CompileOptions { env: "dev".into(), caller_account: Some("111122223333".into()), ..CompileOptions::default() };
    // The graph is kept even when a rule refuses, to show what the other rules completed.
    let root = crate::yaml::parse(&file.text).unwrap_or_else(|d| panic!("{name}: {d:?}"));
    let mut diags = Diagnostics::default();
    let spec = crate::spec::read_stack(&root, &mut diags).unwrap_or_else(|| panic!("{name}: {:?}", diags.0));
    let graph = compile(&spec, &file, &opts, &Schemas, &mut diags);
    Outcome { graph: Some(graph), diags: diags.sorted().0, file }
}
