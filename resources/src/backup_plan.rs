//! `aws.backup.plan`: an AWS Backup plan, its rules (schedule, windows, retention, copies) and advanced settings.

use async_trait::async_trait;
use aws_sdk_backup::error::ProvideErrorMetadata;
use aws_sdk_backup::types::{AdvancedBackupSetting, BackupPlan, BackupPlanInput, BackupRule, BackupRuleInput, CopyAction, Lifecycle};
use aws_sdk_backup::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, TextRule,
};
use serde_json::{json, Map, Value};

use crate::adopt::adopt;
use crate::backup_common::{backup_tags, creator_request_id, list_tags, set_tags, DISPLAY_NAME};
use crate::error::{classify, found, gone, SdkResultExt};
use crate::kit::errors::invalid;

/// Days and minutes: AWS states lower bounds only; the upper one is the API's integer.
const MAX: i64 = i32::MAX as i64;

/// `delete_after` must come at least this many days after `cold_storage_after`.
const COLD_MIN_DAYS: i64 = 90;

const LIFECYCLE: PropType = PropType::Struct(&[
    PropSpec::new("cold_storage_after", PropType::IntRange(1, MAX), "Days after creation before a recovery point moves to cold storage."),
    PropSpec::new(
        "delete_after",
        PropType::IntRange(1, MAX),
        "Days after creation before a recovery point is deleted; at least 90 days after `cold_storage_after`.",
    ),
]);

const COPY_ACTION: PropType = PropType::Struct(&[
    PropSpec::new("destination_vault_arn", PropType::Text(TextRule::len(20, 2048)), "ARN of the vault the copy goes to (another region or account).")
        .required(),
    PropSpec::new("lifecycle", LIFECYCLE, "Retention of the copy."),
]);

const RULE: PropType = PropType::Struct(&[
    PropSpec::new("rule_name", PropType::Text(DISPLAY_NAME), "Rule name: 1 to 50 letters, digits and `-_.`, unique in the plan.").required(),
    PropSpec::new("target_vault_name", PropType::Text(TextRule::len(2, 50).chars("-_")), "The vault the recovery points go to.").required(),
    PropSpec::new("schedule", PropType::Text(TextRule::len(6, 256)), "When backups start: a `cron(...)` expression in UTC.").required(),
    PropSpec::new("start_window", PropType::IntRange(60, MAX), "Minutes a backup may wait to start before it is cancelled (at least 60).").required(),
    PropSpec::new(
        "completion_window",
        PropType::IntRange(61, MAX),
        "Minutes a backup may run, from its start, before it is cancelled; more than `start_window`.",
    )
    .required(),
    PropSpec::new("lifecycle", LIFECYCLE, "Retention: `{ delete_after: 30 }`, and `cold_storage_after` for resources that support it."),
    PropSpec::new("recovery_point_tags", PropType::StringMap, "Tags put on every recovery point the rule makes."),
    PropSpec::new("copy_action", PropType::List(&COPY_ACTION), "Copies of each recovery point into other vaults."),
]);

const ADVANCED: PropType = PropType::Struct(&[
    PropSpec::new("resource_type", PropType::Enum(&["EC2"]), "The resource type the options are for.").required(),
    PropSpec::new("backup_options", PropType::StringMap, "Options, e.g. `{ WindowsVSS: enabled }`.").required(),
]);

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.backup.plan",
    doc: "An AWS Backup plan: rules saying when backups run, which vault keeps them and for how long. Resources join it through `aws.backup.selection`.",
    props: &[
        PropSpec::new("name", PropType::String, "Plan name (1 to 50 letters, digits and `-_.`); defaults to a name derived from stack, env and address.")
            .naming(NAMING),
        PropSpec::new("rule", PropType::List(&RULE), "The plan's rules, at least one.").required().rule(rules_rule),
        PropSpec::new("advanced_backup_setting", PropType::List(&ADVANCED), "Per resource type options (Windows VSS for EC2)."),
    ],
    attrs: &["arn", "name", "version"],
    taggable: true,
    rules: &[],
};

/// Plan names: 1 to 50 letters, digits and `-_.`. Plans are found again by name and tags.
pub const NAMING: Naming = Naming::new(DISPLAY_NAME, NameScope::Region);

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

fn lifecycle_problems(what: &str, lc: Option<&Value>, out: &mut Vec<String>) {
    let Some(lc) = lc.filter(|v| v.is_object()) else { return };
    match (int(lc, "cold_storage_after"), int(lc, "delete_after")) {
        (None, None) => out.push(format!("{what}: `lifecycle` needs `delete_after` or `cold_storage_after`")),
        (Some(cold), Some(delete)) if delete < cold + COLD_MIN_DAYS => out.push(format!(
            "{what}: `delete_after` ({delete}) must be at least {COLD_MIN_DAYS} days after `cold_storage_after` ({cold}), AWS's minimum in cold storage"
        )),
        _ => {}
    }
}

