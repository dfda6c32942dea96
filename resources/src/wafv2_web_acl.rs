//! `aws.wafv2.web_acl`: a WAFv2 web ACL with managed rule groups, rate limits and IP set rules.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_wafv2::types::{
    AllowAction, BlockAction, CaptchaAction, ChallengeAction, CountAction, DefaultAction, ExcludedRule, IpSetReferenceStatement, ManagedRuleGroupStatement,
    NoneAction, OverrideAction, RateBasedStatement, RateBasedStatementAggregateKeyType, Rule, RuleAction, RuleActionOverride, Scope, Statement,
    VisibilityConfig, WebAcl,
};
use aws_sdk_wafv2::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule};
use serde_json::{json, Map, Value};

use crate::adopt::{adopt, adopt_or};
use crate::error::{found, gone};
use crate::kit::errors::message_of;
use crate::kit::errors::ServiceResultExt;
use crate::kit::iam_actions::IamActions;
use crate::wafv2_common::{
    arn_rule, check_scope_region, description_param, list_tags, retry_on_lock, scope_of, sync_tags, visibility_config, visibility_json, waf_tags, PropReader,
    WafId, ARN, DESCRIPTION, NAME_RULE, NAMING, SCOPE, VISIBILITY, WAFV2,
};

const KIND: &str = "aws.wafv2.web_acl";

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: KIND,
    doc: "A WAFv2 web ACL. The id is `SCOPE/NAME/ID` (WAF needs all three); attach it to a load balancer with \
          aws.wafv2.web_acl_association using its `arn`.",
    props: &[
        PropSpec::new("name", PropType::String, "Web ACL name (letters, digits, _ and -). Defaults to a name derived from stack, env and address.")
            .force_new()
            .naming(NAMING),
        PropSpec::new("scope", SCOPE, "REGIONAL (ALB, API Gateway, ...) or CLOUDFRONT (us-east-1 only).").force_new().default("\"REGIONAL\""),
        PropSpec::new("description", DESCRIPTION, "What the ACL protects.").default("\"\""),
        PropSpec::new("default_action", PropType::Enum(&["allow", "block"]), "What happens to a request no rule decides: allow or block.").default("\"allow\""),
        PropSpec::new("visibility_config", VISIBILITY, "`{ cloudwatch_metrics_enabled: bool, metric_name: string, sampled_requests_enabled: bool }`.")
            .required(),
        PropSpec::new(
            "rules",
            PropType::List(&RULE),
            "Rules in priority order, each `{ name, priority, visibility_config, <statement> }` with exactly one statement: \
             `managed_rule_group: { vendor, name, version?, excluded_rules?: [rule names], rule_action_overrides?: [{ name, action: count|block|allow }] }` \
             (with `override_action: count` to only count; leave it out for none), \
             `rate_based: { limit, aggregate_key_type: IP }` with `action: block|count`, or `ip_set: { arn }` with `action: allow|block|count`. \
             Leave optional keys out rather than writing them empty.",
        )
        .default("[]")
        .rule(rules_rule),
    ],
    attrs: &["arn", "capacity", "web_acl_id"],
    taggable: true,
    rules: &[],
};

/// One rule's fields; `rule_rule` (run on each by `rules_rule`) says which statement goes with which action.
const RULE: PropType = PropType::Struct(&[
    PropSpec::new("name", PropType::Text(NAME_RULE), "The rule's name, unique in the ACL.").required(),
    PropSpec::new("priority", PropType::IntRange(0, i32::MAX as i64), "Evaluation order, lowest first.").required(),
    PropSpec::new("visibility_config", VISIBILITY, "Metrics and sampling for the rule.").required(),
    PropSpec::new(
        "managed_rule_group",
        PropType::Struct(&[
            PropSpec::new("vendor", PropType::Text(NAME_RULE), "The group's vendor, e.g. AWS.").required(),
            PropSpec::new("name", PropType::Text(NAME_RULE), "The group's name, e.g. AWSManagedRulesCommonRuleSet.").required(),
            PropSpec::new("version", PropType::Text(TextRule::len(1, 64).chars("_#:.-/")), "A pinned version; unset follows the vendor's default."),
            PropSpec::new("excluded_rules", PropType::List(&PropType::Text(NAME_RULE)), "Rules of the group that only count.").rule(non_empty),
            PropSpec::new(
                "rule_action_overrides",
                PropType::List(&PropType::Struct(&[
                    PropSpec::new("name", PropType::Text(NAME_RULE), "A rule of the group.").required(),
                    PropSpec::new("action", PropType::Enum(&["count", "block", "allow"]), "What that rule does instead.").required(),
                ])),
                "Per-rule actions replacing the group's own.",
            )
            .rule(non_empty),
        ]),
        "A managed rule group statement.",
    ),
    PropSpec::new(
        "rate_based",
        PropType::Struct(&[
            PropSpec::new("limit", PropType::IntRange(10, 2_000_000_000), "Requests per 5 minutes from one key.").required(),
            PropSpec::new("aggregate_key_type", PropType::Enum(&["IP"]), "What requests are counted by.").required(),
        ]),
        "A rate-based statement.",
    ),
    PropSpec::new(
        "ip_set",
        PropType::Struct(&[PropSpec::new("arn", ARN, "The IP set's ARN (`${blocklist.arn}`).").required().rule(arn_rule)]),
        "An IP set reference statement.",
    ),
    PropSpec::new("action", PropType::Enum(&["allow", "block", "count"]), "What a matching request gets (not for managed rule groups)."),
    PropSpec::new("override_action", PropType::Enum(&["count"]), "`count` to only count a managed group's matches; leave it out for none."),
]);

/// Optional lists are left out rather than written empty, so a read compares cleanly.
fn non_empty(list: &Value) -> Vec<String> {
    match list.as_array() {
        Some(items) if items.is_empty() => vec!["must be a non-empty list (leave it out for none)".into()],
        _ => vec![],
    }
}

/// Exactly one statement per rule, with the action that statement takes.
fn rule_rule(rule: &Value) -> Vec<String> {
    let Some(obj) = rule.as_object() else { return vec![] };
    let statements: Vec<&str> = ["managed_rule_group", "rate_based", "ip_set"].into_iter().filter(|k| obj.contains_key(*k)).collect();
    if statements.len() != 1 {
        return vec![format!("needs exactly one of managed_rule_group, rate_based, ip_set (has {})", statements.len())];
    }
    let action = obj.get("action").and_then(Value::as_str);
    match statements[0] {
        "managed_rule_group" if action.is_some() => vec!["a managed rule group takes override_action (count), not action".into()],
        "managed_rule_group" => vec![],
        kind if obj.contains_key("override_action") => vec![format!("override_action is only for managed rule groups; a {kind} rule takes action")],
        kind => {
            let allowed: &[&str] = if kind == "rate_based" { &["block", "count"] } else { &["allow", "block", "count"] };
            match action {
                Some(a) if allowed.contains(&a) => vec![],
                other => vec![format!("action must be one of {} for a {kind} rule, not {}", allowed.join(", "), other.unwrap_or("missing"))],
            }
        }
    }
}

