//! The stack's props for one node group as request values, and DescribeNodegroup output in the stack's shape.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_eks::types::{AmiTypes, CapacityTypes, LaunchTemplateSpecification, Nodegroup, NodegroupUpdateConfig, Taint, TaintEffect};
use cairn_engine::provider::{Desired, Observed, Props, ProviderError, Tags};
use serde_json::{json, Map, Value};

use super::schema::SCHEMA;
use crate::eks_common::{int, invalid, required_string, sorted_json, string, string_list, string_map, tags_of, value, wait_minutes};

/// One taint; ordered by key, then effect, as read reports them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct TaintSpec {
    pub(super) key: String,
    pub(super) effect: String,
    pub(super) value: Option<String>,
}

impl TaintSpec {
    pub(super) fn json(&self) -> Value {
        let mut m = Map::new();
        m.insert("key".into(), json!(self.key));
        if let Some(v) = &self.value {
            m.insert("value".into(), json!(v));
        }
        m.insert("effect".into(), json!(self.effect));
        Value::Object(m)
    }

    pub(super) fn sdk(&self) -> Taint {
        Taint::builder().key(&self.key).set_value(self.value.clone()).effect(TaintEffect::from(self.effect.as_str())).build()
    }

    pub(super) fn from_sdk(t: &Taint) -> TaintSpec {
        TaintSpec {
            key: t.key().unwrap_or_default().to_string(),
            effect: t.effect().map(|e| e.as_str().to_string()).unwrap_or_default(),
            value: t.value().filter(|v| !v.is_empty()).map(str::to_string),
        }
    }
}

/// The desired taints (their shape and uniqueness checked by the schema), in read's order.
pub(super) fn taints(desired: &Desired) -> Vec<TaintSpec> {
    let items = match value(&SCHEMA, desired, "taints") {
        Some(Value::Array(items)) => items,
        _ => vec![],
    };
    let taints: BTreeSet<TaintSpec> = items
        .iter()
        .filter_map(|t| {
            Some(TaintSpec {
                key: t.get("key")?.as_str()?.to_string(),
                effect: t.get("effect")?.as_str()?.to_string(),
                // An empty value is no value: that is how EKS reports it.
                value: t.get("value").and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_string),
            })
        })
        .collect();
    taints.into_iter().collect()
}

/// min, max and (when set) desired; their order is the schema's rule `sizes_in_order`,
/// which `schema_check::check` ran before this.
pub(super) fn scaling(desired: &Desired) -> Result<(i32, i32, Option<i32>), ProviderError> {
    let min = int(&SCHEMA, desired, "min_size")?.ok_or_else(|| invalid(&SCHEMA, "min_size is required"))?;
    let max = int(&SCHEMA, desired, "max_size")?.ok_or_else(|| invalid(&SCHEMA, "max_size is required"))?;
    let want = int(&SCHEMA, desired, "desired_size")?;
    Ok((min, max, want))
}

/// DescribeNodegroup reports a launch template's id and name together; the stack gives one
/// of them, and this tag says which, so read reports the template in the stack's shape.
pub(super) const LAUNCH_TEMPLATE_KEY_TAG: &str = "cairn:launch-template-key";

/// The launch template the stack names (by `id` or by `name`) and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LaunchTemplate {
    /// "id" or "name": the key the stack used.
    pub(super) key: &'static str,
    pub(super) value: String,
    pub(super) version: String,
}

impl LaunchTemplate {
    fn from(v: &Value) -> Option<LaunchTemplate> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let (key, value) = match (text("id"), text("name")) {
            (Some(id), _) => ("id", id),
            (None, Some(name)) => ("name", name),
            (None, None) => return None,
        };
        Some(LaunchTemplate { key, value, version: text("version")? })
    }

    pub(super) fn sdk(&self) -> LaunchTemplateSpecification {
        let b = LaunchTemplateSpecification::builder().version(&self.version);
        if self.key == "id" {
            b.id(&self.value).build()
        } else {
            b.name(&self.value).build()
        }
    }

    /// Whether the node group runs this template (by the key the stack used), any version.
    pub(super) fn same_template(&self, have: &LaunchTemplateSpecification) -> bool {
        let have = if self.key == "id" { have.id() } else { have.name() };
        have == Some(self.value.as_str())
    }
}

/// The update_config's one limit as the SDK's type.
fn update_config(v: &Value) -> NodegroupUpdateConfig {
    let int = |k: &str| v.get(k).and_then(Value::as_i64).and_then(|n| i32::try_from(n).ok());
    NodegroupUpdateConfig::builder().set_max_unavailable(int("max_unavailable")).set_max_unavailable_percentage(int("max_unavailable_percentage")).build()
}

/// What CreateNodegroup is sent, checked against the schema before any call (values known
/// only at apply were not checked at validate).
#[derive(Debug)]
pub(super) struct Spec {
    pub(super) cluster: String,
    pub(super) name: String,
    pub(super) role: String,
    pub(super) subnets: Vec<String>,
    pub(super) min: i32,
    pub(super) max: i32,
    pub(super) want: Option<i32>,
    pub(super) labels: std::collections::HashMap<String, String>,
    pub(super) taints: Vec<TaintSpec>,
    pub(super) capacity: CapacityTypes,
    pub(super) disk: Option<i32>,
    pub(super) ami: Option<AmiTypes>,
    pub(super) instance_types: Option<Vec<String>>,
    pub(super) version: Option<String>,
    pub(super) release_version: Option<String>,
    pub(super) launch_template: Option<LaunchTemplate>,
    pub(super) update_config: Option<NodegroupUpdateConfig>,
    pub(super) wait: u64,
}

