//! `aws.rds.subnet_group`: the subnets (in two or more AZs) an RDS instance may be placed in.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_rds::types::DbSubnetGroup;
use aws_sdk_rds::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule,
};
use serde_json::{json, Value};

use crate::adopt::{adopt_or, wanted};
use crate::error::{found, gone};
use crate::kit::errors::ServiceResultExt;
use crate::kit::iam_actions::IamActions;
use crate::rds_common::{is_already_exists, list_tags, non_empty, physical_name, rds_tags, sync_tags, RDS};
use crate::schema_check;

const KIND: &str = "aws.rds.subnet_group";

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: KIND,
    doc: "An RDS DB subnet group: the VPC subnets (in at least two availability zones) a database may be placed in. The id is the group name.",
    props: &[
        PropSpec::new(
            "name",
            PropType::String,
            "Group name: up to 255 lowercase letters, digits, `.`, `_`, ` ` and `-` (RDS stores names in lowercase), not `default`. \
             Defaults to a name derived from stack, env and address.",
        )
        .force_new()
        .naming(NAMING),
        PropSpec::new("description", PropType::Text(TextRule::len(1, 1024)), "What the group is for.").default("\"Managed by cairn\""),
        PropSpec::new("subnet_ids", PropType::List(&PropType::Text(TextRule::len(1, 255))), "Subnet ids, in at least two availability zones of one VPC.")
            .required()
            .rule(non_empty),
    ],
    attrs: &["arn", "vpc_id"],
    taggable: true,
    rules: &[],
};

/// Subnet group names (CreateDBSubnetGroup): at most 255 letters, digits, `.`, `_`, spaces
/// and `-`, stored in lowercase; unique per account and region. (AWS also wants a letter
/// first and refuses `default`; default names are never `default`.)
pub const NAMING: Naming = Naming::new(TextRule::len(1, 255).chars("._ -").lowercase(), NameScope::Region);

static IAM: IamActions = IamActions {
    read: &["rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"],
    create: &[
        "rds:CreateDBSubnetGroup",
        // Tags given to a create call are authorised as AddTagsToResource too.
        "rds:AddTagsToResource",
        "rds:DescribeDBSubnetGroups",
        "rds:ListTagsForResource",
    ],
    update: &["rds:ModifyDBSubnetGroup", "rds:AddTagsToResource", "rds:RemoveTagsFromResource", "rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"],
    delete: &["rds:DeleteDBSubnetGroup"],
};

crate::kit::client::client_kind!(RdsSubnetGroup, Client, rds);

impl RdsSubnetGroup {
    async fn describe(&self, name: &str) -> Result<Option<DbSubnetGroup>, ProviderError> {
        let out = found(self.client.describe_db_subnet_groups().db_subnet_group_name(name).send().await.op_in(&RDS, "DescribeDBSubnetGroups"))?;
        Ok(out.and_then(|o| o.db_subnet_groups().first().cloned()))
    }

    async fn observe(&self, name: &str) -> Result<Option<Observed>, ProviderError> {
        let Some(group) = self.describe(name).await? else { return Ok(None) };
        let tags = list_tags(&self.client, group.db_subnet_group_arn().unwrap_or_default()).await?;
        Ok(Some(observed(&group, name, tags)))
    }
}

/// The group as the stack writes it, from DescribeDBSubnetGroups' or CreateDBSubnetGroup's answer.
fn observed(group: &DbSubnetGroup, name: &str, tags: Tags) -> Observed {
    let arn = group.db_subnet_group_arn().unwrap_or_default().to_string();
    let name = group.db_subnet_group_name().unwrap_or(name).to_string();
    let mut subnets: Vec<String> = group.subnets().iter().filter_map(|s| s.subnet_identifier()).map(str::to_string).collect();
    subnets.sort();

    let mut props = Props::new();
    props.insert("name".into(), json!(name));
    props.insert("description".into(), json!(group.db_subnet_group_description().unwrap_or_default()));
    props.insert("subnet_ids".into(), json!(subnets));
    let mut attrs = Props::new();
    attrs.insert("arn".into(), json!(arn));
    if let Some(vpc) = group.vpc_id() {
        attrs.insert("vpc_id".into(), json!(vpc));
    }
    Observed { id: name, props, attrs, tags }
}