/// Rule names are unique, and rules are listed by increasing priority: WAF reports them by
/// priority, so another order would differ from every read.
fn rules_rule(rules: &Value) -> Vec<String> {
    let mut out = vec![];
    let mut names = BTreeSet::new();
    let mut last: Option<i64> = None;
    for (i, rule) in rules.as_array().into_iter().flatten().enumerate() {
        out.extend(rule_rule(rule).into_iter().map(|m| format!("rules[{i}]: {m}")));
        if let Some(name) = rule.get("name").and_then(Value::as_str) {
            if !names.insert(name) {
                out.push(format!("rule names must be unique: \"{name}\" appears twice"));
            }
        }
        if let Some(priority) = rule.get("priority").and_then(Value::as_i64) {
            if let Some(prev) = last.filter(|prev| priority <= *prev) {
                out.push(format!("list rules in increasing priority with no two alike (rules[{i}] has {priority}, after {prev})"));
            }
            last = Some(priority);
        }
    }
    out
}

static IAM: IamActions = IamActions {
    read: &["wafv2:GetWebACL", "wafv2:ListTagsForResource"],
    create: &[
        // find_owned, which the engine runs before repeating a create interrupted by a crash.
        "wafv2:ListWebACLs",
        "wafv2:CreateWebACL",
        "wafv2:TagResource",
        "wafv2:GetWebACL",
        "wafv2:ListTagsForResource",
    ],
    update: &["wafv2:GetWebACL", "wafv2:UpdateWebACL", "wafv2:TagResource", "wafv2:UntagResource", "wafv2:ListTagsForResource"],
    delete: &["wafv2:GetWebACL", "wafv2:DeleteWebACL"],
};

crate::kit::client::client_kind!(Wafv2WebAcl, Client, wafv2);

impl Wafv2WebAcl {
    /// The ACL and its current lock token; `None` when it is gone.
    async fn get(&self, id: &WafId) -> Result<Option<(WebAcl, String)>, ProviderError> {
        let out = found(self.client.get_web_acl().name(&id.name).scope(id.scope.clone()).id(&id.id).send().await.op_in(&WAFV2, "GetWebACL"))?;
        Ok(out.and_then(|o| Some((o.web_acl()?.clone(), o.lock_token().unwrap_or_default().to_string()))))
    }

    /// Every web ACL of the desired name and scope, whoever made them (an emulator may hold several).
    async fn named(&self, spec: &Spec, besides: Option<&str>) -> Result<Vec<Observed>, ProviderError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self.client.list_web_acls().scope(spec.scope.clone()).set_next_marker(marker.clone()).send().await.op_in(&WAFV2, "ListWebACLs")?;
            for waf_id in page.web_acls().iter().filter(|s| s.name() == Some(spec.name.as_str()) && s.id() != besides).filter_map(|s| s.id()) {
                let id = WafId { scope: spec.scope.clone(), name: spec.name.clone(), id: waf_id.to_string() };
                if let Some(o) = found(self.observe(&id).await)?.flatten() {
                    out.push(o);
                }
            }
            match page.next_marker().filter(|m| !m.is_empty() && Some(*m) != marker.as_deref()) {
                Some(next) if !page.web_acls().is_empty() => marker = Some(next.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn observe(&self, id: &WafId) -> Result<Option<Observed>, ProviderError> {
        let Some((acl, _)) = self.get(id).await? else { return Ok(None) };
        let tags = list_tags(&self.client, acl.arn()).await?;
        Ok(Some(observed(id, &acl, tags)))
    }
}

/// The ACL as the stack writes it, from GetWebACL's answer.
fn observed(id: &WafId, acl: &WebAcl, tags: Tags) -> Observed {
    let mut rules: Vec<&Rule> = acl.rules().iter().collect();
    rules.sort_by_key(|r| r.priority());
    let default_action = match acl.default_action() {
        Some(a) if a.block().is_some() => "block",
        Some(a) if a.allow().is_some() => "allow",
        _ => "",
    };

    let mut props = Props::new();
    props.insert("name".into(), json!(acl.name()));
    props.insert("scope".into(), json!(id.scope.as_str()));
    props.insert("description".into(), json!(acl.description().unwrap_or_default()));
    props.insert("default_action".into(), json!(default_action));
    props.insert("visibility_config".into(), visibility_json(acl.visibility_config()));
    props.insert("rules".into(), Value::Array(rules.into_iter().map(rule_json).collect()));
    let mut attrs = Props::new();
    attrs.insert("arn".into(), json!(acl.arn()));
    attrs.insert("capacity".into(), json!(acl.capacity()));
    attrs.insert("web_acl_id".into(), json!(acl.id()));
    Observed { id: id.to_string(), props, attrs, tags }
}

fn action_name(action: Option<&RuleAction>) -> Value {
    match action {
        Some(a) if a.block().is_some() => json!("block"),
        Some(a) if a.allow().is_some() => json!("allow"),
        Some(a) if a.count().is_some() => json!("count"),
        Some(a) if a.captcha().is_some() => json!("captcha"),
        Some(a) if a.challenge().is_some() => json!("challenge"),
        _ => Value::Null,
    }
}

/// One rule in the stack's shape, optional keys left out when they hold their default.
fn rule_json(rule: &Rule) -> Value {
    let mut obj = Map::new();
    obj.insert("name".into(), json!(rule.name()));
    obj.insert("priority".into(), json!(rule.priority()));
    obj.insert("visibility_config".into(), visibility_json(rule.visibility_config()));
    let statement = rule.statement();
    if let Some(group) = statement.and_then(Statement::managed_rule_group_statement) {
        let mut g = Map::new();
        g.insert("vendor".into(), json!(group.vendor_name()));
        g.insert("name".into(), json!(group.name()));
        if let Some(version) = group.version() {
            g.insert("version".into(), json!(version));
        }
        if !group.excluded_rules().is_empty() {
            g.insert("excluded_rules".into(), json!(group.excluded_rules().iter().map(ExcludedRule::name).collect::<Vec<_>>()));
        }
        if !group.rule_action_overrides().is_empty() {
            let overrides: Vec<Value> =
                group.rule_action_overrides().iter().map(|o| json!({ "name": o.name(), "action": action_name(o.action_to_use()) })).collect();
            g.insert("rule_action_overrides".into(), Value::Array(overrides));
        }
        obj.insert("managed_rule_group".into(), Value::Object(g));
        if rule.override_action().and_then(OverrideAction::count).is_some() {
            obj.insert("override_action".into(), json!("count"));
        }
    } else if let Some(rate) = statement.and_then(Statement::rate_based_statement) {
        obj.insert("rate_based".into(), json!({ "limit": rate.limit(), "aggregate_key_type": rate.aggregate_key_type().as_str() }));
    } else if let Some(set) = statement.and_then(Statement::ip_set_reference_statement) {
        obj.insert("ip_set".into(), json!({ "arn": set.arn() }));
    } else {
        // A statement cairn does not model (made in the console): shown so the plan replaces it.
        obj.insert("unsupported_statement".into(), json!(true));
    }
    if rule.action().is_some() {
        obj.insert("action".into(), action_name(rule.action()));
    }
    Value::Object(obj)
}

fn rule_action(name: &str) -> RuleAction {
    match name {
        "block" => RuleAction::builder().block(BlockAction::builder().build()).build(),
        "count" => RuleAction::builder().count(CountAction::builder().build()).build(),
        "captcha" => RuleAction::builder().captcha(CaptchaAction::builder().build()).build(),
        "challenge" => RuleAction::builder().challenge(ChallengeAction::builder().build()).build(),
        _ => RuleAction::builder().allow(AllowAction::builder().build()).build(),
    }
}

/// The stack's rules, checked and turned into WAF's shape. Anything that would read back
/// differently (order, empty optional lists, spelled-out defaults) is refused here.
fn parse_rules(r: &PropReader<'_>) -> Result<Vec<Rule>, ProviderError> {
    let Some(value) = r.value("rules") else { return Ok(vec![]) };
    let items = value.as_array().ok_or_else(|| r.invalid(format!("rules must be a list, not {value}")))?;
    let mut names = BTreeSet::new();
    let mut last_priority: Option<i64> = None;
    let mut rules = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("rules[{i}]");
        let obj = item.as_object().ok_or_else(|| r.invalid(format!("{at} must be an object, not {item}")))?;
        const KEYS: [&str; 8] = ["name", "priority", "visibility_config", "managed_rule_group", "rate_based", "ip_set", "action", "override_action"];
        if let Some(key) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(r.invalid(format!("{at}: unknown key `{key}` (expected one of {})", KEYS.join(", "))));
        }
        let name =
            obj.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()).ok_or_else(|| r.invalid(format!("{at}.name must be a non-empty string")))?;
        let at = format!("rules[{i}] ({name})");
        if !names.insert(name) {
            return Err(r.invalid(format!("{at}: rule names must be unique")));
        }
        let priority = obj.get("priority").and_then(Value::as_i64).ok_or_else(|| r.invalid(format!("{at}.priority must be an integer")))?;
        if let Some(prev) = last_priority {
            if priority <= prev {
                // WAF reports rules by priority; another order would differ from every read.
                return Err(r.invalid(format!("{at}: list rules in increasing priority with no two alike ({priority} comes after {prev})")));
            }
        }
        last_priority = Some(priority);
        let priority = i32::try_from(priority).map_err(|_| r.invalid(format!("{at}.priority is out of range")))?;
        let visibility: VisibilityConfig = visibility_config(r, &format!("{at}.visibility_config"), obj.get("visibility_config"))?;

