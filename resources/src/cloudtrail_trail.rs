//! `aws.cloudtrail.trail`: a CloudTrail trail delivering API activity to an S3 bucket, with its logging switch, log file validation and KMS key.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_cloudtrail::error::ProvideErrorMetadata;
use aws_sdk_cloudtrail::operation::update_trail::builders::UpdateTrailFluentBuilder;
use aws_sdk_cloudtrail::types::{Tag, Trail};
use aws_sdk_cloudtrail::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, PropsRule, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule,
};
use serde_json::{json, Value};

use crate::adopt::{adopt_or, wanted};
use crate::error::SdkResultExt;
use crate::kit::errors::ServiceResultExt;
use crate::kit::service_codes::CLOUDTRAIL;
use crate::kit::{defaults, tagging};

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.cloudtrail.trail",
    doc: "A CloudTrail trail: API activity delivered to an S3 bucket whose policy admits cloudtrail.amazonaws.com (cairn adds the statements to a bucket of the same stack).",
    props: &[
        PropSpec::new("name", PropType::Text(TextRule::len(3, 128).chars("._-")), "Trail name; defaults to a name derived from stack, env and address.").force_new().naming(NAMING).rule(name_rule),
        PropSpec::new("s3_bucket_name", PropType::Text(TextRule::len(3, 63)), "The bucket the log files are delivered to.").required(),
        PropSpec::new("s3_key_prefix", PropType::Text(TextRule::len(1, 200)), "Key prefix of the log files (before AWSLogs/<account>/)."),
        PropSpec::new("include_global_service_events", PropType::Bool, "Record the events of global services such as IAM.").default("true"),
        PropSpec::new("is_multi_region_trail", PropType::Bool, "Record the events of every region, not only the trail's own.").default("false"),
        PropSpec::new("enable_log_file_validation", PropType::Bool, "Deliver signed digest files, so tampering with the log files can be detected.")
            .default("false"),
        PropSpec::new(
            "kms_key_id",
            PropType::Text(TextRule::len(1, 2048)),
            "ARN of the KMS key that encrypts the log files (SSE-KMS); the key policy must admit cloudtrail.amazonaws.com. Give the key's ARN: CloudTrail reports the key by ARN.",
        ),
        PropSpec::new("enable_logging", PropType::Bool, "Whether the trail records (StartLogging/StopLogging).").default("true"),
        PropSpec::new("is_organization_trail", PropType::Bool, "An organization trail; cairn manages account trails only, so this must stay false.")
            .default("false")
            .rule(organization_rule),
        PropSpec::new(
            "cloud_watch_logs_group_arn",
            PropType::Text(TextRule::len(1, 2048)),
            "ARN of a log group that also receives the events, with CloudTrail's `:*` suffix (`${group.arn}:*`); needs cloud_watch_logs_role_arn.",
        ),
        PropSpec::new(
            "cloud_watch_logs_role_arn",
            PropType::Text(TextRule::len(1, 2048)),
            "ARN of the role CloudTrail assumes to write into cloud_watch_logs_group_arn.",
        ),
    ],
    attrs: &["arn", "name", "home_region"],
    taggable: true,
    rules: &[
        PropsRule { props: &["is_multi_region_trail", "include_global_service_events"], check: multi_region_rule },
        PropsRule { props: &["cloud_watch_logs_group_arn", "cloud_watch_logs_role_arn"], check: cloud_watch_rule },
    ],
};

/// Trail names: 3 to 128 letters, digits, `.`, `_` and `-`; unique per region and account.
pub const NAMING: Naming = Naming::new(TextRule::len(3, 128).chars("._-"), NameScope::Region);

/// What CreateTrail says of names beyond their characters: a letter or digit first and last,
/// no two of `.`, `_`, `-` side by side, and not an IP address.
fn name_rule(v: &Value) -> Vec<String> {
    let Some(name) = v.as_str() else { return vec![] };
    let mut out = vec![];
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        out.push("must start and end with a letter or digit".to_string());
    }
    let punct = |c: char| matches!(c, '.' | '_' | '-');
    if name.chars().zip(name.chars().skip(1)).any(|(a, b)| punct(a) && punct(b)) {
        out.push("must not have `.`, `_` or `-` side by side".to_string());
    }
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() == 4 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())) {
        out.push("must not look like an IP address".to_string());
    }
    out
}

fn organization_rule(v: &Value) -> Vec<String> {
    if v.as_bool() == Some(true) {
        return vec!["cannot be true: an organization trail is created from the organization's management account and covers every member account, which this kind does not manage; create it there".into()];
    }
    vec![]
}

fn multi_region_rule(props: &Props) -> Vec<String> {
    let flag = |p: &str| SCHEMA.value_or_default(props, p).and_then(|v| v.as_bool());
    if flag("is_multi_region_trail") == Some(true) && flag("include_global_service_events") == Some(false) {
        return vec!["a multi-region trail must include global service events (include_global_service_events: true)".into()];
    }
    vec![]
}

