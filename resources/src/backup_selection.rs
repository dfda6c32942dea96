//! `aws.backup.selection`: which resources an AWS Backup plan backs up (by ARN or by tag), and the role it uses; immutable, any change replaces it.

use async_trait::async_trait;
use aws_sdk_backup::error::ProvideErrorMetadata;
use aws_sdk_backup::types::{BackupSelection, Condition, ConditionType};
use aws_sdk_backup::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, PropsRule, ProviderError, ResourceKind, ResourceSchema, TextRule,
};
use serde_json::{json, Value};

use crate::adopt::changed;
use crate::backup_common::{creator_request_id, DISPLAY_NAME};
use crate::error::{classify, found, gone, SdkResultExt};
use crate::kit::errors::invalid;

const SELECTION_TAG: PropType = PropType::Struct(&[
    PropSpec::new("type", PropType::Enum(&["STRINGEQUALS"]), "How the tag is compared.").required(),
    PropSpec::new("key", PropType::Text(TextRule::len(1, 128)), "Tag key.").required(),
    PropSpec::new("value", PropType::Text(TextRule::len(0, 256)), "Tag value.").required(),
]);

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.backup.selection",
    doc: "Assigns resources to an AWS Backup plan, by ARN or by tag, with the IAM role AWS Backup assumes to back them up. Selections cannot be changed or tagged: any change replaces one.",
    props: &[
        PropSpec::new("name", PropType::String, "Selection name (1 to 50 letters, digits and `-_.`); defaults to a name derived from stack, env and address.")
            .force_new()
            .naming(NAMING),
        PropSpec::new("plan_id", PropType::Text(TextRule::len(1, 256)), "The plan's id (`${plan.id}`).").required().force_new(),
        PropSpec::new(
            "iam_role_arn",
            PropType::Text(TextRule::len(20, 2048)),
            "Role AWS Backup assumes to make the backups: trusted by backup.amazonaws.com, with AWSBackupServiceRolePolicyForBackup attached.",
        )
        .required()
        .force_new()
        .rule(role_rule),
        PropSpec::new("resources", PropType::List(&PropType::Text(TextRule::len(1, 2048))), "ARNs of the resources to back up (`*` wildcards allowed).").force_new(),
        PropSpec::new("selection_tag", PropType::List(&SELECTION_TAG), "Back up every resource carrying one of these tags.").force_new(),
    ],
    attrs: &["selection_id", "plan_id", "name"],
    taggable: false,
    rules: &[PropsRule { props: &["resources", "selection_tag"], check: something_selected }],
};

/// Selection names: 1 to 50 letters, digits and `-_.`, unique within the plan.
pub const NAMING: Naming = Naming::new(DISPLAY_NAME, NameScope::Region);

fn role_rule(v: &Value) -> Vec<String> {
    match v.as_str() {
        Some(s) if !crate::kit::arns::is_arn_of(s, "iam", "role/") => vec![format!("must be an IAM role ARN, not {s:?}")],
        _ => vec![],
    }
}

fn something_selected(props: &Props) -> Vec<String> {
    let non_empty = |p: &str| props.get(p).and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    if non_empty("resources") || non_empty("selection_tag") {
        vec![]
    } else {
        vec!["a selection needs `resources` or `selection_tag`: without either it backs up nothing".into()]
    }
}

/// The physical id: a selection is addressed by its plan's id and its own.
fn id_of(plan_id: &str, selection_id: &str) -> String {
    format!("{plan_id}/{selection_id}")
}

fn split_id(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once('/').ok_or_else(|| ProviderError::Invalid(format!("{}: {id:?} is not PLAN_ID/SELECTION_ID", SCHEMA.kind)))
}

/// The BackupSelection CreateBackupSelection sends, after the schema's checks.
fn selection_input(desired: &Desired) -> Result<(String, BackupSelection), ProviderError> {
    crate::schema_check::check(&SCHEMA, &desired.props)?;
    let name = desired.name();
    if let Some(why) = NAMING.rule.violation(&name) {
        return Err(invalid(SCHEMA.kind, format!("selection name {name:?} {why}")));
    }
    let strings = |p: &str| -> Vec<String> {
        desired.props.get(p).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
    };
    let mut tags = vec![];
    for t in desired.props.get("selection_tag").and_then(Value::as_array).into_iter().flatten() {
        let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let c = Condition::builder().condition_type(ConditionType::from(s("type").as_str())).condition_key(s("key")).condition_value(s("value"));
        tags.push(c.build().map_err(|e| invalid(SCHEMA.kind, e))?);
    }
    let resources = strings("resources");
    let selection = BackupSelection::builder()
        .selection_name(name)
        .iam_role_arn(desired.str("iam_role_arn").unwrap_or_default())
        .set_resources((!resources.is_empty()).then_some(resources))
        .set_list_of_tags((!tags.is_empty()).then_some(tags))
        .build()
        .map_err(|e| invalid(SCHEMA.kind, e))?;
    Ok((desired.str("plan_id").unwrap_or_default().to_string(), selection))
}