        let statements: Vec<&str> = ["managed_rule_group", "rate_based", "ip_set"].into_iter().filter(|k| obj.contains_key(*k)).collect();
        if statements.len() != 1 {
            return Err(r.invalid(format!("{at} needs exactly one of managed_rule_group, rate_based, ip_set (has {})", statements.len())));
        }
        let action = obj.get("action");
        let override_action = obj.get("override_action");
        let mut builder = Rule::builder().name(name).priority(priority).visibility_config(visibility);
        match statements[0] {
            "managed_rule_group" => {
                if action.is_some() {
                    return Err(r.invalid(format!("{at}: a managed rule group takes override_action (count), not action")));
                }
                builder = match override_action {
                    None => builder.override_action(OverrideAction::builder().none(NoneAction::builder().build()).build()),
                    Some(Value::String(s)) if s == "count" => builder.override_action(OverrideAction::builder().count(CountAction::builder().build()).build()),
                    Some(Value::String(s)) if s == "none" => {
                        return Err(r.invalid(format!("{at}: leave override_action out for \"none\" (the default), so the plan compares cleanly")))
                    }
                    Some(other) => return Err(r.invalid(format!("{at}.override_action must be \"count\" (or left out for none), not {other}"))),
                };
                builder = builder.statement(Statement::builder().managed_rule_group_statement(managed_group(r, &at, &obj["managed_rule_group"])?).build());
            }
            kind => {
                if override_action.is_some() {
                    return Err(r.invalid(format!("{at}: override_action is only for managed rule groups; use action")));
                }
                let allowed: &[&str] = if kind == "rate_based" { &["block", "count"] } else { &["allow", "block", "count"] };
                let action = match action {
                    Some(Value::String(a)) if allowed.contains(&a.as_str()) => a.as_str(),
                    other => {
                        return Err(r.invalid(format!(
                            "{at}.action must be one of {}, not {}",
                            allowed.join(", "),
                            other.map(Value::to_string).unwrap_or_else(|| "missing".into())
                        )))
                    }
                };
                let statement = if kind == "rate_based" { rate_statement(r, &at, &obj["rate_based"])? } else { ip_set_statement(r, &at, &obj["ip_set"])? };
                builder = builder.statement(statement).action(rule_action(action));
            }
        }
        rules.push(builder.build().map_err(|e| r.invalid(format!("{at}: {e}")))?);
    }
    Ok(rules)
}

fn managed_group(r: &PropReader<'_>, at: &str, value: &Value) -> Result<ManagedRuleGroupStatement, ProviderError> {
    let at = format!("{at}.managed_rule_group");
    let obj = value.as_object().ok_or_else(|| r.invalid(format!("{at} must be {{ vendor, name, version?, excluded_rules?, rule_action_overrides? }}")))?;
    if let Some(key) = obj.keys().find(|k| !["vendor", "name", "version", "excluded_rules", "rule_action_overrides"].contains(&k.as_str())) {
        return Err(r.invalid(format!("{at}: unknown key `{key}`")));
    }
    let text = |key: &str| obj.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let vendor = text("vendor").ok_or_else(|| r.invalid(format!("{at}.vendor is required (e.g. \"AWS\")")))?;
    let name = text("name").ok_or_else(|| r.invalid(format!("{at}.name is required (e.g. \"AWSManagedRulesCommonRuleSet\")")))?;
    if obj.get("version").is_some_and(|v| !v.is_string()) {
        return Err(r.invalid(format!("{at}.version must be a string")));
    }
    let mut builder = ManagedRuleGroupStatement::builder().vendor_name(vendor).name(name).set_version(text("version"));
    if let Some(excluded) = obj.get("excluded_rules") {
        let list = excluded
            .as_array()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| r.invalid(format!("{at}.excluded_rules must be a non-empty list of rule names (leave it out for none)")))?;
        for rule in list {
            let rule = rule.as_str().ok_or_else(|| r.invalid(format!("{at}.excluded_rules must hold rule names, not {rule}")))?;
            builder = builder.excluded_rules(ExcludedRule::builder().name(rule).build().map_err(|e| r.invalid(format!("{at}: {e}")))?);
        }
    }
    if let Some(overrides) = obj.get("rule_action_overrides") {
        let list = overrides
            .as_array()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| r.invalid(format!("{at}.rule_action_overrides must be a non-empty list of {{ name, action }} (leave it out for none)")))?;
        for item in list {
            let shape = || r.invalid(format!("{at}.rule_action_overrides items must be {{ name, action: count|block|allow }}, not {item}"));
            let o = item.as_object().filter(|o| o.len() == 2).ok_or_else(shape)?;
            let name = o.get("name").and_then(Value::as_str).ok_or_else(shape)?;
            let action = o.get("action").and_then(Value::as_str).filter(|a| ["count", "block", "allow"].contains(a)).ok_or_else(shape)?;
            let item = RuleActionOverride::builder().name(name).action_to_use(rule_action(action)).build().map_err(|e| r.invalid(format!("{at}: {e}")))?;
            builder = builder.rule_action_overrides(item);
        }
    }
    builder.build().map_err(|e| r.invalid(format!("{at}: {e}")))
}