fn cloud_watch_rule(props: &Props) -> Vec<String> {
    let set = |p: &str| props.get(p).is_some_and(|v| !v.is_null());
    if set("cloud_watch_logs_group_arn") != set("cloud_watch_logs_role_arn") {
        return vec!["cloud_watch_logs_group_arn and cloud_watch_logs_role_arn go together: CloudTrail needs the role to write into the group".into()];
    }
    vec![]
}

/// What CreateTrail and StartLogging send, after the schema's checks (values known only at
/// apply were not checked at validate).
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    name: String,
    bucket: String,
    prefix: Option<String>,
    global_events: bool,
    multi_region: bool,
    validation: bool,
    kms_key_id: Option<String>,
    logging: bool,
    log_group: Option<String>,
    log_role: Option<String>,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let text = |p: &str| wanted(&SCHEMA, desired, p).and_then(|v| v.as_str().map(str::to_string));
        let flag = |p: &str| wanted(&SCHEMA, desired, p).and_then(|v| v.as_bool()).unwrap_or(false);
        Ok(Spec {
            name: desired.name(),
            bucket: text("s3_bucket_name").unwrap_or_default(),
            prefix: text("s3_key_prefix"),
            global_events: flag("include_global_service_events"),
            multi_region: flag("is_multi_region_trail"),
            validation: flag("enable_log_file_validation"),
            kms_key_id: text("kms_key_id"),
            logging: flag("enable_logging"),
            log_group: text("cloud_watch_logs_group_arn"),
            log_role: text("cloud_watch_logs_role_arn"),
        })
    }

    fn props(&self) -> Props {
        let mut props = Props::new();
        props.insert("name".into(), json!(self.name));
        props.insert("s3_bucket_name".into(), json!(self.bucket));
        props.insert("include_global_service_events".into(), json!(self.global_events));
        props.insert("is_multi_region_trail".into(), json!(self.multi_region));
        props.insert("enable_log_file_validation".into(), json!(self.validation));
        props.insert("enable_logging".into(), json!(self.logging));
        props.insert("is_organization_trail".into(), json!(false));
        for (k, v) in [
            ("s3_key_prefix", &self.prefix),
            ("kms_key_id", &self.kms_key_id),
            ("cloud_watch_logs_group_arn", &self.log_group),
            ("cloud_watch_logs_role_arn", &self.log_role),
        ] {
            if let Some(v) = v {
                props.insert(k.into(), json!(v));
            }
        }
        props
    }
}

fn some(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_string)
}

/// A described trail (and whether it is logging) in the stack's prop shapes.
fn from_aws(trail: &Trail, logging: bool, tags: Tags) -> Observed {
    let name = trail.name().unwrap_or_default().to_string();
    let spec = Spec {
        name: name.clone(),
        bucket: trail.s3_bucket_name().unwrap_or_default().to_string(),
        prefix: some(trail.s3_key_prefix()),
        global_events: trail.include_global_service_events().unwrap_or(false),
        multi_region: trail.is_multi_region_trail().unwrap_or(false),
        validation: trail.log_file_validation_enabled().unwrap_or(false),
        kms_key_id: some(trail.kms_key_id()),
        logging,
        log_group: some(trail.cloud_watch_logs_log_group_arn()),
        log_role: some(trail.cloud_watch_logs_role_arn()),
    };
    let mut props = spec.props();
    props.insert(
        "is_organization_trail".into(),
        json!(trail.is_organization_trail().unwrap_or_else(|| defaults::default_flag(&SCHEMA, "is_organization_trail"))),
    );
    observed(&name, trail.trail_arn().unwrap_or_default(), trail.home_region(), props, tags)
}

fn observed(name: &str, arn: &str, home_region: Option<&str>, props: Props, tags: Tags) -> Observed {
    let mut attrs = Props::new();
    attrs.insert("arn".into(), json!(arn));
    attrs.insert("name".into(), json!(name));
    // The region is the ARN's fourth field when the answer leaves it out.
    let region = home_region.map(str::to_string).or_else(|| arn.split(':').nth(3).map(str::to_string)).unwrap_or_default();
    attrs.insert("home_region".into(), json!(region));
    Observed { id: name.to_string(), props, attrs, tags }
}

crate::kit::client::client_kind!(CloudTrailTrail, Client, cloudtrail);