impl Spec {
    pub(super) fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let (min, max, want) = scaling(desired)?;
        Ok(Spec {
            cluster: required_string(&SCHEMA, desired, "cluster_name")?,
            name: desired.name(),
            role: required_string(&SCHEMA, desired, "node_role_arn")?,
            subnets: string_list(&SCHEMA, desired, "subnet_ids")?.unwrap_or_default(),
            min,
            max,
            want,
            labels: string_map(&SCHEMA, desired, "labels")?.unwrap_or_default(),
            taints: taints(desired),
            capacity: CapacityTypes::from(string(&SCHEMA, desired, "capacity_type")?.unwrap_or_default().as_str()),
            disk: int(&SCHEMA, desired, "disk_size")?,
            ami: string(&SCHEMA, desired, "ami_type")?.as_deref().map(AmiTypes::from),
            instance_types: string_list(&SCHEMA, desired, "instance_types")?,
            version: string(&SCHEMA, desired, "version")?,
            release_version: string(&SCHEMA, desired, "release_version")?,
            launch_template: value(&SCHEMA, desired, "launch_template").as_ref().and_then(LaunchTemplate::from),
            update_config: value(&SCHEMA, desired, "update_config").as_ref().map(update_config),
            wait: wait_minutes(desired)?,
        })
    }

    /// The stack's tags and cairn's own: which key names the launch template.
    pub(super) fn tags(&self, desired: &Desired) -> Tags {
        let mut tags = desired.tags.clone();
        if let Some(t) = &self.launch_template {
            tags.insert(LAUNCH_TEMPLATE_KEY_TAG.into(), t.key.into());
        }
        tags
    }
}

pub(super) fn node_group_id(cluster: &str, name: &str) -> String {
    format!("{cluster}:{name}")
}

pub(super) fn status_of(ng: &Nodegroup) -> &str {
    ng.status().map(|s| s.as_str()).unwrap_or("in an unknown state")
}

pub(super) fn health_of(ng: &Nodegroup) -> String {
    let issues: Vec<String> = ng
        .health()
        .map(|h| h.issues().iter().map(|i| format!("{}: {}", i.code().map(|c| c.as_str()).unwrap_or("issue"), i.message().unwrap_or_default())).collect())
        .unwrap_or_default();
    if issues.is_empty() {
        String::new()
    } else {
        format!(" ({})", issues.join("; "))
    }
}

/// DescribeNodegroup output in the stack's shape.
pub(super) fn observed(ng: &Nodegroup) -> Observed {
    let cluster = ng.cluster_name().unwrap_or_default();
    let name = ng.nodegroup_name().unwrap_or_default();
    let mut props = Props::new();
    props.insert("cluster_name".into(), json!(cluster));
    props.insert("name".into(), json!(name));
    props.insert("node_role_arn".into(), json!(ng.node_role().unwrap_or_default()));
    props.insert("subnet_ids".into(), sorted_json(ng.subnets()));
    props.insert("instance_types".into(), sorted_json(ng.instance_types()));
    if let Some(c) = ng.capacity_type() {
        props.insert("capacity_type".into(), json!(c.as_str()));
    }
    if let Some(a) = ng.ami_type() {
        props.insert("ami_type".into(), json!(a.as_str()));
    }
    if let Some(d) = ng.disk_size() {
        props.insert("disk_size".into(), json!(d));
    }
    if let Some(s) = ng.scaling_config() {
        for (prop, v) in [("desired_size", s.desired_size()), ("min_size", s.min_size()), ("max_size", s.max_size())] {
            if let Some(v) = v {
                props.insert(prop.into(), json!(v));
            }
        }
    }
    let labels: BTreeMap<&String, &String> = ng.labels().map(|l| l.iter().collect()).unwrap_or_default();
    props.insert("labels".into(), json!(labels));
    let taints: BTreeSet<TaintSpec> = ng.taints().iter().map(TaintSpec::from_sdk).collect();
    props.insert("taints".into(), Value::Array(taints.iter().map(TaintSpec::json).collect()));
    if let Some(v) = ng.version() {
        props.insert("version".into(), json!(v));
    }
    if let Some(v) = ng.release_version() {
        props.insert("release_version".into(), json!(v));
    }
    let mut tags = tags_of(ng.tags());
    let key = tags.remove(LAUNCH_TEMPLATE_KEY_TAG);
    if let Some(t) = ng.launch_template() {
        let mut m = Map::new();
        // A node group cairn did not make reports its template by id.
        match (key.as_deref(), t.id(), t.name()) {
            (Some("name"), _, Some(name)) | (_, None, Some(name)) => m.insert("name".into(), json!(name)),
            (_, Some(id), _) => m.insert("id".into(), json!(id)),
            _ => None,
        };
        if let Some(v) = t.version() {
            m.insert("version".into(), json!(v));
        }
        props.insert("launch_template".into(), Value::Object(m));
    }
    if let Some(u) = ng.update_config() {
        let mut m = Map::new();
        if let Some(n) = u.max_unavailable() {
            m.insert("max_unavailable".into(), json!(n));
        }
        if let Some(n) = u.max_unavailable_percentage() {
            m.insert("max_unavailable_percentage".into(), json!(n));
        }
        props.insert("update_config".into(), Value::Object(m));
    }

    let mut attrs = Props::new();
    attrs.insert("arn".into(), json!(ng.nodegroup_arn().unwrap_or_default()));
    attrs.insert("status".into(), json!(status_of(ng)));
    Observed { id: node_group_id(cluster, name), props, attrs, tags }
}