fn rate_statement(r: &PropReader<'_>, at: &str, value: &Value) -> Result<Statement, ProviderError> {
    let at = format!("{at}.rate_based");
    let shape = || r.invalid(format!("{at} must be {{ limit: integer, aggregate_key_type: \"IP\" }}"));
    let obj = value.as_object().filter(|o| o.len() == 2).ok_or_else(shape)?;
    let limit = obj.get("limit").and_then(Value::as_i64).ok_or_else(shape)?;
    let key = obj.get("aggregate_key_type").and_then(Value::as_str).filter(|k| *k == "IP").ok_or_else(shape)?;
    let statement = RateBasedStatement::builder()
        .limit(limit)
        .aggregate_key_type(RateBasedStatementAggregateKeyType::from(key))
        .build()
        .map_err(|e| r.invalid(format!("{at}: {e}")))?;
    Ok(Statement::builder().rate_based_statement(statement).build())
}

fn ip_set_statement(r: &PropReader<'_>, at: &str, value: &Value) -> Result<Statement, ProviderError> {
    let at = format!("{at}.ip_set");
    let shape = || r.invalid(format!("{at} must be {{ arn: <IP set ARN> }} (e.g. ${{blocklist.arn}})"));
    let obj = value.as_object().filter(|o| o.len() == 1).ok_or_else(shape)?;
    let arn = obj.get("arn").and_then(Value::as_str).filter(|a| a.starts_with("arn:")).ok_or_else(shape)?;
    let statement = IpSetReferenceStatement::builder().arn(arn).build().map_err(|e| r.invalid(format!("{at}: {e}")))?;
    Ok(Statement::builder().ip_set_reference_statement(statement).build())
}

/// The stack's props, checked before any call.
struct Spec {
    name: String,
    scope: Scope,
    description: String,
    default_action: DefaultAction,
    visibility: VisibilityConfig,
    rules: Vec<Rule>,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        // The shapes, enums, ranges and rule orders are the schema's; values known only at
        // apply (an IP set's ARN) were not checked at validate, so the same checks run here.
        // `parse_rules` still refuses what it cannot build, as a guard.
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let r = PropReader::new(KIND, desired);
        let default_action = match r.str_or("default_action", "allow")?.as_str() {
            "allow" => DefaultAction::builder().allow(AllowAction::builder().build()).build(),
            "block" => DefaultAction::builder().block(BlockAction::builder().build()).build(),
            other => return Err(r.invalid(format!("default_action must be \"allow\" or \"block\", not {other:?}"))),
        };
        Ok(Spec {
            name: r.opt_str("name")?.unwrap_or_else(|| desired.default_name.clone()),
            scope: scope_of(KIND, &r.str_or("scope", "REGIONAL")?)?,
            description: r.str_or("description", "")?,
            default_action,
            visibility: visibility_config(&r, "visibility_config", r.value("visibility_config"))?,
            rules: parse_rules(&r)?,
        })
    }
}