impl CloudTrailTrail {
    /// Tags of up to 20 trails per ListTags call (CloudTrail's limit), by trail ARN.
    async fn tags(&self, arns: &[String]) -> Result<BTreeMap<String, Tags>, ProviderError> {
        let mut out = BTreeMap::new();
        for chunk in arns.chunks(20) {
            match self.list_tags(chunk).await {
                Ok(found) => out.extend(found),
                // A trail of the batch went between the describe and this call: ask one by one.
                Err(ProviderError::NotFound(_)) if chunk.len() > 1 => {
                    for arn in chunk {
                        match self.list_tags(std::slice::from_ref(arn)).await {
                            Ok(found) => out.extend(found),
                            Err(ProviderError::NotFound(_)) => {}
                            Err(other) => return Err(other),
                        }
                    }
                }
                Err(ProviderError::NotFound(_)) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(out)
    }

    async fn list_tags(&self, arns: &[String]) -> Result<BTreeMap<String, Tags>, ProviderError> {
        let page = self.client.list_tags().set_resource_id_list(Some(arns.to_vec())).send().await.op_in(&CLOUDTRAIL, "ListTags")?;
        Ok(page
            .resource_tag_list()
            .iter()
            .map(|rt| {
                let tags = rt.tags_list().iter().map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string())).collect();
                (rt.resource_id().unwrap_or_default().to_string(), tags)
            })
            .collect())
    }