/// The stack's props, checked against the schema before any call (values known only at
/// apply were not checked at validate).
#[derive(Debug)]
struct Spec {
    name: String,
    description: String,
    subnet_ids: Vec<String>,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        schema_check::check(&SCHEMA, &desired.props)?;
        let name = physical_name(&SCHEMA, desired)?;
        let text = |v: Value| v.as_str().map(str::to_string);
        let subnet_ids = wanted(&SCHEMA, desired, "subnet_ids").and_then(|v| v.as_array().map(|a| a.iter().filter_map(|s| text(s.clone())).collect()));
        let description = wanted(&SCHEMA, desired, "description").and_then(text).unwrap_or_default();
        Ok(Spec { name, description, subnet_ids: subnet_ids.unwrap_or_default() })
    }
}

#[async_trait]
impl ResourceKind for RdsSubnetGroup {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        // Deleted between the describe and the tag read: that too is gone.
        Ok(found(self.observe(id).await)?.flatten())
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        // DescribeDBSubnetGroups could list them all, but the tags still take a call per
        // group, and a stack has a group or two: one at a time, side by side.
        let client = self.client.clone();
        crate::read_each::read_each(ids, || RdsSubnetGroup::from_client(client.clone())).await
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let created = self
            .client
            .create_db_subnet_group()
            .db_subnet_group_name(&spec.name)
            .db_subnet_group_description(&spec.description)
            .set_subnet_ids(Some(spec.subnet_ids.clone()))
            .set_tags(Some(rds_tags(&desired.tags)))
            .send()
            .await
            .op_in(&RDS, "CreateDBSubnetGroup");
        let created = match created {
            // An earlier attempt whose answer was lost made it, or the name is someone else's.
            Err(e) if is_already_exists(&e) => {
                let existing = self.read(&spec.name).await?;
                return adopt_or(self, desired, &format!("DB subnet group {}", spec.name), existing, e).await;
            }
            other => other?,
        };
        // The answer is the group (subnets, VPC, ARN) and its tags are what was sent.
        let group =
            created.db_subnet_group().ok_or_else(|| ProviderError::Retryable(format!("CreateDBSubnetGroup: {} answered without the group", spec.name)))?;
        Ok(observed(group, &spec.name, desired.tags.clone()))
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let has = |name: &str| changed.iter().any(|c| c == name);
        if has("description") || has("subnet_ids") {
            // ModifyDBSubnetGroup always takes the full subnet list.
            self.client
                .modify_db_subnet_group()
                .db_subnet_group_name(id)
                .db_subnet_group_description(&spec.description)
                .set_subnet_ids(Some(spec.subnet_ids.clone()))
                .send()
                .await
                .op_in(&RDS, "ModifyDBSubnetGroup")?;
        }
        if has("tags") {
            let current = self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("subnet group {id} disappeared during update")))?;
            let arn = current.attrs.get("arn").and_then(|v| v.as_str()).unwrap_or_default().to_string();
            sync_tags(&self.client, &arn, &current.tags, &desired.tags).await?;
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("subnet group {id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        gone(self.client.delete_db_subnet_group().db_subnet_group_name(id).send().await.map(|_| ()).op_in(&RDS, "DeleteDBSubnetGroup"))
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
    use aws_sdk_rds::operation::add_tags_to_resource::{AddTagsToResourceInput, AddTagsToResourceOutput};
    use aws_sdk_rds::operation::create_db_subnet_group::{CreateDbSubnetGroupInput, CreateDbSubnetGroupOutput};
    use aws_sdk_rds::operation::delete_db_subnet_group::DeleteDBSubnetGroupError;
    use aws_sdk_rds::operation::describe_db_subnet_groups::{DescribeDBSubnetGroupsError, DescribeDbSubnetGroupsOutput};
    use aws_sdk_rds::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_rds::operation::modify_db_subnet_group::{ModifyDbSubnetGroupInput, ModifyDbSubnetGroupOutput};
    use aws_sdk_rds::operation::remove_tags_from_resource::{RemoveTagsFromResourceInput, RemoveTagsFromResourceOutput};
    use aws_sdk_rds::types::Subnet;
    use aws_smithy_mocks::{mock, Rule};
    use cairn_engine::provider::{Owner, Tags};

    const DEFAULT_DESCRIPTION: &str = "Managed by cairn";

    const NAME: &str = "shop-dev-db-subnets";
    const ARN: &str = "arn:aws:rds:us-east-1:123456789012:subgrp:shop-dev-db-subnets";

    fn kind(rules: &[&Rule]) -> RdsSubnetGroup {
        RdsSubnetGroup::from_client(crate::mocked_client!(aws_sdk_rds, rules))
    }

    fn owner() -> Owner {
        Owner { stack: "shop".into(), env: "dev".into(), address: "db_subnets".into() }
    }

    fn desired(props: Value) -> Desired {
        let mut tags = owner().tags();
        tags.insert("Project".into(), "LegacyPlatform".into());
        Desired { props: props.as_object().unwrap().clone(), tags, owner: owner(), default_name: NAME.into(), idempotency_token: "t".into() }
    }

    fn error(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message("mocked").build()
    }

    fn group(subnets: &[&str], description: &str) -> DbSubnetGroup {
        let mut b = DbSubnetGroup::builder().db_subnet_group_name(NAME).db_subnet_group_arn(ARN).db_subnet_group_description(description).vpc_id("vpc-1");
        for s in subnets {
            b = b.subnets(Subnet::builder().subnet_identifier(*s).subnet_status("Active").build());
        }
        b.build()
    }

    fn describe_rule(subnets: &'static [&'static str], description: &'static str) -> Rule {
        mock!(Client::describe_db_subnet_groups)
            .match_requests(|r| r.db_subnet_group_name() == Some(NAME))
            .then_output(move || DescribeDbSubnetGroupsOutput::builder().db_subnet_groups(group(subnets, description)).build())
    }

    fn tags_rule(tags: Tags) -> Rule {
        mock!(Client::list_tags_for_resource)
            .match_requests(|r| r.resource_name() == Some(ARN))
            .then_output(move || ListTagsForResourceOutput::builder().set_tag_list(Some(rds_tags(&tags))).build())
    }

    #[test]
    fn the_description_default_is_the_schemas() {
        assert_eq!(SCHEMA.prop("description").and_then(|p| p.default_value()), Some(json!(DEFAULT_DESCRIPTION)));
        assert_eq!(Spec::from(&desired(json!({"subnet_ids": ["subnet-a"]}))).unwrap().description, DEFAULT_DESCRIPTION);
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        for props in [
            json!({}),
            json!({"subnet_ids": []}),
            json!({"subnet_ids": "subnet-a"}),
            json!({"subnet_ids": ["subnet-a", 7]}),
            json!({"subnet_ids": ["subnet-a"], "description": ""}),
            json!({"subnet_ids": ["subnet-a"], "description": 7}),
            json!({"subnet_ids": ["subnet-a"], "vpc": "vpc-1"}),
        ] {
            let d = desired(props.clone());
            assert!(Spec::from(&d).is_err(), "builder accepts {props}");
            assert!(crate::rds_common::test_support::schema_refuses(&SCHEMA, &d.props), "schema accepts {props}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every props value the schema accepts becomes a CreateDBSubnetGroup request.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
            let spec = Spec::from(&desired(Value::Object(props)));
            proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
            let spec = spec.unwrap();
            proptest::prop_assert!(!spec.subnet_ids.is_empty() && !spec.description.is_empty());
            proptest::prop_assert!(NAMING.rule.violation(&spec.name).is_none(), "{}", spec.name);
        }
    }

    #[tokio::test]
    async fn create_sends_subnets_description_and_tags_and_answers_what_was_asked() {
        let seen: Arc<Mutex<Option<CreateDbSubnetGroupInput>>> = Arc::default();
        let sink = seen.clone();
        let create = mock!(Client::create_db_subnet_group).then_compute_output(move |input| {
            *sink.lock().unwrap() = Some(input.clone());
            CreateDbSubnetGroupOutput::builder().db_subnet_group(group(&["subnet-b", "subnet-a"], DEFAULT_DESCRIPTION)).build()
        });
        let d = desired(json!({"subnet_ids": ["subnet-b", "subnet-a"]}));
        let describe = describe_rule(&["subnet-b", "subnet-a"], DEFAULT_DESCRIPTION);
        let tags = tags_rule(d.tags.clone());

        let observed = kind(&[&create, &describe, &tags]).create(&d).await.unwrap();

        let input = seen.lock().unwrap().take().unwrap();
        assert_eq!(input.db_subnet_group_name(), Some(NAME), "the derived default name");
        assert_eq!(input.db_subnet_group_description(), Some(DEFAULT_DESCRIPTION));
        assert_eq!(input.subnet_ids(), ["subnet-b", "subnet-a"]);
        let sent = crate::rds_common::tags_from(input.tags());
        assert_eq!(sent, d.tags, "tags go in the creating call");
        assert_eq!(observed.id, NAME);
        assert_eq!(observed.props["subnet_ids"], json!(["subnet-a", "subnet-b"]), "sorted");
        assert_eq!(observed.props["description"], json!(DEFAULT_DESCRIPTION));
        assert_eq!(observed.attrs["arn"], json!(ARN));
        assert_eq!(observed.tags, d.tags);
        // The create's answer is the group: nothing is read back, and it is what a read returns.
        assert_eq!((describe.num_calls(), tags.num_calls()), (0, 0));
        assert_eq!(Some(observed), kind(&[&describe, &tags]).read(NAME).await.unwrap());
        for op in ["CreateDBSubnetGroup", "DescribeDBSubnetGroups", "ListTagsForResource"] {
            assert!(IAM.create.contains(&format!("rds:{op}").as_str()), "{op}");
        }
    }

    #[tokio::test]
    async fn names_with_capitals_fail_before_any_call() {
        let result = kind(&[]).create(&desired(json!({"name": "Shop-DB", "subnet_ids": ["subnet-a"]}))).await;
        assert!(matches!(result, Err(ProviderError::Invalid(ref m)) if m.contains("\"shop-db\"")), "{result:?}");
    }

    #[tokio::test]
    async fn read_of_missing_group_is_none() {
        let describe = mock!(Client::describe_db_subnet_groups).then_error(|| DescribeDBSubnetGroupsError::generic(error("DBSubnetGroupNotFoundFault")));
        assert_eq!(kind(&[&describe]).read(NAME).await.unwrap(), None);
    }

    #[tokio::test]
    async fn delete_of_missing_group_is_ok_and_in_use_is_a_conflict() {
        let missing = mock!(Client::delete_db_subnet_group).then_error(|| DeleteDBSubnetGroupError::generic(error("DBSubnetGroupNotFoundFault")));
        kind(&[&missing]).delete(NAME).await.unwrap();
        let in_use = mock!(Client::delete_db_subnet_group).then_error(|| DeleteDBSubnetGroupError::generic(error("InvalidDBSubnetGroupStateFault")));
        assert!(matches!(kind(&[&in_use]).delete(NAME).await, Err(ProviderError::Conflict(_))));
    }

    #[tokio::test]
    async fn update_modifies_subnets_in_place_and_syncs_tags() {
        let modified: Arc<Mutex<Option<ModifyDbSubnetGroupInput>>> = Arc::default();
        let sink = modified.clone();
        let modify = mock!(Client::modify_db_subnet_group).then_compute_output(move |input| {
            *sink.lock().unwrap() = Some(input.clone());
            ModifyDbSubnetGroupOutput::builder().build()
        });
        let added: Arc<Mutex<Option<AddTagsToResourceInput>>> = Arc::default();
        let add_sink = added.clone();
        let add = mock!(Client::add_tags_to_resource).then_compute_output(move |input| {
            *add_sink.lock().unwrap() = Some(input.clone());
            AddTagsToResourceOutput::builder().build()
        });
        let removed: Arc<Mutex<Option<RemoveTagsFromResourceInput>>> = Arc::default();
        let remove_sink = removed.clone();
        let remove = mock!(Client::remove_tags_from_resource).then_compute_output(move |input| {
            *remove_sink.lock().unwrap() = Some(input.clone());
            RemoveTagsFromResourceOutput::builder().build()
        });
        let d = desired(json!({"subnet_ids": ["subnet-a", "subnet-b", "subnet-c"]}));
        let mut current = owner().tags();
        current.insert("stale".into(), "x".into());
        let describe = describe_rule(&["subnet-a", "subnet-b", "subnet-c"], DEFAULT_DESCRIPTION);
        let tags = tags_rule(current);

        kind(&[&modify, &add, &remove, &describe, &tags]).update(NAME, &d, &["subnet_ids".into(), "tags".into()]).await.unwrap();

        let input = modified.lock().unwrap().take().unwrap();
        assert_eq!(input.db_subnet_group_name(), Some(NAME));
        assert_eq!(input.subnet_ids(), ["subnet-a", "subnet-b", "subnet-c"]);
        assert_eq!(input.db_subnet_group_description(), Some(DEFAULT_DESCRIPTION), "unchanged description is kept, not cleared");
        let add = added.lock().unwrap().take().unwrap();
        assert_eq!(add.resource_name(), Some(ARN), "RDS tags by ARN");
        assert_eq!(crate::rds_common::tags_from(add.tags()), Tags::from([("Project".to_string(), "LegacyPlatform".to_string())]));
        assert_eq!(removed.lock().unwrap().take().unwrap().tag_keys(), ["stale".to_string()]);
        for op in ["ModifyDBSubnetGroup", "AddTagsToResource", "RemoveTagsFromResource", "DescribeDBSubnetGroups", "ListTagsForResource"] {
            assert!(IAM.update.contains(&format!("rds:{op}").as_str()), "{op}");
        }
    }

    #[tokio::test]
    async fn update_of_tags_alone_does_not_modify_the_group() {
        // No ModifyDBSubnetGroup rule: calling it would panic.
        let add = mock!(Client::add_tags_to_resource).then_output(|| AddTagsToResourceOutput::builder().build());
        let describe = describe_rule(&["subnet-a"], DEFAULT_DESCRIPTION);
        let tags = tags_rule(owner().tags());
        kind(&[&add, &describe, &tags]).update(NAME, &desired(json!({"subnet_ids": ["subnet-a"]})), &["tags".into()]).await.unwrap();
        assert_eq!(add.num_calls(), 1);
    }

    #[tokio::test]
    async fn find_owned_ignores_a_group_with_foreign_tags() {
        let describe = describe_rule(&["subnet-a"], DEFAULT_DESCRIPTION);
        let foreign = tags_rule(Tags::from([("cairn:stack".to_string(), "other".to_string())]));
        assert_eq!(kind(&[&describe, &foreign]).find_owned(&desired(json!({"subnet_ids": ["subnet-a"]}))).await.unwrap(), None);
        let ours = tags_rule(owner().tags());
        let found = kind(&[&describe, &ours]).find_owned(&desired(json!({"subnet_ids": ["subnet-a"]}))).await.unwrap();
        assert_eq!(found.map(|o| o.id), Some(NAME.to_string()));
    }

    #[tokio::test]
    async fn create_answered_already_exists_adopts_ours_and_refuses_another() {
        let create = mock!(Client::create_db_subnet_group)
            .then_error(|| aws_sdk_rds::operation::create_db_subnet_group::CreateDBSubnetGroupError::generic(error("DBSubnetGroupAlreadyExists")));
        let describe = describe_rule(&["subnet-a"], DEFAULT_DESCRIPTION);
        let want = desired(json!({"subnet_ids": ["subnet-a"]}));
        let ours = tags_rule(want.tags.clone());
        assert_eq!(kind(&[&create, &describe, &ours]).create(&want).await.map(|o| o.id), Ok(NAME.to_string()));
        let theirs = tags_rule(Tags::new());
        crate::adopt::testing::assert_refused(kind(&[&create, &describe, &theirs]).create(&want).await, &format!("DB subnet group {NAME}"));
    }
}
