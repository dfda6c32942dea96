//! `aws.rds.parameter_group`: a DB parameter group (engine settings such as `log_min_duration_statement`) for RDS instances.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_rds::types::{ApplyMethod, DbParameterGroup, Parameter};
use aws_sdk_rds::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule,
};
use serde_json::{json, Value};

use crate::adopt::{adopt_or, wanted};
use crate::error::{found, gone};
use crate::kit::errors::ServiceResultExt;
use crate::kit::iam_actions::IamActions;
use crate::rds_common::{is_already_exists, list_tags, physical_name, rds_tags, sync_tags, RDS};
use crate::schema_check;

const KIND: &str = "aws.rds.parameter_group";
/// ModifyDBParameterGroup and ResetDBParameterGroup take at most this many parameters per call.
const PARAMETERS_PER_CALL: usize = 20;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: KIND,
    doc: "An RDS DB parameter group. Only the parameters listed are managed: those the stack drops are reset to the engine default. The id is the group name.",
    props: &[
        PropSpec::new(
            "name",
            PropType::String,
            "Group name: 1 to 255 lowercase letters, digits and `-` (RDS stores names in lowercase). Defaults to a name derived from stack, \
             env and address.",
        )
        .force_new()
        .naming(NAMING),
        PropSpec::new(
            "family",
            PropType::Text(TextRule::len(1, 255).chars(".-")),
            "Parameter group family, e.g. `postgres16`; must match the instances' engine major version.",
        )
        .required()
        .force_new(),
        PropSpec::new("description", PropType::Text(TextRule::len(1, 1024)), "What the group is for (cannot change after creation).")
            .force_new()
            .default("\"Managed by cairn\""),
        PropSpec::new(
            "parameters",
            PropType::List(&PropType::Struct(&[
                PropSpec::new("name", PropType::Text(TextRule::len(1, 255)), "The parameter's name, e.g. `log_min_duration_statement`.").required(),
                PropSpec::new("value", PropType::Text(TextRule::len(1, 4096)), "Its value, as a string (quote numbers: \"500\").").required(),
                PropSpec::new(
                    "apply_method",
                    PropType::Enum(&["immediate", "pending-reboot"]),
                    "`immediate` (dynamic parameters) or `pending-reboot` (required for static ones).",
                )
                .required(),
            ])),
            "A list of `{ name, value, apply_method }`, sorted by name. `value` is a string (quote numbers: \"500\"); `apply_method` is \
             `immediate` (dynamic parameters) or `pending-reboot` (required for static ones). A parameter set to its engine default \
             reads back as unset, so leave such parameters out. AWS keeps a new apply_method only together with a new value.",
        )
        .default("[]")
        .rule(sorted_by_name),
    ],
    attrs: &["arn"],
    taggable: true,
    rules: &[],
};

/// Parameter group names (CreateDBParameterGroup): 1 to 255 letters, digits and `-`, stored
/// in lowercase; unique per account and region. (AWS also wants a letter first and no `--`
/// or trailing `-`; default names never have those.)
pub const NAMING: Naming = Naming::new(TextRule::len(1, 255).chars("-").lowercase(), NameScope::Region);

/// RDS reports parameters sorted by name, so another order (or a name twice) would differ
/// from every read.
fn sorted_by_name(parameters: &Value) -> Vec<String> {
    let names: Vec<&str> = parameters.as_array().map(|a| a.iter().filter_map(|p| p.get("name")?.as_str()).collect()).unwrap_or_default();
    names
        .windows(2)
        .filter(|w| w[0] >= w[1])
        .map(|w| {
            let how = if w[0] == w[1] { "twice, after" } else { "before" };
            format!("must list parameters once each, sorted by name: `{}` comes {how} `{}`", w[1], w[0])
        })
        .collect()
}

static IAM: IamActions = IamActions {
    read: &["rds:DescribeDBParameterGroups", "rds:DescribeDBParameters", "rds:ListTagsForResource"],
    create: &[
        "rds:CreateDBParameterGroup",
        // Tags given to a create call are authorised as AddTagsToResource too.
        "rds:AddTagsToResource",
        "rds:ModifyDBParameterGroup",
        "rds:DescribeDBParameterGroups",
        "rds:DescribeDBParameters",
        "rds:ListTagsForResource",
    ],
    update: &[
        "rds:ModifyDBParameterGroup",
        "rds:ResetDBParameterGroup",
        "rds:AddTagsToResource",
        "rds:RemoveTagsFromResource",
        "rds:DescribeDBParameterGroups",
        "rds:DescribeDBParameters",
        "rds:ListTagsForResource",
    ],
    delete: &["rds:DeleteDBParameterGroup"],
};