/// Across the rules: at least one, unique names, cron schedules, windows and retention AWS accepts.
fn rules_rule(v: &Value) -> Vec<String> {
    let Some(rules) = v.as_array() else { return vec![] };
    let mut out = vec![];
    if rules.is_empty() {
        out.push("a plan needs at least one rule".into());
    }
    let mut names = std::collections::BTreeSet::new();
    for r in rules {
        let name = r.get("rule_name").and_then(Value::as_str).unwrap_or("?");
        let what = format!("rule {name:?}");
        if !names.insert(name) {
            out.push(format!("{what} appears twice; rule names are unique in a plan"));
        }
        if let Some(s) = r.get("schedule").and_then(Value::as_str) {
            if !(s.starts_with("cron(") && s.ends_with(')')) {
                out.push(format!("{what}: `schedule` must be a cron(...) expression, not {s:?}"));
            }
        }
        if let (Some(start), Some(done)) = (int(r, "start_window"), int(r, "completion_window")) {
            if done <= start {
                out.push(format!("{what}: `completion_window` ({done}) must be longer than `start_window` ({start})"));
            }
        }
        lifecycle_problems(&what, r.get("lifecycle"), &mut out);
        for c in r.get("copy_action").and_then(Value::as_array).into_iter().flatten() {
            lifecycle_problems(&format!("{what}, copy_action"), c.get("lifecycle"), &mut out);
        }
    }
    out
}

fn lifecycle_input(v: Option<&Value>) -> Option<Lifecycle> {
    let v = v.filter(|v| v.is_object())?;
    Some(Lifecycle::builder().set_move_to_cold_storage_after_days(int(v, "cold_storage_after")).set_delete_after_days(int(v, "delete_after")).build())
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn string_map(v: Option<&Value>) -> Option<std::collections::HashMap<String, String>> {
    let m = v.and_then(Value::as_object).filter(|m| !m.is_empty())?;
    Some(m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect())
}

/// The BackupPlanInput CreateBackupPlan and UpdateBackupPlan send, after the schema's checks.
fn plan_input(desired: &Desired) -> Result<BackupPlanInput, ProviderError> {
    crate::schema_check::check(&SCHEMA, &desired.props)?;
    let name = desired.name();
    if let Some(why) = NAMING.rule.violation(&name) {
        return Err(invalid(SCHEMA.kind, format!("plan name {name:?} {why}")));
    }
    let mut rules = vec![];
    for r in desired.props.get("rule").and_then(Value::as_array).into_iter().flatten() {
        let mut copies = vec![];
        for c in r.get("copy_action").and_then(Value::as_array).into_iter().flatten() {
            let copy = CopyAction::builder().destination_backup_vault_arn(text(c, "destination_vault_arn")).set_lifecycle(lifecycle_input(c.get("lifecycle")));
            copies.push(copy.build().map_err(|e| invalid(SCHEMA.kind, e))?);
        }
        let rule = BackupRuleInput::builder()
            .rule_name(text(r, "rule_name"))
            .target_backup_vault_name(text(r, "target_vault_name"))
            .schedule_expression(text(r, "schedule"))
            .set_start_window_minutes(int(r, "start_window"))
            .set_completion_window_minutes(int(r, "completion_window"))
            .set_lifecycle(lifecycle_input(r.get("lifecycle")))
            .set_recovery_point_tags(string_map(r.get("recovery_point_tags")))
            .set_copy_actions((!copies.is_empty()).then_some(copies));
        rules.push(rule.build().map_err(|e| invalid(SCHEMA.kind, e))?);
    }
    let advanced: Vec<AdvancedBackupSetting> = desired
        .props
        .get("advanced_backup_setting")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| AdvancedBackupSetting::builder().resource_type(text(a, "resource_type")).set_backup_options(string_map(a.get("backup_options"))).build())
        .collect();
    BackupPlanInput::builder()
        .backup_plan_name(name)
        .set_rules(Some(rules))
        .set_advanced_backup_settings((!advanced.is_empty()).then_some(advanced))
        .build()
        .map_err(|e| invalid(SCHEMA.kind, e))
}

fn lifecycle_props(lc: Option<&Lifecycle>) -> Option<Value> {
    let lc = lc?;
    let mut m = Map::new();
    if let Some(d) = lc.move_to_cold_storage_after_days() {
        m.insert("cold_storage_after".into(), json!(d));
    }
    if let Some(d) = lc.delete_after_days() {
        m.insert("delete_after".into(), json!(d));
    }
    (!m.is_empty()).then_some(Value::Object(m))
}