/// A selection in the stack's shapes.
fn observed(plan_id: &str, selection_id: &str, s: &BackupSelection) -> Observed {
    let mut props = Props::new();
    props.insert("name".into(), json!(s.selection_name()));
    props.insert("plan_id".into(), json!(plan_id));
    props.insert("iam_role_arn".into(), json!(s.iam_role_arn()));
    if !s.resources().is_empty() {
        props.insert("resources".into(), json!(s.resources()));
    }
    let tags: Vec<Value> =
        s.list_of_tags().iter().map(|c| json!({"type": c.condition_type().as_str(), "key": c.condition_key(), "value": c.condition_value()})).collect();
    if !tags.is_empty() {
        props.insert("selection_tag".into(), Value::Array(tags));
    }
    let mut attrs = Props::new();
    attrs.insert("selection_id".into(), json!(selection_id));
    attrs.insert("plan_id".into(), json!(plan_id));
    attrs.insert("name".into(), json!(s.selection_name()));
    Observed { id: id_of(plan_id, selection_id), props, attrs, tags: Default::default() }
}

crate::kit::client::client_kind!(BackupSelectionKind, Client, backup);

impl BackupSelectionKind {
    /// The newest selection named `name` in the plan, by id; `None` when the plan is gone too.
    async fn named(&self, plan_id: &str, name: &str) -> Result<Option<String>, ProviderError> {
        let mut newest: Option<(i64, String)> = None;
        let mut token: Option<String> = None;
        loop {
            let sent = self.client.list_backup_selections().backup_plan_id(plan_id).set_next_token(token.take()).send().await;
            let Some(page) = found(sent.op("ListBackupSelections"))? else { return Ok(None) };
            for s in page.backup_selections_list().iter().filter(|s| s.selection_name() == Some(name)) {
                let when = s.creation_date().map(|d| d.secs()).unwrap_or(0);
                if let Some(id) = s.selection_id().filter(|_| newest.as_ref().is_none_or(|(t, _)| when >= *t)) {
                    newest = Some((when, id.to_string()));
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(newest.map(|(_, id)| id)),
            }
        }
    }
}

#[async_trait]
impl ResourceKind for BackupSelectionKind {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let (plan_id, selection_id) = split_id(id)?;
        let sent = self.client.get_backup_selection().backup_plan_id(plan_id).selection_id(selection_id).send().await;
        let Some(out) = found(sent.op("GetBackupSelection"))? else { return Ok(None) };
        Ok(out.backup_selection().map(|s| observed(plan_id, selection_id, s)))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let (plan_id, selection) = selection_input(desired)?;
        let sent = self
            .client
            .create_backup_selection()
            .backup_plan_id(&plan_id)
            .backup_selection(selection.clone())
            .creator_request_id(creator_request_id(desired, "selection"))
            .send()
            .await;
        let out = match sent {
            // A selection of this name in the plan: ours from an attempt whose answer was lost.
            // Selections carry no tags to prove it: the plan is this stack's, the name derives
            // from the address, and it must select exactly what is asked (nothing changes in place).
            Err(e) if e.code() == Some("AlreadyExistsException") => {
                let err = classify("CreateBackupSelection", e);
                let Some(existing) = self.find_owned(desired).await? else { return Err(err) };
                let differs = changed(&SCHEMA, desired, &existing);
                if differs.is_empty() {
                    return Ok(existing);
                }
                return Err(ProviderError::Conflict(format!(
                    "{}: backup selection {} already exists in plan {plan_id} and differs in {}; destroy it or choose another name",
                    SCHEMA.kind,
                    selection.selection_name(),
                    differs.join(", ")
                )));
            }
            other => other.op("CreateBackupSelection")?,
        };
        let selection_id = out.selection_id().ok_or_else(|| ProviderError::Fatal("CreateBackupSelection: no selection id in the response".into()))?;
        Ok(observed(&plan_id, selection_id, &selection))
    }

    /// Every prop forces a replacement; nothing is ever changed in place.
    async fn update(&self, id: &str, _desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        Err(ProviderError::Invalid(format!("{}: {id} cannot change in place ({}); a selection is replaced", SCHEMA.kind, changed.join(", "))))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let (plan_id, selection_id) = split_id(id)?;
        gone(self.client.delete_backup_selection().backup_plan_id(plan_id).selection_id(selection_id).send().await.map(|_| ()).op("DeleteBackupSelection"))
    }

    /// By name within the plan: selections have no tags, and their name derives from the address.
    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let Some(plan_id) = desired.str("plan_id") else { return Ok(None) };
        match self.named(plan_id, &desired.name()).await? {
            Some(selection_id) => self.read(&id_of(plan_id, &selection_id)).await,
            None => Ok(None),
        }
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => &["backup:GetBackupSelection"],
            // PassRole: AWS Backup assumes the selection's role. ListBackupSelections: a create
            // that meets its own selection adopts it.
            Operation::Create => &["backup:CreateBackupSelection", "backup:ListBackupSelections", "backup:GetBackupSelection", "iam:PassRole"],
            Operation::Update => &["backup:GetBackupSelection"],
            Operation::Delete => &["backup:DeleteBackupSelection"],
        }
    }
}

#[cfg(test)]
#[path = "backup_selection_tests.rs"]
mod tests;