    async fn is_logging(&self, name: &str) -> Result<Option<bool>, ProviderError> {
        match self.client.get_trail_status().name(name).send().await {
            Ok(s) => Ok(Some(s.is_logging().unwrap_or(false))),
            Err(e) => match CLOUDTRAIL.classify("GetTrailStatus", e) {
                ProviderError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn set_logging(&self, name: &str, on: bool) -> Result<(), ProviderError> {
        if on {
            self.client.start_logging().name(name).send().await.map(|_| ()).op_in(&CLOUDTRAIL, "StartLogging")
        } else {
            self.client.stop_logging().name(name).send().await.map(|_| ()).op_in(&CLOUDTRAIL, "StopLogging")
        }
    }

    async fn set_tags(&self, arn: &str, current: &Tags, desired: &Tags) -> Result<(), ProviderError> {
        let set = |set: Tags| async move { self.client.add_tags().resource_id(arn).set_tags_list(Some(tag_list(&set))).send().await.map(|_| ()).op("AddTags") };
        let remove = |remove: Vec<String>| async move {
            let list = remove.iter().filter_map(|k| Tag::builder().key(k).build().ok()).collect();
            self.client.remove_tags().resource_id(arn).set_tags_list(Some(list)).send().await.map(|_| ()).op("RemoveTags")
        };
        tagging::sync(current, desired, set, remove).await
    }

    /// UpdateTrail with one changed prop; an unset optional prop is cleared with "" (how
    /// CloudTrail removes a prefix, key or log group).
    fn update_one(&self, req: UpdateTrailFluentBuilder, prop: &str, desired: &Desired) -> Option<UpdateTrailFluentBuilder> {
        let text = || wanted(&SCHEMA, desired, prop).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let flag = || wanted(&SCHEMA, desired, prop).and_then(|v| v.as_bool()).unwrap_or(false);
        Some(match prop {
            "s3_bucket_name" => req.s3_bucket_name(text()),
            "s3_key_prefix" => req.s3_key_prefix(text()),
            "include_global_service_events" => req.include_global_service_events(flag()),
            "is_multi_region_trail" => req.is_multi_region_trail(flag()),
            "enable_log_file_validation" => req.enable_log_file_validation(flag()),
            "kms_key_id" => req.kms_key_id(text()),
            "cloud_watch_logs_group_arn" | "cloud_watch_logs_role_arn" => {
                let get = |p: &str| wanted(&SCHEMA, desired, p).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
                req.cloud_watch_logs_log_group_arn(get("cloud_watch_logs_group_arn")).cloud_watch_logs_role_arn(get("cloud_watch_logs_role_arn"))
            }
            _ => return None,
        })
    }
}

fn tag_list(tags: &Tags) -> Vec<Tag> {
    tags.iter().filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok()).collect()
}

#[async_trait]
impl ResourceKind for CloudTrailTrail {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        Ok(self.read_many(&[id.to_string()]).await?.remove(id).flatten())
    }

    /// One DescribeTrails for every name (this region's trails only: a multi-region trail's
    /// copies elsewhere are its shadows), one ListTags per 20 trails, one GetTrailStatus each.
    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        let mut out: BTreeMap<String, Option<Observed>> = ids.iter().map(|id| (id.clone(), None)).collect();
        if ids.is_empty() {
            return Ok(out);
        }
        let described = self
            .client
            .describe_trails()
            .set_trail_name_list(Some(ids.to_vec()))
            .include_shadow_trails(false)
            .send()
            .await
            .op_in(&CLOUDTRAIL, "DescribeTrails")?;
        let trails: Vec<&Trail> = described.trail_list().iter().filter(|t| t.name().is_some_and(|n| out.contains_key(n))).collect();
        let arns: Vec<String> = trails.iter().filter_map(|t| t.trail_arn().map(str::to_string)).collect();
        let mut tags = self.tags(&arns).await?;
        for trail in trails {
            let name = trail.name().unwrap_or_default();
            let Some(logging) = self.is_logging(name).await? else { continue };
            let t = tags.remove(trail.trail_arn().unwrap_or_default()).unwrap_or_default();
            out.insert(name.to_string(), Some(from_aws(trail, logging, t)));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let what = format!("trail {}", spec.name);
        let sent = self
            .client
            .create_trail()
            .name(&spec.name)
            .s3_bucket_name(&spec.bucket)
            .set_s3_key_prefix(spec.prefix.clone())
            .include_global_service_events(spec.global_events)
            .is_multi_region_trail(spec.multi_region)
            .enable_log_file_validation(spec.validation)
            .set_kms_key_id(spec.kms_key_id.clone())
            .set_cloud_watch_logs_log_group_arn(spec.log_group.clone())
            .set_cloud_watch_logs_role_arn(spec.log_role.clone())
            .is_organization_trail(false)
            .set_tags_list(Some(tag_list(&desired.tags)).filter(|t| !t.is_empty()))
            .send()
            .await;
        let created = match sent {
            // Trail names are unique per region and account: made by an attempt whose answer
            // was lost (ours), or someone else's.
            Err(e) if e.code() == Some("TrailAlreadyExistsException") => {
                let existing = self.read(&spec.name).await?;
                return adopt_or(self, desired, &what, existing, CLOUDTRAIL.classify("CreateTrail", e)).await;
            }
            Err(e) => return Err(CLOUDTRAIL.classify("CreateTrail", e)),
            Ok(out) => out,
        };
        // A new trail does not log until StartLogging.
        if spec.logging {
            self.set_logging(&spec.name, true).await?;
        }
        let arn = created.trail_arn().unwrap_or_default();
        Ok(observed(&spec.name, arn, None, spec.props(), desired.tags.clone()))
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let names: Vec<&str> = changed.iter().map(String::as_str).collect();
        crate::schema_check::check_only(&SCHEMA, &desired.props, Some(&names))?;
        let current = self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{}: trail {id} is gone", SCHEMA.kind)))?;
        let arn = current.attrs.get("arn").and_then(Value::as_str).unwrap_or_default().to_string();
        let mut req = self.client.update_trail().name(id);
        let mut settings = false;
        for prop in changed {
            if prop == "is_organization_trail" {
                return Err(ProviderError::Invalid(format!("{}: trail {id}: is_organization_trail cannot be changed by this kind", SCHEMA.kind)));
            }
            if let Some(next) = self.update_one(req.clone(), prop, desired) {
                req = next;
                settings = true;
            }
        }
        if settings {
            req.send().await.op_in(&CLOUDTRAIL, "UpdateTrail")?;
        }
        if changed.iter().any(|c| c == "enable_logging") {
            let on = defaults::flag(&SCHEMA, desired, "enable_logging")?;
            self.set_logging(id, on).await?;
        }
        if changed.iter().any(|c| c == "tags") {
            self.set_tags(&arn, &current.tags, &desired.tags).await?;
        }
        let spec = Spec::from(desired)?;
        let home = current.attrs.get("home_region").and_then(Value::as_str).map(str::to_string);
        Ok(observed(id, &arn, home.as_deref(), spec.props(), desired.tags.clone()))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        match self.client.delete_trail().name(id).send().await {
            Ok(_) => Ok(()),
            Err(e) => match CLOUDTRAIL.classify("DeleteTrail", e) {
                ProviderError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        Ok(self.read(&desired.name()).await?.filter(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => &["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:ListTags"],
            // AddTags: tags given to CreateTrail are authorised as AddTags too. The update
            // actions: a create that finds its own trail brings it to the stack.
            Operation::Create => &[
                "cloudtrail:CreateTrail",
                "cloudtrail:AddTags",
                "cloudtrail:RemoveTags",
                "cloudtrail:StartLogging",
                "cloudtrail:StopLogging",
                "cloudtrail:UpdateTrail",
                "cloudtrail:DescribeTrails",
                "cloudtrail:GetTrailStatus",
                "cloudtrail:ListTags",
            ],
            Operation::Update => &[
                "cloudtrail:UpdateTrail",
                "cloudtrail:StartLogging",
                "cloudtrail:StopLogging",
                "cloudtrail:AddTags",
                "cloudtrail:RemoveTags",
                "cloudtrail:DescribeTrails",
                "cloudtrail:GetTrailStatus",
                "cloudtrail:ListTags",
            ],
            Operation::Delete => &["cloudtrail:DeleteTrail"],
        }
    }
}

#[cfg(test)]
#[path = "cloudtrail_trail_tests.rs"]
mod tests;