/// One managed parameter, in the stack's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Param {
    name: String,
    value: String,
    apply_method: Option<String>,
}

impl Param {
    fn to_json(&self) -> Value {
        let mut obj = json!({ "name": self.name, "value": self.value });
        if let Some(method) = &self.apply_method {
            obj["apply_method"] = json!(method);
        }
        obj
    }

    fn to_aws(&self) -> Parameter {
        Parameter::builder()
            .parameter_name(&self.name)
            .parameter_value(&self.value)
            .apply_method(ApplyMethod::from(self.apply_method.as_deref().unwrap_or("immediate")))
            .build()
    }
}

crate::kit::client::client_kind!(RdsParameterGroup, Client, rds);

impl RdsParameterGroup {
    async fn describe(&self, name: &str) -> Result<Option<DbParameterGroup>, ProviderError> {
        let out = found(self.client.describe_db_parameter_groups().db_parameter_group_name(name).send().await.op_in(&RDS, "DescribeDBParameterGroups"))?;
        Ok(out.and_then(|o| o.db_parameter_groups().first().cloned()))
    }

    /// The parameters a user set (Source "user"), sorted by name. Emulators that do not
    /// report a source only hold user-set parameters, so a missing source counts as user.
    async fn user_parameters(&self, name: &str) -> Result<Vec<Param>, ProviderError> {
        let items = self
            .client
            .describe_db_parameters()
            .db_parameter_group_name(name)
            .source("user")
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .op_in(&RDS, "DescribeDBParameters")?;
        let mut params: Vec<Param> = items
            .iter()
            .filter(|p| p.source().is_none_or(|s| s == "user"))
            .filter_map(|p| {
                Some(Param {
                    name: p.parameter_name()?.to_string(),
                    value: p.parameter_value()?.to_string(),
                    apply_method: p.apply_method().map(|m| m.as_str().to_ascii_lowercase()),
                })
            })
            .collect();
        params.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(params)
    }

    async fn observe(&self, name: &str) -> Result<Option<Observed>, ProviderError> {
        let Some(group) = self.describe(name).await? else { return Ok(None) };
        let arn = group.db_parameter_group_arn().unwrap_or_default().to_string();
        let (params, tags) = tokio::try_join!(self.user_parameters(name), list_tags(&self.client, &arn))?;
        Ok(Some(observed(&group, name, &params, tags)))
    }
}

/// The group as the stack writes it, from the describe's or CreateDBParameterGroup's answer
/// and the user-set parameters, sorted by name.
fn observed(group: &DbParameterGroup, name: &str, params: &[Param], tags: Tags) -> Observed {
    let arn = group.db_parameter_group_arn().unwrap_or_default().to_string();
    let name = group.db_parameter_group_name().unwrap_or(name).to_string();
    let mut props = Props::new();
    props.insert("name".into(), json!(name));
    props.insert("family".into(), json!(group.db_parameter_group_family().unwrap_or_default()));
    props.insert("description".into(), json!(group.description().unwrap_or_default()));
    props.insert("parameters".into(), Value::Array(params.iter().map(Param::to_json).collect()));
    let mut attrs = Props::new();
    attrs.insert("arn".into(), json!(arn));
    Observed { id: name, props, attrs, tags }
}

impl RdsParameterGroup {
    async fn modify(&self, name: &str, params: &[Param]) -> Result<(), ProviderError> {
        for chunk in params.chunks(PARAMETERS_PER_CALL) {
            self.client
                .modify_db_parameter_group()
                .db_parameter_group_name(name)
                .set_parameters(Some(chunk.iter().map(Param::to_aws).collect()))
                .send()
                .await
                .op_in(&RDS, "ModifyDBParameterGroup")?;
        }
        Ok(())
    }