fn tags_value(tags: Option<&std::collections::HashMap<String, String>>) -> Option<Value> {
    let m: std::collections::BTreeMap<&String, &String> = tags?.iter().collect();
    (!m.is_empty()).then(|| json!(m))
}

/// One rule in the stack's shape; what AWS adds (rule ids, time zones) is left out.
fn rule_props(r: &BackupRule) -> Value {
    let mut m = Map::new();
    m.insert("rule_name".into(), json!(r.rule_name()));
    m.insert("target_vault_name".into(), json!(r.target_backup_vault_name()));
    if let Some(s) = r.schedule_expression() {
        m.insert("schedule".into(), json!(s));
    }
    if let Some(w) = r.start_window_minutes() {
        m.insert("start_window".into(), json!(w));
    }
    if let Some(w) = r.completion_window_minutes() {
        m.insert("completion_window".into(), json!(w));
    }
    if let Some(lc) = lifecycle_props(r.lifecycle()) {
        m.insert("lifecycle".into(), lc);
    }
    if let Some(t) = tags_value(r.recovery_point_tags()) {
        m.insert("recovery_point_tags".into(), t);
    }
    let copies: Vec<Value> = r
        .copy_actions()
        .iter()
        .map(|c| {
            let mut cm = Map::new();
            cm.insert("destination_vault_arn".into(), json!(c.destination_backup_vault_arn()));
            if let Some(lc) = lifecycle_props(c.lifecycle()) {
                cm.insert("lifecycle".into(), lc);
            }
            Value::Object(cm)
        })
        .collect();
    if !copies.is_empty() {
        m.insert("copy_action".into(), Value::Array(copies));
    }
    Value::Object(m)
}

fn advanced_props(settings: &[AdvancedBackupSetting]) -> Option<Value> {
    let list: Vec<Value> = settings
        .iter()
        .map(|a| json!({"resource_type": a.resource_type().unwrap_or_default(), "backup_options": tags_value(a.backup_options()).unwrap_or(json!({}))}))
        .collect();
    (!list.is_empty()).then_some(Value::Array(list))
}

/// A plan as GetBackupPlan describes it, in the stack's shapes.
fn plan_props(plan: &BackupPlan) -> Props {
    let mut props = Props::new();
    props.insert("name".into(), json!(plan.backup_plan_name()));
    props.insert("rule".into(), Value::Array(plan.rules().iter().map(rule_props).collect()));
    if let Some(a) = advanced_props(plan.advanced_backup_settings()) {
        props.insert("advanced_backup_setting".into(), a);
    }
    props
}

fn attrs(arn: &str, name: &str, version: &str) -> Props {
    let mut a = Props::new();
    a.insert("arn".into(), json!(arn));
    a.insert("name".into(), json!(name));
    a.insert("version".into(), json!(version));
    a
}

/// What was sent, in the stack's shapes (defaults AWS fills in are part of the schema's required props).
fn sent_props(input: &BackupPlanInput) -> Props {
    let rules: Vec<BackupRule> = input
        .rules()
        .iter()
        .map(|r| {
            BackupRule::builder()
                .rule_name(r.rule_name())
                .target_backup_vault_name(r.target_backup_vault_name())
                .set_schedule_expression(r.schedule_expression().map(str::to_string))
                .set_start_window_minutes(r.start_window_minutes())
                .set_completion_window_minutes(r.completion_window_minutes())
                .set_lifecycle(r.lifecycle().cloned())
                .set_recovery_point_tags(r.recovery_point_tags().cloned())
                .set_copy_actions(Some(r.copy_actions().to_vec()))
                .build()
        })
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    let plan = BackupPlan::builder()
        .backup_plan_name(input.backup_plan_name())
        .set_rules(Some(rules))
        .set_advanced_backup_settings(Some(input.advanced_backup_settings().to_vec()))
        .build();
    plan.map(|p| plan_props(&p)).unwrap_or_default()
}

crate::kit::client::client_kind!(BackupPlanKind, Client, backup);