#[async_trait]
impl ResourceKind for Wafv2WebAcl {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let id = WafId::parse(KIND, id)?;
        Ok(found(self.observe(&id).await)?.flatten())
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        // WAF has no call that reads several ACLs with their rules: one at a time, side by side.
        let client = self.client.clone();
        crate::read_each::read_each(ids, || Wafv2WebAcl::from_client(client.clone())).await
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        check_scope_region(KIND, &spec.scope, &self.client)?;
        // Names are unique per scope; an emulator may not enforce that, so look first rather
        // than make a second ACL when an earlier attempt's answer was lost.
        let what = format!("web ACL {} ({})", spec.name, spec.scope.as_str());
        let named = self.named(&spec, None).await?;
        if let Some(existing) = named.iter().find(|o| desired.owner.matches(&o.tags)).or(named.first()) {
            return adopt(self, desired, &what, existing.clone()).await;
        }
        let out = self
            .client
            .create_web_acl()
            .name(&spec.name)
            .scope(spec.scope.clone())
            .default_action(spec.default_action.clone())
            .set_description(description_param(&spec.description))
            .set_rules(Some(spec.rules.clone()))
            .visibility_config(spec.visibility.clone())
            .set_tags(Some(waf_tags(&desired.tags)?))
            .send()
            .await
            .op_in(&WAFV2, "CreateWebACL");
        let out = match out {
            Err(e) if message_of(e.clone()).contains("WAFDuplicateItemException") => {
                let named = self.named(&spec, None).await?;
                let existing = named.iter().find(|o| desired.owner.matches(&o.tags)).or(named.first()).cloned();
                return adopt_or(self, desired, &what, existing, e).await;
            }
            other => other?,
        };
        let waf_id = out.summary().and_then(|s| s.id()).ok_or_else(|| ProviderError::Fatal("CreateWebACL: no id in the response".into()))?;
        let id = WafId { scope: spec.scope.clone(), name: spec.name.clone(), id: waf_id.to_string() };
        // CreateWebACL answers only a summary, and the capacity WAF computed for the rules
        // is in none of it: GetWebACL has it. The tags are what was sent.
        let (acl, _) = self.get(&id).await?.ok_or_else(|| ProviderError::Retryable(format!("CreateWebACL: {id} is not readable yet")))?;
        let created = observed(&id, &acl, desired.tags.clone());
        // An emulator that does not enforce unique names makes a second one when the SDK
        // repeats a create whose answer was lost; ours of the same name besides this one are
        // such strays (best effort: the create itself has succeeded).
        if let Ok(named) = self.named(&spec, Some(waf_id)).await {
            for stray in named.iter().filter(|o| desired.owner.matches(&o.tags)) {
                let _ = self.delete(&stray.id).await;
            }
        }
        Ok(created)
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let waf_id = WafId::parse(KIND, id)?;
        let has = |name: &str| changed.iter().any(|c| c == name);
        if ["description", "default_action", "visibility_config", "rules"].iter().any(|p| has(p)) {
            retry_on_lock(&format!("{KIND} {id}"), || async {
                let (acl, token) = self.get(&waf_id).await?.ok_or_else(|| ProviderError::NotFound(format!("{KIND} {id} disappeared during update")))?;
                // UpdateWebACL replaces the whole ACL: settings cairn does not manage are
                // carried over from the current one so they are not wiped.
                self.client
                    .update_web_acl()
                    .name(&waf_id.name)
                    .scope(waf_id.scope.clone())
                    .id(&waf_id.id)
                    .lock_token(token)
                    .default_action(spec.default_action.clone())
                    .set_description(description_param(&spec.description))
                    .set_rules(Some(spec.rules.clone()))
                    .visibility_config(spec.visibility.clone())
                    .set_custom_response_bodies(acl.custom_response_bodies().cloned())
                    .set_captcha_config(acl.captcha_config().cloned())
                    .set_challenge_config(acl.challenge_config().cloned())
                    .set_token_domains(Some(acl.token_domains().to_vec()).filter(|d| !d.is_empty()))
                    .set_association_config(acl.association_config().cloned())
                    .set_data_protection_config(acl.data_protection_config().cloned())
                    .send()
                    .await
                    .op_in(&WAFV2, "UpdateWebACL")
            })
            .await?;
        }
        if has("tags") {
            let (acl, _) = self.get(&waf_id).await?.ok_or_else(|| ProviderError::NotFound(format!("{KIND} {id} disappeared during update")))?;
            sync_tags(&self.client, acl.arn(), &desired.tags).await?;
        }
        self.observe(&waf_id).await?.ok_or_else(|| ProviderError::NotFound(format!("{KIND} {id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let waf_id = WafId::parse(KIND, id)?;
        retry_on_lock(&format!("{KIND} {id}"), || async {
            let Some((_, token)) = self.get(&waf_id).await? else { return Ok(()) };
            gone(
                self.client
                    .delete_web_acl()
                    .name(&waf_id.name)
                    .scope(waf_id.scope.clone())
                    .id(&waf_id.id)
                    .lock_token(token)
                    .send()
                    .await
                    .map(|_| ())
                    .op_in(&WAFV2, "DeleteWebACL"),
            )
        })
        .await
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let spec = Spec::from(desired)?;
        Ok(self.named(&spec, None).await?.into_iter().find(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        IAM.of(op)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use aws_sdk_wafv2::config::retry::RetryConfig;
    use aws_sdk_wafv2::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_wafv2::error::ErrorMetadata;
    use aws_sdk_wafv2::operation::create_web_acl::{CreateWebACLError, CreateWebAclInput, CreateWebAclOutput};
    use aws_sdk_wafv2::operation::delete_web_acl::{DeleteWebACLError, DeleteWebAclOutput};
    use aws_sdk_wafv2::operation::get_web_acl::{GetWebACLError, GetWebAclOutput};
    use aws_sdk_wafv2::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_wafv2::operation::list_web_acls::ListWebAcLsOutput;
    use aws_sdk_wafv2::operation::update_web_acl::{UpdateWebACLError, UpdateWebAclInput, UpdateWebAclOutput};
    use aws_sdk_wafv2::types::{
        AssociationConfig, ByteMatchStatement, FieldToMatch, PositionalConstraint, TagInfoForResource, TextTransformation, TextTransformationType, UriPath,
        WebAclSummary,
    };
    use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule as MockRule, RuleMode};
    use cairn_engine::provider::{Owner, Tags};

    const NAME: &str = "shop-dev-edge";
    const WAF_ID: &str = "0f0e0d0c-1111-2222-3333-444455556666";
    const ID: &str = "REGIONAL/shop-dev-edge/0f0e0d0c-1111-2222-3333-444455556666";
    const ARN: &str = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/shop-dev-edge/0f0e0d0c-1111-2222-3333-444455556666";
    const IP_SET: &str = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/blocklist/abc";

    fn kind(rules: &[&MockRule]) -> Wafv2WebAcl {
        let mut mocks = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            mocks = mocks.with_rule(rule);
        }
        let config = aws_sdk_wafv2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .http_client(create_mock_http_client())
            .interceptor(mocks)
            .build();
        Wafv2WebAcl::from_client(Client::from_conf(config))
    }

    fn owner() -> Owner {
        Owner { stack: "shop".into(), env: "dev".into(), address: "edge".into() }
    }

    fn desired(props: Value) -> Desired {
        Desired { props: props.as_object().unwrap().clone(), tags: owner().tags(), owner: owner(), default_name: NAME.into(), idempotency_token: "t".into() }
    }

    fn error(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message("mocked").build()
    }

    fn vis(metric: &str) -> Value {
        json!({"cloudwatch_metrics_enabled": true, "metric_name": metric, "sampled_requests_enabled": true})
    }

    fn rules() -> Value {
        json!([
            {"name": "common", "priority": 1, "visibility_config": vis("common"),
             "managed_rule_group": {"vendor": "AWS", "name": "AWSManagedRulesCommonRuleSet", "version": "Version_1.10",
                                    "excluded_rules": ["SizeRestrictions_BODY"],
                                    "rule_action_overrides": [{"name": "NoUserAgent_HEADER", "action": "count"}]}},
            {"name": "bad-inputs", "priority": 2, "visibility_config": vis("bad-inputs"),
             "managed_rule_group": {"vendor": "AWS", "name": "AWSManagedRulesKnownBadInputsRuleSet"}, "override_action": "count"},
            {"name": "rate", "priority": 10, "visibility_config": vis("rate"), "rate_based": {"limit": 2000, "aggregate_key_type": "IP"}, "action": "block"},
            {"name": "blocklist", "priority": 20, "visibility_config": vis("blocklist"), "ip_set": {"arn": IP_SET}, "action": "block"}
        ])
    }

    fn props() -> Value {
        json!({"visibility_config": vis("edge"), "rules": rules()})
    }

    fn acl_from(rules: &[Rule], default_block: bool, description: Option<&str>) -> WebAcl {
        let default_action = if default_block {
            DefaultAction::builder().block(BlockAction::builder().build()).build()
        } else {
            DefaultAction::builder().allow(AllowAction::builder().build()).build()
        };
        WebAcl::builder()
            .name(NAME)
            .id(WAF_ID)
            .arn(ARN)
            .default_action(default_action)
            .set_description(description.map(str::to_string))
            // WAF may return rules in any order.
            .set_rules(Some(rules.iter().rev().cloned().collect()))
            .visibility_config(
                VisibilityConfig::builder().cloud_watch_metrics_enabled(true).metric_name("edge").sampled_requests_enabled(true).build().unwrap(),
            )
            .capacity(700)
            .token_domains("example.com")
            .build()
            .unwrap()
    }

    fn tags_rule(tags: Tags) -> MockRule {
        mock!(Client::list_tags_for_resource).match_requests(|r| r.resource_arn() == Some(ARN)).then_output(move || {
            let list = waf_tags(&tags).unwrap();
            ListTagsForResourceOutput::builder().tag_info_for_resource(TagInfoForResource::builder().resource_arn(ARN).set_tag_list(Some(list)).build()).build()
        })
    }

    /// GetWebACL answering with an ACL holding the rules `desired` would send.
    fn get_rule_for(d: &Desired) -> MockRule {
        let spec = Spec::from(d).unwrap();
        let acl = acl_from(&spec.rules, false, None);
        mock!(Client::get_web_acl)
            .match_requests(|r| r.name() == Some(NAME) && r.id() == Some(WAF_ID) && r.scope() == Some(&Scope::Regional))
            .then_output(move || GetWebAclOutput::builder().web_acl(acl.clone()).lock_token("token-1").build())
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        let ip = |name: &str, priority: i64| json!({"name": name, "priority": priority, "visibility_config": vis(name), "ip_set": {"arn": IP_SET}, "action": "block"});
        let group = json!({"vendor": "AWS", "name": "AWSManagedRulesCommonRuleSet"});
        let managed = |extra: Value| {
            let mut rule = json!({"name": "m", "priority": 1, "visibility_config": vis("m"), "managed_rule_group": group});
            rule.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            rule
        };
        for rules in [
            json!([ip("a", 2), ip("b", 1)]),
            json!([ip("a", 1), ip("a", 2)]),
            json!([ip("a", -1)]),
            json!([ip("bad name", 1)]),
            json!([managed(json!({"override_action": "none"}))]),
            json!([managed(json!({"action": "block"}))]),
            json!([managed(json!({"managed_rule_group": {"vendor": "AWS", "name": "g", "excluded_rules": []}}))]),
            json!([managed(json!({"managed_rule_group": {"vendor": "AWS", "name": "g", "rule_action_overrides": []}}))]),
            json!([managed(json!({"managed_rule_group": {"vendor": "AWS", "name": "g", "rule_action_overrides": [{"name": "x", "action": "captcha"}]}}))]),
            json!([managed(json!({"managed_rule_group": {"vendor": "AWS"}}))]),
            json!([managed(json!({"rate_based": {"limit": 100, "aggregate_key_type": "IP"}}))]),
            json!([{"name": "r", "priority": 1, "visibility_config": vis("r"), "rate_based": {"limit": 100, "aggregate_key_type": "IP"}, "action": "allow"}]),
            json!([{"name": "r", "priority": 1, "visibility_config": vis("r"), "rate_based": {"limit": 100}, "action": "block"}]),
            json!([{"name": "r", "priority": 1, "visibility_config": vis("r"), "rate_based": {"limit": "100", "aggregate_key_type": "IP"}, "action": "block"}]),
            json!([{"name": "r", "priority": 1, "visibility_config": vis("r"), "rate_based": {"limit": 100, "aggregate_key_type": "IP"}, "override_action": "count"}]),
            json!([{"name": "i", "priority": 1, "visibility_config": vis("i"), "ip_set": {"arn": IP_SET}}]),
            json!([{"name": "i", "priority": 1, "visibility_config": vis("i"), "ip_set": {"arn": "blocklist-set-without-arn"}, "action": "block"}]),
            json!([{"name": "i", "priority": 1, "visibility_config": {"metric_name": "x"}, "ip_set": {"arn": IP_SET}, "action": "block"}]),
            json!([{"name": "i", "priority": 1, "visibility_config": vis("i"), "ip_set": {"arn": IP_SET}, "action": "block", "statement": {}}]),
            json!({"name": "i"}),
        ] {
            let d = desired(json!({"visibility_config": vis("edge"), "rules": rules}));
            assert!(Spec::from(&d).is_err(), "builder accepts {rules}");
            assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {rules}");
        }
        for props in [json!({"rules": []}), json!({"visibility_config": vis("edge"), "default_action": "deny"}), json!({"visibility_config": vis("a b")})] {
            let d = desired(props.clone());
            assert!(Spec::from(&d).is_err(), "builder accepts {props}");
            assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
        }
    }

    /// Validate reports rule mistakes at the rules, before any apply, all at once.
    #[test]
    fn validate_reports_rule_mistakes_where_they_are() {
        use cairn_engine::compile::{compile_source, CompileOptions};
        use cairn_engine::source::SourceFile;
        let text = "stack: shop\nresources:\n  edge:\n    type: aws.wafv2.web_acl\n    props:\n      visibility_config: { cloudwatch_metrics_enabled: true, metric_name: edge, sampled_requests_enabled: true }\n      rules:\n        - name: rate\n          priority: 1\n          visibility_config: { cloudwatch_metrics_enabled: true, metric_name: rate, sampled_requests_enabled: true }\n          rate_based: { limit: 5, aggregate_key_type: IP }\n          action: block\n        - name: common\n          priority: 2\n          visibility_config: { cloudwatch_metrics_enabled: true, metric_name: common, sampled_requests_enabled: true }\n          managed_rule_group: { vendor: AWS, name: AWSManagedRulesCommonRuleSet, excluded_rules: [] }\n          override_action: none\n";
        let file = SourceFile::new("stack.yaml", text);
        let rendered = match compile_source(&file, &CompileOptions { env: "dev".into(), ..Default::default() }, &crate::Schemas) {
            Ok(_) => panic!("validate accepted bad rules"),
            Err(d) => d.render(&file),
        };
        assert!(rendered.contains("`rules[0].rate_based.limit` must be from 10 to 2000000000, found 5"), "{rendered}");
        assert!(rendered.contains("stack.yaml:11:"), "{rendered}");
        assert!(rendered.contains("`rules[1].managed_rule_group.excluded_rules` must be a non-empty list"), "{rendered}");
        assert!(rendered.contains("`rules[1].override_action` must be one of \"count\", found \"none\""), "{rendered}");
        assert!(rendered.contains("stack.yaml:17:"), "{rendered}");
    }

    /// Valid rules, one statement each, in priority order: random objects would almost never
    /// satisfy the rules' cross-field checks.
    fn valid_rules() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let statement = prop_oneof![
            (proptest::option::of(Just("count")), proptest::option::of("[A-Za-z0-9_]{1,20}")).prop_map(|(over, excluded)| {
                let mut group = json!({"vendor": "AWS", "name": "AWSManagedRulesCommonRuleSet"});
                if let Some(rule) = excluded {
                    group["excluded_rules"] = json!([rule]);
                }
                let mut rule = json!({"managed_rule_group": group});
                if let Some(o) = over {
                    rule["override_action"] = json!(o);
                }
                rule
            }),
            (10i64..=2_000_000_000, proptest::sample::select(vec!["block", "count"]))
                .prop_map(|(limit, action)| json!({"rate_based": {"limit": limit, "aggregate_key_type": "IP"}, "action": action})),
            proptest::sample::select(vec!["allow", "block", "count"]).prop_map(|action| json!({"ip_set": {"arn": IP_SET}, "action": action})),
        ];
        proptest::collection::vec((statement, 0i64..100), 0..4).prop_map(|items| {
            let mut priority = 0;
            let rules: Vec<Value> = items
                .into_iter()
                .enumerate()
                .map(|(i, (mut rule, gap))| {
                    priority += gap + 1;
                    let name = format!("rule-{i}");
                    rule["name"] = json!(name);
                    rule["priority"] = json!(priority);
                    rule["visibility_config"] = vis(&name);
                    rule
                })
                .collect();
            Value::Array(rules)
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every props value the schema accepts becomes a CreateWebACL request the SDK builds.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(mut props in crate::schema_gen::props(&SCHEMA), rules in valid_rules()) {
            props.insert("rules".into(), rules);
            proptest::prop_assert!(crate::schema_check::accepts(&SCHEMA, &props), "{:?}", cairn_engine::typecheck::check_props(&SCHEMA, &props, true));
            let spec = Spec::from(&desired(Value::Object(props.clone())));
            proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
            proptest::prop_assert_eq!(spec.unwrap().rules.len(), props["rules"].as_array().map_or(0, Vec::len));
        }
    }

    #[tokio::test]
    async fn create_sends_rules_in_wafs_shape_and_reads_them_back_as_written() {
        let seen: Arc<Mutex<Option<CreateWebAclInput>>> = Arc::default();
        let sink = seen.clone();
        let create = mock!(Client::create_web_acl).then_compute_output(move |input| {
            *sink.lock().unwrap() = Some(input.clone());
            CreateWebAclOutput::builder().summary(WebAclSummary::builder().name(NAME).id(WAF_ID).arn(ARN).build()).build()
        });
        let d = desired(props());
        let get = get_rule_for(&d);
        let tags = tags_rule(d.tags.clone());

        let none = mock!(Client::list_web_acls).then_output(|| ListWebAcLsOutput::builder().build());
        let observed = kind(&[&none, &create, &get, &tags]).create(&d).await.unwrap();

        let input = seen.lock().unwrap().take().unwrap();
        assert_eq!((input.name(), input.scope(), input.description()), (Some(NAME), Some(&Scope::Regional), None));
        assert!(input.default_action().and_then(DefaultAction::allow).is_some());
        let sent: Tags = input.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        assert_eq!(sent, d.tags, "tags go in the creating call");
        let sent_rules = input.rules();
        assert!(sent_rules[0].override_action().and_then(OverrideAction::none).is_some(), "override none is sent explicitly");
        assert!(sent_rules[0].action().is_none());
        let group = sent_rules[0].statement().and_then(Statement::managed_rule_group_statement).unwrap();
        assert_eq!((group.vendor_name(), group.name(), group.version()), ("AWS", "AWSManagedRulesCommonRuleSet", Some("Version_1.10")));
        assert_eq!(group.excluded_rules()[0].name(), "SizeRestrictions_BODY");
        assert!(group.rule_action_overrides()[0].action_to_use().and_then(RuleAction::count).is_some());
        assert!(sent_rules[1].override_action().and_then(OverrideAction::count).is_some());
        let rate = sent_rules[2].statement().and_then(Statement::rate_based_statement).unwrap();
        assert_eq!((rate.limit(), rate.aggregate_key_type()), (2000, &RateBasedStatementAggregateKeyType::Ip));
        assert!(sent_rules[2].action().and_then(RuleAction::block).is_some());
        assert_eq!(sent_rules[3].statement().and_then(Statement::ip_set_reference_statement).map(IpSetReferenceStatement::arn), Some(IP_SET));

        assert_eq!(observed.id, ID);
        assert_eq!(observed.props["rules"], rules(), "reads back exactly as written, in priority order");
        assert_eq!(observed.props["visibility_config"], vis("edge"));
        assert_eq!((observed.props["default_action"].clone(), observed.props["description"].clone()), (json!("allow"), json!("")));
        assert_eq!((observed.attrs["arn"].clone(), observed.attrs["capacity"].clone()), (json!(ARN), json!(700)));
        assert_eq!(observed.tags, d.tags);
        // GetWebACL once, for the capacity WAF computed; the tags are the ones sent.
        assert_eq!((get.num_calls(), tags.num_calls(), none.num_calls()), (1, 0, 2));
        assert_eq!(Some(observed), kind(&[&get, &tags]).read(ID).await.unwrap(), "create returns what a later read returns");
        for op in ["CreateWebACL", "GetWebACL", "ListTagsForResource", "TagResource"] {
            assert!(IAM.create.contains(&format!("wafv2:{op}").as_str()), "{op}");
        }
    }

    #[tokio::test]
    async fn rules_that_would_never_read_back_the_same_are_refused_before_any_call() {
        let k = kind(&[]);
        let ip = |name: &str, priority: i64| json!({"name": name, "priority": priority, "visibility_config": vis(name), "ip_set": {"arn": IP_SET}, "action": "block"});
        let managed = |extra: Value| {
            let mut rule = json!({"name": "m", "priority": 1, "visibility_config": vis("m"), "managed_rule_group": {"vendor": "AWS", "name": "AWSManagedRulesCommonRuleSet"}});
            for (k, v) in extra.as_object().unwrap() {
                if k == "group" {
                    for (gk, gv) in v.as_object().unwrap() {
                        rule["managed_rule_group"][gk] = gv.clone();
                    }
                } else {
                    rule[k] = v.clone();
                }
            }
            rule
        };
        for (rules, needle) in [
            (json!([ip("a", 2), ip("b", 1)]), "increasing priority"),
            (json!([ip("a", 1), ip("a", 2)]), "unique"),
            (json!([managed(json!({"override_action": "none"}))]), "one of \"count\""),
            (json!([managed(json!({"action": "block"}))]), "override_action (count), not action"),
            (json!([managed(json!({"group": {"excluded_rules": []}}))]), "non-empty list"),
            (json!([managed(json!({"group": {"rule_action_overrides": [{"name": "x", "action": "captcha"}]}}))]), "\"count\", \"block\", \"allow\""),
            (json!([managed(json!({"rate_based": {"limit": 100, "aggregate_key_type": "IP"}}))]), "exactly one"),
            (
                json!([{"name": "r", "priority": 1, "visibility_config": vis("r"), "rate_based": {"limit": 100, "aggregate_key_type": "IP"}, "action": "allow"}]),
                "block, count",
            ),
            (json!([{"name": "r", "priority": 1, "visibility_config": vis("r"), "rate_based": {"limit": 100}, "action": "block"}]), "aggregate_key_type"),
            (json!([{"name": "i", "priority": 1, "visibility_config": vis("i"), "ip_set": {"arn": IP_SET}}]), "action must be one of"),
            (
                json!([{"name": "i", "priority": 1, "visibility_config": {"metric_name": "x"}, "ip_set": {"arn": IP_SET}, "action": "block"}]),
                "visibility_config",
            ),
            (
                json!([{"name": "i", "priority": 1, "visibility_config": vis("i"), "ip_set": {"arn": IP_SET}, "action": "block", "statement": {}}]),
                "not a known field",
            ),
        ] {
            let result = k.create(&desired(json!({"visibility_config": vis("edge"), "rules": rules}))).await;
            assert!(matches!(&result, Err(ProviderError::Invalid(m)) if m.contains(needle)), "{needle}: {result:?}");
        }
        let result = k.create(&desired(json!({"rules": []}))).await;
        assert!(matches!(&result, Err(ProviderError::Invalid(m)) if m.contains("visibility_config")), "{result:?}");
        let result = k.create(&desired(json!({"visibility_config": vis("edge"), "default_action": "deny"}))).await;
        assert!(matches!(&result, Err(ProviderError::Invalid(m)) if m.contains("default_action")), "{result:?}");
    }

    #[tokio::test]
    async fn update_retries_on_a_stale_lock_token_and_keeps_settings_cairn_does_not_manage() {
        let d = desired(json!({"visibility_config": vis("edge"), "rules": rules(), "default_action": "block", "description": "edge ACL"}));
        let current = {
            let mut acl = acl_from(&Spec::from(&d).unwrap().rules, false, None);
            acl.association_config = Some(AssociationConfig::builder().build());
            acl
        };
        let get = mock!(Client::get_web_acl).sequence().output(move || GetWebAclOutput::builder().web_acl(current.clone()).lock_token("stale").build()).build();
        let fresh = get_rule_for(&d);
        let seen: Arc<Mutex<Vec<UpdateWebAclInput>>> = Arc::default();
        let sink = seen.clone();
        let update = mock!(Client::update_web_acl).sequence().error(|| UpdateWebACLError::generic(error("WAFOptimisticLockException"))).build();
        let update_ok = mock!(Client::update_web_acl).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            UpdateWebAclOutput::builder().next_lock_token("token-2").build()
        });
        let tags = tags_rule(owner().tags());

        kind(&[&get, &fresh, &update, &update_ok, &tags]).update(ID, &d, &["default_action".into(), "description".into()]).await.unwrap();

        assert_eq!((update.num_calls(), update_ok.num_calls()), (1, 1), "one lock conflict, then success");
        let input = seen.lock().unwrap().pop().unwrap();
        assert_eq!(input.lock_token(), Some("token-1"), "the retry used a freshly read token");
        assert!(input.default_action().and_then(DefaultAction::block).is_some());
        assert_eq!(input.description(), Some("edge ACL"));
        assert_eq!(input.rules().len(), 4, "the whole rule list is always sent");
        assert!(input.visibility_config().is_some());
        assert_eq!(input.token_domains(), ["example.com"], "settings cairn does not manage are carried over, not wiped");
        for op in ["GetWebACL", "UpdateWebACL"] {
            assert!(IAM.update.contains(&format!("wafv2:{op}").as_str()), "{op}");
        }
    }

    #[tokio::test]
    async fn read_shows_a_statement_cairn_does_not_model_so_the_plan_replaces_it() {
        let byte_match = ByteMatchStatement::builder()
            .search_string(aws_smithy_types::Blob::new("admin"))
            .field_to_match(FieldToMatch::builder().uri_path(UriPath::builder().build()).build())
            .text_transformations(TextTransformation::builder().priority(0).r#type(TextTransformationType::None).build().unwrap())
            .positional_constraint(PositionalConstraint::Contains)
            .build()
            .unwrap();
        let rule = Rule::builder()
            .name("console-made")
            .priority(5)
            .statement(Statement::builder().byte_match_statement(byte_match).build())
            .action(rule_action("block"))
            .visibility_config(VisibilityConfig::builder().cloud_watch_metrics_enabled(false).metric_name("c").sampled_requests_enabled(false).build().unwrap())
            .build()
            .unwrap();
        let acl = acl_from(&[rule], true, Some("made by hand"));
        let get = mock!(Client::get_web_acl).then_output(move || GetWebAclOutput::builder().web_acl(acl.clone()).lock_token("t").build());
        let tags = tags_rule(Tags::new());
        let observed = kind(&[&get, &tags]).read(ID).await.unwrap().unwrap();
        assert_eq!(observed.props["rules"][0]["unsupported_statement"], json!(true));
        assert_eq!(observed.props["rules"][0]["action"], json!("block"));
        assert_eq!(observed.props["default_action"], json!("block"));
        assert_eq!(observed.props["description"], json!("made by hand"));
    }

    #[tokio::test]
    async fn read_of_missing_acl_is_none_and_delete_of_missing_is_ok() {
        let get = mock!(Client::get_web_acl).then_error(|| GetWebACLError::generic(error("WAFNonexistentItemException")));
        assert_eq!(kind(&[&get]).read(ID).await.unwrap(), None);
        kind(&[&get]).delete(ID).await.unwrap();
    }

    #[tokio::test]
    async fn delete_uses_the_lock_token_and_an_associated_acl_is_a_conflict() {
        let d = desired(props());
        let get = get_rule_for(&d);
        let delete = mock!(Client::delete_web_acl)
            .match_requests(|r| r.lock_token() == Some("token-1") && r.id() == Some(WAF_ID))
            .then_output(|| DeleteWebAclOutput::builder().build());
        kind(&[&get, &delete]).delete(ID).await.unwrap();
        assert_eq!(delete.num_calls(), 1);
        let associated = mock!(Client::delete_web_acl).then_error(|| DeleteWebACLError::generic(error("WAFAssociatedItemException")));
        assert!(matches!(kind(&[&get, &associated]).delete(ID).await, Err(ProviderError::Conflict(_))));
        for op in ["GetWebACL", "DeleteWebACL"] {
            assert!(IAM.delete.contains(&format!("wafv2:{op}").as_str()), "{op}");
        }
    }

    fn listed() -> ListWebAcLsOutput {
        ListWebAcLsOutput::builder().web_acls(WebAclSummary::builder().name(NAME).id(WAF_ID).arn(ARN).build()).build()
    }

    #[tokio::test]
    async fn an_existing_acl_of_ours_is_adopted_without_a_second_create() {
        let d = desired(props());
        let list = mock!(Client::list_web_acls).then_output(listed);
        let create = mock!(Client::create_web_acl).then_error(|| CreateWebACLError::generic(error("WAFDuplicateItemException")));
        let (get, tags) = (get_rule_for(&d), tags_rule(d.tags.clone()));
        assert_eq!(kind(&[&list, &create, &get, &tags]).create(&d).await.map(|o| o.id), Ok(ID.to_string()));
        assert_eq!(create.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_duplicate_name_held_by_someone_else_is_refused_by_name() {
        let d = desired(props());
        let list = mock!(Client::list_web_acls).sequence().output(|| ListWebAcLsOutput::builder().build()).output(listed).repeatedly().build();
        let create = mock!(Client::create_web_acl).then_error(|| CreateWebACLError::generic(error("WAFDuplicateItemException")));
        let (get, tags) = (get_rule_for(&d), tags_rule(crate::adopt::testing::foreign_tags()));
        let result = kind(&[&list, &create, &get, &tags]).create(&d).await;
        assert!(matches!(&result, Err(ProviderError::Conflict(m)) if m.contains(NAME) && m.contains("cairn:stack=other")), "{result:?}");
    }
}