    async fn reset(&self, name: &str, params: &[Param]) -> Result<(), ProviderError> {
        for chunk in params.chunks(PARAMETERS_PER_CALL) {
            // Reset with the method the parameter was set with: static parameters only
            // accept pending-reboot, dynamic ones return to the default at once.
            let list = chunk
                .iter()
                .map(|p| {
                    Parameter::builder().parameter_name(&p.name).apply_method(ApplyMethod::from(p.apply_method.as_deref().unwrap_or("pending-reboot"))).build()
                })
                .collect();
            self.client
                .reset_db_parameter_group()
                .db_parameter_group_name(name)
                .reset_all_parameters(false)
                .set_parameters(Some(list))
                .send()
                .await
                .op_in(&RDS, "ResetDBParameterGroup")?;
        }
        Ok(())
    }
}

/// The stack's props, checked before any call.
struct Spec {
    name: String,
    family: String,
    description: String,
    parameters: Vec<Param>,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        // Shapes, the apply methods and the order are the schema's; values known only at apply
        // were not checked at validate, so the same checks run here.
        schema_check::check(&SCHEMA, &desired.props)?;
        let text = |name: &str| wanted(&SCHEMA, desired, name).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let parameters = match wanted(&SCHEMA, desired, "parameters") {
            Some(Value::Array(items)) => items.iter().map(param).collect::<Result<_, _>>()?,
            _ => vec![],
        };
        Ok(Spec { name: physical_name(&SCHEMA, desired)?, family: text("family"), description: text("description"), parameters })
    }
}

/// One checked `{ name, value, apply_method }` item.
fn param(item: &Value) -> Result<Param, ProviderError> {
    let field = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_string);
    match (field("name"), field("value"), field("apply_method")) {
        (Some(name), Some(value), Some(method)) => Ok(Param { name, value, apply_method: Some(method) }),
        _ => Err(ProviderError::Invalid(format!("{KIND}: parameters must be a list of {{ name, value, apply_method }}, not {item}"))),
    }
}

/// What to set and what to reset to bring `current` to `want`.
fn parameter_changes(current: &[Param], want: &[Param]) -> (Vec<Param>, Vec<Param>) {
    let now: BTreeMap<&str, &Param> = current.iter().map(|p| (p.name.as_str(), p)).collect();
    let wanted: BTreeMap<&str, &Param> = want.iter().map(|p| (p.name.as_str(), p)).collect();
    let set = want.iter().filter(|p| now.get(p.name.as_str()) != Some(p)).cloned().collect();
    let reset = current.iter().filter(|p| !wanted.contains_key(p.name.as_str())).cloned().collect();
    (set, reset)
}

fn parse_observed(observed: &Observed) -> Vec<Param> {
    let Some(Value::Array(items)) = observed.props.get("parameters") else { return vec![] };
    items
        .iter()
        .filter_map(|v| {
            Some(Param {
                name: v.get("name")?.as_str()?.to_string(),
                value: v.get("value")?.as_str()?.to_string(),
                apply_method: v.get("apply_method").and_then(Value::as_str).map(str::to_string),
            })
        })
        .collect()
}