impl BackupPlanKind {
    /// Plans named `name` that are not deleted, newest first.
    async fn named(&self, name: &str) -> Result<Vec<String>, ProviderError> {
        let mut found: Vec<(i64, String)> = vec![];
        let mut token: Option<String> = None;
        loop {
            let page = self.client.list_backup_plans().set_next_token(token.take()).send().await.op("ListBackupPlans")?;
            for p in page.backup_plans_list() {
                if p.backup_plan_name() == Some(name) && p.deletion_date().is_none() {
                    if let Some(id) = p.backup_plan_id() {
                        found.push((p.creation_date().map(|d| d.secs()).unwrap_or(0), id.to_string()));
                    }
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        found.sort_by(|a, b| b.cmp(a));
        Ok(found.into_iter().map(|(_, id)| id).collect())
    }

    /// This owner's newest plan named as `desired` wants.
    async fn owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        for id in self.named(&desired.name()).await? {
            if let Some(o) = self.read(&id).await?.filter(|o| desired.owner.matches(&o.tags)) {
                return Ok(Some(o));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl ResourceKind for BackupPlanKind {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    /// A deleted plan is still described (with its deletion date): it reads as gone.
    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let Some(out) = found(self.client.get_backup_plan().backup_plan_id(id).send().await.op("GetBackupPlan"))? else { return Ok(None) };
        let Some(plan) = out.backup_plan().filter(|_| out.deletion_date().is_none()) else { return Ok(None) };
        let arn = out.backup_plan_arn().unwrap_or_default();
        let Some(tags) = list_tags(&self.client, arn).await? else { return Ok(None) };
        let name = plan.backup_plan_name();
        Ok(Some(Observed { id: id.to_string(), props: plan_props(plan), attrs: attrs(arn, name, out.version_id().unwrap_or_default()), tags }))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let input = plan_input(desired)?;
        let name = input.backup_plan_name().to_string();
        let sent = self
            .client
            .create_backup_plan()
            .backup_plan(input.clone())
            .set_backup_plan_tags(backup_tags(&desired.tags))
            .creator_request_id(creator_request_id(desired, "plan"))
            .send()
            .await;
        let out = match sent {
            // A plan of this name exists: ours from an attempt whose answer was lost, or someone else's.
            Err(e) if e.code() == Some("AlreadyExistsException") => {
                let err = classify("CreateBackupPlan", e);
                return match self.owned(desired).await? {
                    Some(existing) => adopt(self, desired, &format!("backup plan {name}"), existing).await,
                    None => Err(ProviderError::Conflict(format!(
                        "{}: backup plan {name} already exists and is not this stack's ({err}); choose another name, or delete or import the existing one",
                        SCHEMA.kind
                    ))),
                };
            }
            other => other.op("CreateBackupPlan")?,
        };
        let id = out.backup_plan_id().ok_or_else(|| ProviderError::Fatal("CreateBackupPlan: no plan id in the response".into()))?;
        Ok(Observed {
            id: id.to_string(),
            props: sent_props(&input),
            attrs: attrs(out.backup_plan_arn().unwrap_or_default(), &name, out.version_id().unwrap_or_default()),
            tags: desired.tags.clone(),
        })
    }

    /// Rules, name and settings go in one UpdateBackupPlan (a new version); tags by ARN.
    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let input = plan_input(desired)?;
        let mut current = self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{}: backup plan {id} is gone", SCHEMA.kind)))?;
        let arn = current.attrs.get("arn").and_then(Value::as_str).unwrap_or_default().to_string();
        if changed.iter().any(|c| c != "tags") {
            let out = self.client.update_backup_plan().backup_plan_id(id).backup_plan(input.clone()).send().await.op("UpdateBackupPlan")?;
            current.props = sent_props(&input);
            current.attrs = attrs(&arn, input.backup_plan_name(), out.version_id().unwrap_or_default());
        }
        if changed.iter().any(|c| c == "tags") {
            set_tags(&self.client, &arn, &current.tags, &desired.tags).await?;
            current.tags = desired.tags.clone();
        }
        Ok(current)
    }

    /// AWS refuses to delete a plan that still has selections: their deletes come first in the plan.
    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        gone(self.client.delete_backup_plan().backup_plan_id(id).send().await.map(|_| ()).op("DeleteBackupPlan"))
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        self.owned(desired).await
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        const READ: &[&str] = &["backup:GetBackupPlan", "backup:ListTags"];
        match op {
            Operation::Read => READ,
            // TagResource: tags given to CreateBackupPlan are authorised as TagResource too.
            // ListBackupPlans and the update actions: a create that meets its own plan adopts it.
            Operation::Create => &[
                "backup:CreateBackupPlan",
                "backup:TagResource",
                "backup:UntagResource",
                "backup:UpdateBackupPlan",
                "backup:ListBackupPlans",
                "backup:GetBackupPlan",
                "backup:ListTags",
            ],
            Operation::Update => &["backup:UpdateBackupPlan", "backup:TagResource", "backup:UntagResource", "backup:GetBackupPlan", "backup:ListTags"],
            Operation::Delete => &["backup:DeleteBackupPlan"],
        }
    }
}

#[cfg(test)]
#[path = "backup_plan_tests.rs"]
mod tests;