#[async_trait]
impl ResourceKind for RdsParameterGroup {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        Ok(found(self.observe(id).await)?.flatten())
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        // Each group's parameters and tags take their own calls whatever lists the groups, and
        // a stack has a group or two: one at a time, side by side.
        let client = self.client.clone();
        crate::read_each::read_each(ids, || RdsParameterGroup::from_client(client.clone())).await
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let created = self
            .client
            .create_db_parameter_group()
            .db_parameter_group_name(&spec.name)
            .db_parameter_group_family(&spec.family)
            .description(&spec.description)
            .set_tags(Some(rds_tags(&desired.tags)))
            .send()
            .await
            .op_in(&RDS, "CreateDBParameterGroup");
        let created = match created {
            // An earlier attempt whose answer was lost made it, or the name is someone else's.
            Err(e) if is_already_exists(&e) => {
                let existing = self.read(&spec.name).await?;
                return adopt_or(self, desired, &format!("DB parameter group {}", spec.name), existing, e).await;
            }
            other => other?,
        };
        self.modify(&spec.name, &spec.parameters).await?;
        // The answer is the group; its parameters and tags are what was sent.
        let group = created
            .db_parameter_group()
            .ok_or_else(|| ProviderError::Retryable(format!("CreateDBParameterGroup: {} answered without the group", spec.name)))?;
        let mut params = spec.parameters.clone();
        params.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(observed(group, &spec.name, &params, desired.tags.clone()))
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let has = |name: &str| changed.iter().any(|c| c == name);
        if has("parameters") || has("tags") {
            let current = self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("parameter group {id} disappeared during update")))?;
            if has("parameters") {
                let (set, reset) = parameter_changes(&parse_observed(&current), &spec.parameters);
                self.modify(id, &set).await?;
                self.reset(id, &reset).await?;
            }
            if has("tags") {
                let arn = current.attrs.get("arn").and_then(Value::as_str).unwrap_or_default().to_string();
                sync_tags(&self.client, &arn, &current.tags, &desired.tags).await?;
            }
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("parameter group {id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        gone(self.client.delete_db_parameter_group().db_parameter_group_name(id).send().await.map(|_| ()).op_in(&RDS, "DeleteDBParameterGroup"))
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let spec = Spec::from(desired)?;
        Ok(self.read(&spec.name).await?.filter(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        IAM.of(op)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    use aws_sdk_rds::error::ErrorMetadata;
    use aws_sdk_rds::operation::create_db_parameter_group::{CreateDbParameterGroupInput, CreateDbParameterGroupOutput};
    use aws_sdk_rds::operation::delete_db_parameter_group::{DeleteDBParameterGroupError, DeleteDbParameterGroupOutput};
    use aws_sdk_rds::operation::describe_db_parameter_groups::{DescribeDBParameterGroupsError, DescribeDbParameterGroupsOutput};
    use aws_sdk_rds::operation::describe_db_parameters::DescribeDbParametersOutput;
    use aws_sdk_rds::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_rds::operation::modify_db_parameter_group::{ModifyDbParameterGroupInput, ModifyDbParameterGroupOutput};
    use aws_sdk_rds::operation::reset_db_parameter_group::{ResetDbParameterGroupInput, ResetDbParameterGroupOutput};
    use aws_smithy_mocks::{mock, Rule};
    use cairn_engine::provider::{Owner, Tags};

    const DEFAULT_DESCRIPTION: &str = "Managed by cairn";
    const NAME: &str = "shop-dev-pg";
    const ARN: &str = "arn:aws:rds:us-east-1:123456789012:pg:shop-dev-pg";

    fn kind(rules: &[&Rule]) -> RdsParameterGroup {
        RdsParameterGroup::from_client(crate::mocked_client!(aws_sdk_rds, rules))
    }

    fn owner() -> Owner {
        Owner { stack: "shop".into(), env: "dev".into(), address: "pg".into() }
    }

    fn desired(props: Value) -> Desired {
        Desired { props: props.as_object().unwrap().clone(), tags: owner().tags(), owner: owner(), default_name: NAME.into(), idempotency_token: "t".into() }
    }

    fn error(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message("mocked").build()
    }

    fn aws_param(name: &str, value: &str, method: &str, source: Option<&str>) -> Parameter {
        Parameter::builder().parameter_name(name).parameter_value(value).apply_method(ApplyMethod::from(method)).set_source(source.map(str::to_string)).build()
    }

    fn group_rules(params: Vec<Parameter>, tags: Tags) -> Vec<Rule> {
        vec![
            mock!(Client::describe_db_parameter_groups).match_requests(|r| r.db_parameter_group_name() == Some(NAME)).then_output(|| {
                DescribeDbParameterGroupsOutput::builder()
                    .db_parameter_groups(
                        DbParameterGroup::builder()
                            .db_parameter_group_name(NAME)
                            .db_parameter_group_family("postgres16")
                            .description(DEFAULT_DESCRIPTION)
                            .db_parameter_group_arn(ARN)
                            .build(),
                    )
                    .build()
            }),
            mock!(Client::describe_db_parameters)
                .match_requests(|r| r.db_parameter_group_name() == Some(NAME) && r.source() == Some("user"))
                .then_output(move || DescribeDbParametersOutput::builder().set_parameters(Some(params.clone())).build()),
            mock!(Client::list_tags_for_resource)
                .match_requests(|r| r.resource_name() == Some(ARN))
                .then_output(move || ListTagsForResourceOutput::builder().set_tag_list(Some(rds_tags(&tags))).build()),
        ]
    }

    /// Requests a mock saw, shared between the mock and the test.
    type Seen<T> = Arc<Mutex<Vec<T>>>;

    fn recorder<T: Clone + Send + 'static>() -> (Seen<T>, Seen<T>) {
        let seen: Seen<T> = Arc::default();
        (seen.clone(), seen)
    }

    #[test]
    fn the_description_default_is_the_schemas() {
        assert_eq!(SCHEMA.prop("description").and_then(|p| p.default_value()), Some(json!(DEFAULT_DESCRIPTION)));
        assert_eq!(Spec::from(&desired(json!({"family": "postgres16"}))).unwrap().description, DEFAULT_DESCRIPTION);
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        let with = |params: Value| json!({"family": "postgres16", "parameters": params});
        for props in [
            json!({}),
            json!({"family": ""}),
            json!({"family": "postgres16", "name": "Params"}),
            with(json!([{"name": "b", "value": "1", "apply_method": "immediate"}, {"name": "a", "value": "1", "apply_method": "immediate"}])),
            with(json!([{"name": "a", "value": "1", "apply_method": "immediate"}, {"name": "a", "value": "2", "apply_method": "immediate"}])),
            with(json!([{"name": "a", "value": 500, "apply_method": "immediate"}])),
            with(json!([{"name": "a", "value": "1"}])),
            with(json!([{"name": "", "value": "1", "apply_method": "immediate"}])),
            with(json!([{"name": "a", "value": "1", "apply_method": "later"}])),
            with(json!([{"name": "a", "value": "1", "apply_method": "immediate", "extra": 1}])),
            with(json!({"a": "1"})),
            with(json!(["a"])),
        ] {
            let d = desired(props.clone());
            assert!(Spec::from(&d).is_err(), "builder accepts {props}");
            assert!(crate::rds_common::test_support::schema_refuses(&SCHEMA, &d.props), "schema accepts {props}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every props value the schema accepts becomes CreateDBParameterGroup and
        /// ModifyDBParameterGroup requests with apply methods the SDK knows.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
            let spec = Spec::from(&desired(Value::Object(props)));
            proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
            let spec = spec.unwrap();
            proptest::prop_assert!(NAMING.rule.violation(&spec.name).is_none(), "{}", spec.name);
            proptest::prop_assert!(!spec.family.is_empty() && !spec.description.is_empty());
            for p in &spec.parameters {
                let method = p.to_aws().apply_method().map(|m| m.as_str().to_string());
                proptest::prop_assert!(method.is_some_and(|m| ApplyMethod::values().contains(&m.as_str())));
            }
        }
    }

    #[tokio::test]
    async fn create_tags_the_group_then_sets_parameters_in_batches_of_twenty() {
        let (created, sink) = recorder::<CreateDbParameterGroupInput>();
        let create = mock!(Client::create_db_parameter_group).then_compute_output(move |i| {
            sink.lock().unwrap().push(i.clone());
            let group = DbParameterGroup::builder()
                .db_parameter_group_name(NAME)
                .db_parameter_group_family("postgres16")
                .description(DEFAULT_DESCRIPTION)
                .db_parameter_group_arn(ARN)
                .build();
            CreateDbParameterGroupOutput::builder().db_parameter_group(group).build()
        });
        let (modified, sink) = recorder::<ModifyDbParameterGroupInput>();
        let modify = mock!(Client::modify_db_parameter_group).then_compute_output(move |i| {
            sink.lock().unwrap().push(i.clone());
            ModifyDbParameterGroupOutput::builder().db_parameter_group_name(NAME).build()
        });
        let wanted: Vec<Value> = (0..25).map(|i| json!({"name": format!("p{i:02}"), "value": format!("{i}"), "apply_method": "immediate"})).collect();
        let d = desired(json!({"family": "postgres16", "parameters": wanted}));
        let reads = group_rules((0..25).map(|i| aws_param(&format!("p{i:02}"), &format!("{i}"), "immediate", Some("user"))).collect(), d.tags.clone());
        let mut rules = vec![&create, &modify];
        rules.extend(reads.iter());

        let observed = kind(&rules).create(&d).await.unwrap();

        let created = created.lock().unwrap().pop().unwrap();
        assert_eq!(
            (created.db_parameter_group_name(), created.db_parameter_group_family(), created.description()),
            (Some(NAME), Some("postgres16"), Some(DEFAULT_DESCRIPTION))
        );
        assert_eq!(crate::rds_common::tags_from(created.tags()), d.tags, "tags go in the creating call");
        let batches: Vec<usize> = modified.lock().unwrap().iter().map(|m| m.parameters().len()).collect();
        assert_eq!(batches, [20, 5]);
        let first = modified.lock().unwrap()[0].parameters()[0].clone();
        assert_eq!((first.parameter_name(), first.parameter_value(), first.apply_method()), (Some("p00"), Some("0"), Some(&ApplyMethod::Immediate)));
        assert_eq!(observed.props["parameters"], d.props["parameters"], "reads back as written");
        assert_eq!(observed.props["family"], json!("postgres16"));
        assert_eq!(observed.props["description"], json!(DEFAULT_DESCRIPTION));
        // Nothing is read back: the group, its parameters and tags are what was sent, and
        // that is what a later read returns.
        assert_eq!(reads.iter().map(Rule::num_calls).sum::<usize>(), 0);
        let reads: Vec<&Rule> = reads.iter().collect();
        assert_eq!(Some(observed), kind(&reads).read(NAME).await.unwrap());
        for op in ["CreateDBParameterGroup", "ModifyDBParameterGroup", "DescribeDBParameterGroups", "DescribeDBParameters", "ListTagsForResource"] {
            assert!(IAM.create.contains(&format!("rds:{op}").as_str()), "{op}");
        }
    }

    #[tokio::test]
    async fn read_keeps_only_user_parameters_sorted_by_name() {
        let reads = group_rules(
            vec![
                aws_param("work_mem", "65536", "pending-reboot", Some("user")),
                aws_param("autovacuum", "1", "pending-reboot", Some("engine-default")),
                aws_param("log_min_duration_statement", "500", "immediate", Some("user")),
                aws_param("shared_buffers", "{DBInstanceClassMemory/32768}", "pending-reboot", Some("system")),
            ],
            owner().tags(),
        );
        let rules: Vec<&Rule> = reads.iter().collect();
        let observed = kind(&rules).read(NAME).await.unwrap().unwrap();
        assert_eq!(
            observed.props["parameters"],
            json!([
                {"name": "log_min_duration_statement", "value": "500", "apply_method": "immediate"},
                {"name": "work_mem", "value": "65536", "apply_method": "pending-reboot"}
            ])
        );
        assert_eq!(observed.attrs["arn"], json!(ARN));
    }

    #[tokio::test]
    async fn update_sets_changed_and_resets_removed_parameters_only() {
        let (modified, sink) = recorder::<ModifyDbParameterGroupInput>();
        let modify = mock!(Client::modify_db_parameter_group).then_compute_output(move |i| {
            sink.lock().unwrap().push(i.clone());
            ModifyDbParameterGroupOutput::builder().build()
        });
        let (reset, sink) = recorder::<ResetDbParameterGroupInput>();
        let reset_rule = mock!(Client::reset_db_parameter_group).then_compute_output(move |i| {
            sink.lock().unwrap().push(i.clone());
            ResetDbParameterGroupOutput::builder().build()
        });
        let reads = group_rules(
            vec![
                aws_param("a_same", "1", "immediate", Some("user")),
                aws_param("b_changed", "1", "immediate", Some("user")),
                aws_param("c_removed", "on", "pending-reboot", Some("user")),
            ],
            owner().tags(),
        );
        let mut rules = vec![&modify, &reset_rule];
        rules.extend(reads.iter());
        let d = desired(json!({"family": "postgres16", "parameters": [
            {"name": "a_same", "value": "1", "apply_method": "immediate"},
            {"name": "b_changed", "value": "2", "apply_method": "immediate"},
            {"name": "d_added", "value": "x", "apply_method": "pending-reboot"}
        ]}));

        kind(&rules).update(NAME, &d, &["parameters".into()]).await.unwrap();

        let set: Vec<(String, String)> = modified
            .lock()
            .unwrap()
            .iter()
            .flat_map(|m| {
                m.parameters().iter().map(|p| (p.parameter_name().unwrap().to_string(), p.parameter_value().unwrap().to_string())).collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(set, [("b_changed".to_string(), "2".to_string()), ("d_added".to_string(), "x".to_string())]);
        let reset = reset.lock().unwrap().pop().unwrap();
        assert_eq!(reset.reset_all_parameters(), Some(false), "never a blanket reset");
        let p = &reset.parameters()[0];
        assert_eq!((p.parameter_name(), p.apply_method()), (Some("c_removed"), Some(&ApplyMethod::PendingReboot)));
        for op in ["ModifyDBParameterGroup", "ResetDBParameterGroup", "DescribeDBParameters"] {
            assert!(IAM.update.contains(&format!("rds:{op}").as_str()), "{op}");
        }
    }

    #[tokio::test]
    async fn parameters_in_a_shape_that_would_never_compare_equal_are_refused_before_any_call() {
        let k = kind(&[]);
        for (params, needle) in [
            (json!([{"name": "b", "value": "1", "apply_method": "immediate"}, {"name": "a", "value": "1", "apply_method": "immediate"}]), "sorted by name"),
            (json!([{"name": "a", "value": "1", "apply_method": "immediate"}, {"name": "a", "value": "2", "apply_method": "immediate"}]), "twice"),
            (json!([{"name": "a", "value": 500, "apply_method": "immediate"}]), "found the number 500"),
            (json!([{"name": "a", "value": "1"}]), "apply_method"),
            (json!([{"name": "a", "value": "1", "apply_method": "later"}]), "apply_method"),
            (json!([{"name": "a", "value": "1", "apply_method": "immediate", "extra": 1}]), "not a known field"),
            (json!({"a": "1"}), "must be a list"),
        ] {
            let result = k.create(&desired(json!({"family": "postgres16", "parameters": params}))).await;
            assert!(matches!(&result, Err(ProviderError::Invalid(m)) if m.contains(needle)), "{params}: {result:?}");
        }
        assert!(matches!(k.create(&desired(json!({"parameters": []}))).await, Err(ProviderError::Invalid(m)) if m.contains("family")));
    }

    #[tokio::test]
    async fn read_of_missing_group_is_none_and_delete_of_missing_is_ok() {
        let describe = mock!(Client::describe_db_parameter_groups).then_error(|| DescribeDBParameterGroupsError::generic(error("DBParameterGroupNotFound")));
        assert_eq!(kind(&[&describe]).read(NAME).await.unwrap(), None);
        let delete = mock!(Client::delete_db_parameter_group).then_error(|| DeleteDBParameterGroupError::generic(error("DBParameterGroupNotFound")));
        kind(&[&delete]).delete(NAME).await.unwrap();
        let in_use = mock!(Client::delete_db_parameter_group).then_error(|| DeleteDBParameterGroupError::generic(error("InvalidDBParameterGroupState")));
        assert!(matches!(kind(&[&in_use]).delete(NAME).await, Err(ProviderError::Conflict(_))));
        let ok = mock!(Client::delete_db_parameter_group)
            .match_requests(|r| r.db_parameter_group_name() == Some(NAME))
            .then_output(|| DeleteDbParameterGroupOutput::builder().build());
        kind(&[&ok]).delete(NAME).await.unwrap();
        assert_eq!(ok.num_calls(), 1);
    }

    #[tokio::test]
    async fn find_owned_needs_the_owner_tags() {
        let foreign = group_rules(vec![], Tags::from([("cairn:stack".to_string(), "x".to_string())]));
        let rules: Vec<&Rule> = foreign.iter().collect();
        assert_eq!(kind(&rules).find_owned(&desired(json!({"family": "postgres16"}))).await.unwrap(), None);
        let ours = group_rules(vec![], owner().tags());
        let rules: Vec<&Rule> = ours.iter().collect();
        assert!(kind(&rules).find_owned(&desired(json!({"family": "postgres16"}))).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn create_answered_already_exists_adopts_ours_and_refuses_another() {
        let create = mock!(Client::create_db_parameter_group)
            .then_error(|| aws_sdk_rds::operation::create_db_parameter_group::CreateDBParameterGroupError::generic(error("DBParameterGroupAlreadyExists")));
        let want = desired(json!({"family": "postgres16"}));
        let ours = group_rules(vec![], want.tags.clone());
        let mut rules: Vec<&Rule> = ours.iter().collect();
        rules.push(&create);
        assert_eq!(kind(&rules).create(&want).await.map(|o| o.id), Ok(NAME.to_string()));
        let theirs = group_rules(vec![], Tags::new());
        let mut rules: Vec<&Rule> = theirs.iter().collect();
        rules.push(&create);
        crate::adopt::testing::assert_refused(kind(&rules).create(&want).await, &format!("DB parameter group {NAME}"));
    }
}
