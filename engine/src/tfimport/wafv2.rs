//! Terraform's WAFv2 resources → `aws.wafv2.*`: IP sets, web ACLs with their rules, associations and logging.
//!
//! WAF finds a set or ACL by scope, name and id together, so the physical id is `SCOPE/NAME/ID`
//! (the provider's `id` is only the last part). Rules are turned from the provider's nested blocks
//! (`statement[0].managed_rule_group_statement[0]...`, every block a list) into cairn's flat rule
//! shape, written exactly as the kind's read reports them (by priority, optional keys left out)
//! so the plan after import is a no-op. A web ACL or logging configuration using anything cairn
//! does not model (another statement type, a scope-down statement, custom responses, a logging
//! filter, ...) is left with Terraform and the report says why: cairn's first update would
//! rewrite it without those settings.

use serde_json::{json, Map, Value};

use super::{block_in, Family, Input, Mapped, Output, TfInstance};

pub const FAMILY: Family = Family {
    name: "wafv2",
    types: &["aws_wafv2_ip_set", "aws_wafv2_web_acl", "aws_wafv2_web_acl_association", "aws_wafv2_web_acl_logging_configuration"],
    map,
};

pub fn map(input: &Input, out: &mut Output) {
    for tf in input.of_type("aws_wafv2_ip_set") {
        out.push(ip_set(tf));
    }
    // A web ACL or logging configuration with settings cairn cannot express stays with Terraform:
    // the first update from cairn would rewrite it without them, and these are security rules.
    let mut keep = |tf: &TfInstance, mapped: Result<Mapped, Vec<String>>| match mapped {
        Ok(m) => out.push(m),
        Err(lost) => out.note(tf, format!("left out (it stays managed by Terraform): cairn cannot express {}", lost.join("; "))),
    };
    for tf in input.of_type("aws_wafv2_web_acl") {
        keep(tf, web_acl(tf));
    }
    for tf in input.of_type("aws_wafv2_web_acl_logging_configuration") {
        keep(tf, logging(tf));
    }
    for tf in input.of_type("aws_wafv2_web_acl_association") {
        out.push(association(tf));
    }
}

/// `SCOPE/NAME/ID`, as the kinds' `read` expects.
fn waf_id(tf: &TfInstance) -> String {
    format!("{}/{}/{}", tf.str("scope").unwrap_or("REGIONAL"), tf.str("name").unwrap_or_default(), tf.str("id").unwrap_or_default())
}

fn ip_set(tf: &TfInstance) -> Mapped {
    let mut m = Mapped::new(tf, "aws.wafv2.ip_set", waf_id(tf));
    m.prop("name", tf.str("name").map(|s| json!(s)))
        .prop("scope", tf.str("scope").map(|s| json!(s)))
        .prop("ip_address_version", tf.str("ip_address_version").map(|s| json!(s)))
        .prop("addresses", json!(tf.strings("addresses")))
        .prop("description", json!(tf.str("description").unwrap_or_default()))
        .attr("arn", tf.str("arn"))
        .attr("ip_set_id", tf.str("id"));
    m
}

/// Whether a nested block or list is present and not empty.
fn present(obj: &Map<String, Value>, key: &str) -> bool {
    match obj.get(key) {
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    }
}

/// The action named in an `action` / `action_to_use` / `default_action` block, and whether it
/// carries a custom request handling or response cairn does not model.
fn action_of(obj: &Map<String, Value>) -> Option<(&'static str, bool)> {
    ["block", "allow", "count", "captcha", "challenge"].into_iter().find_map(|name| match obj.get(name) {
        Some(Value::Array(a)) if !a.is_empty() => {
            let custom = a.first().and_then(Value::as_object).is_some_and(|o| present(o, "custom_request_handling") || present(o, "custom_response"));
            Some((name, custom))
        }
        Some(Value::Object(o)) => Some((name, present(o, "custom_request_handling") || present(o, "custom_response"))),
        _ => None,
    })
}

fn visibility(obj: Option<&Map<String, Value>>) -> Value {
    match obj {
        Some(v) => json!({
            "cloudwatch_metrics_enabled": v.get("cloudwatch_metrics_enabled").and_then(Value::as_bool).unwrap_or(false),
            "metric_name": v.get("metric_name").and_then(Value::as_str).unwrap_or_default(),
            "sampled_requests_enabled": v.get("sampled_requests_enabled").and_then(Value::as_bool).unwrap_or(false),
        }),
        None => Value::Null,
    }
}

/// One rule in cairn's shape, and what of it cairn cannot express.
fn rule(r: &Map<String, Value>) -> (Value, Vec<&'static str>) {
    let mut lost = vec![];
    let mut obj = Map::new();
    obj.insert("name".into(), r.get("name").cloned().unwrap_or(Value::Null));
    obj.insert("priority".into(), r.get("priority").cloned().unwrap_or(Value::Null));
    obj.insert("visibility_config".into(), visibility(block_in(r, "visibility_config")));
    let empty = Map::new();
    let statement = block_in(r, "statement").unwrap_or(&empty);
    if let Some(group) = block_in(statement, "managed_rule_group_statement") {
        let mut g = Map::new();
        g.insert("vendor".into(), group.get("vendor_name").cloned().unwrap_or(Value::Null));
        g.insert("name".into(), group.get("name").cloned().unwrap_or(Value::Null));
        if let Some(v) = group.get("version").and_then(Value::as_str).filter(|v| !v.is_empty()) {
            g.insert("version".into(), json!(v));
        }
        // Provider v4 only; v5 replaced it with rule_action_override.
        let excluded: Vec<Value> = group.get("excluded_rule").and_then(Value::as_array).into_iter().flatten().filter_map(|e| e.get("name").cloned()).collect();
        if !excluded.is_empty() {
            g.insert("excluded_rules".into(), Value::Array(excluded));
        }
        let overrides: Vec<Value> = group
            .get("rule_action_override")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .map(|o| {
                let action = block_in(o, "action_to_use").and_then(action_of);
                if action.is_some_and(|(_, custom)| custom) {
                    lost.push("custom request handling of an action override");
                }
                if action.is_some_and(|(name, _)| !["count", "block", "allow"].contains(&name)) {
                    lost.push("a CAPTCHA or challenge action override");
                }
                json!({ "name": o.get("name").cloned().unwrap_or(Value::Null), "action": action.map(|a| a.0) })
            })
            .collect();
        if !overrides.is_empty() {
            g.insert("rule_action_overrides".into(), Value::Array(overrides));
        }
        if present(group, "scope_down_statement") {
            lost.push("the managed rule group's scope-down statement");
        }
        if present(group, "managed_rule_group_configs") {
            lost.push("the managed rule group's configuration");
        }
        obj.insert("managed_rule_group".into(), Value::Object(g));
        if block_in(r, "override_action").is_some_and(|o| present(o, "count")) {
            obj.insert("override_action".into(), json!("count"));
        }
    } else if let Some(rate) = block_in(statement, "rate_based_statement") {
        obj.insert("rate_based".into(), json!({ "limit": rate.get("limit").cloned().unwrap_or(Value::Null), "aggregate_key_type": rate.get("aggregate_key_type").cloned().unwrap_or(json!("IP")) }));
        if present(rate, "scope_down_statement") || present(rate, "forwarded_ip_config") || present(rate, "custom_key") {
            lost.push("the rate-based rule's scope-down statement, forwarded-IP or custom keys");
        }
        if rate.get("evaluation_window_sec").and_then(Value::as_i64).is_some_and(|w| w != 300) {
            lost.push("the rate-based rule's evaluation window");
        }
    } else if let Some(set) = block_in(statement, "ip_set_reference_statement") {
        obj.insert("ip_set".into(), json!({ "arn": set.get("arn").cloned().unwrap_or(Value::Null) }));
        if present(set, "ip_set_forwarded_ip_config") {
            lost.push("the IP set rule's forwarded-IP configuration");
        }
    } else {
        lost.push("its statement (cairn models managed rule groups, rate-based and IP set rules)");
    }
    if let Some((name, custom)) = block_in(r, "action").and_then(action_of) {
        obj.insert("action".into(), json!(name));
        if custom {
            lost.push("the action's custom request handling or response");
        }
        // The actions the kind accepts: rate-based rules block or count, IP set rules also allow.
        let allowed: &[&str] = if obj.contains_key("rate_based") { &["block", "count"] } else { &["allow", "block", "count"] };
        if !allowed.contains(&name) {
            lost.push("its action (cairn's rate-based rules block or count; IP set rules allow, block or count)");
        }
    }
    if present(r, "rule_label") || present(r, "captcha_config") {
        lost.push("its labels or CAPTCHA configuration");
    }
    (Value::Object(obj), lost)
}

fn web_acl(tf: &TfInstance) -> Result<Mapped, Vec<String>> {
    let mut m = Mapped::new(tf, "aws.wafv2.web_acl", waf_id(tf));
    let mut lost: Vec<String> = vec![];
    let default = tf.block("default_action").and_then(action_of);
    let mut rules: Vec<&Map<String, Value>> = tf.list("rule").iter().filter_map(Value::as_object).collect();
    // The kind reads rules back by priority.
    rules.sort_by_key(|r| r.get("priority").and_then(Value::as_i64).unwrap_or(0));
    let mut mapped = vec![];
    for r in rules {
        let (value, missing) = rule(r);
        let name = r.get("name").and_then(Value::as_str).unwrap_or("?");
        lost.extend(missing.into_iter().map(|what| format!("rule {name}: {what}")));
        mapped.push(value);
    }
    if default.is_some_and(|d| d.1) {
        lost.push("the default action's custom request handling or response".into());
    }
    if tf.list("rule").is_empty() && tf.str("rule_json").is_some() {
        lost.push("rules given as rule_json (write them as cairn rules)".into());
    }
    for (key, what) in [
        ("custom_response_body", "custom response bodies"),
        ("captcha_config", "CAPTCHA settings"),
        ("challenge_config", "challenge settings"),
        ("token_domains", "token domains"),
        ("association_config", "request body size limits"),
    ] {
        if present(&tf.attrs, key) {
            lost.push(format!("the web ACL's {what}"));
        }
    }
    if !lost.is_empty() {
        return Err(lost);
    }
    m.prop("name", tf.str("name").map(|s| json!(s)))
        .prop("scope", tf.str("scope").map(|s| json!(s)))
        .prop("description", json!(tf.str("description").unwrap_or_default()))
        .prop("default_action", default.map(|d| json!(d.0)))
        .prop("visibility_config", visibility(tf.block("visibility_config")))
        .prop("rules", Value::Array(mapped))
        .attr("arn", tf.str("arn"))
        .attr("web_acl_id", tf.str("id"));
    Ok(m)
}

fn association(tf: &TfInstance) -> Mapped {
    let resource = tf.str("resource_arn").unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.wafv2.web_acl_association", resource);
    m.prop("web_acl_arn", tf.str("web_acl_arn").map(|s| json!(s))).prop("resource_arn", json!(resource));
    m
}

fn logging(tf: &TfInstance) -> Result<Mapped, Vec<String>> {
    let acl = tf.str("resource_arn").unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.wafv2.logging_configuration", acl);
    let mut lost = vec![];
    let mut redacted = vec![];
    for field in tf.list("redacted_fields").iter().filter_map(Value::as_object) {
        match block_in(field, "single_header").and_then(|h| h.get("name")).and_then(Value::as_str) {
            Some(header) => redacted.push(json!({ "single_header": header })),
            None => lost.push("a redacted field other than a single header".to_string()),
        }
    }
    if present(&tf.attrs, "logging_filter") {
        lost.push("the logging filter".to_string());
    }
    if !lost.is_empty() {
        return Err(lost);
    }
    m.prop("web_acl_arn", json!(acl))
        .prop("log_destination_arns", json!(tf.strings("log_destination_configs")))
        .prop("redacted_fields", Value::Array(redacted));
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{find, inst, run};
    use super::*;

    fn fixture() -> Value {
        serde_json::from_str(include_str!("../../tests/fixtures/tfimport/aws_wafv2_web_acl.json")).unwrap()
    }

    const SET_ARN: &str = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/allow/11111111-2222-3333-4444-555555555555";
    const ACL_ARN: &str = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/edge/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

    #[test]
    fn an_ip_set_is_found_by_scope_name_and_id() {
        let out = run(
            map,
            vec![inst(
                "aws_wafv2_ip_set.allow",
                json!({"addresses": ["203.0.113.0/24", "198.51.100.7/32"], "arn": SET_ARN, "description": "", "id": "11111111-2222-3333-4444-555555555555",
                   "ip_address_version": "IPV4", "lock_token": "t", "name": "allow", "scope": "REGIONAL", "tags": {}, "tags_all": {}}),
            )],
        );
        let m = find(&out, "aws_wafv2_ip_set.allow");
        assert_eq!(m.id, "REGIONAL/allow/11111111-2222-3333-4444-555555555555");
        assert_eq!(
            Value::Object(m.props.clone()),
            json!({"name": "allow", "scope": "REGIONAL", "ip_address_version": "IPV4", "addresses": ["198.51.100.7/32", "203.0.113.0/24"], "description": ""})
        );
        assert_eq!(m.attrs["arn"], SET_ARN);
    }

    #[test]
    fn a_web_acls_nested_rule_blocks_become_cairns_flat_rules_by_priority() {
        let out = run(map, vec![inst("aws_wafv2_web_acl.edge", fixture())]);
        let m = find(&out, "aws_wafv2_web_acl.edge");
        assert_eq!(m.id, "REGIONAL/edge/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
        let vis = |name: &str| json!({"cloudwatch_metrics_enabled": true, "metric_name": name, "sampled_requests_enabled": true});
        assert_eq!(
            Value::Object(m.props.clone()),
            json!({
                "name": "edge", "scope": "REGIONAL", "description": "edge ACL", "default_action": "allow", "visibility_config": vis("edge"),
                "rules": [
                    {"name": "allow-plugins", "priority": 0, "visibility_config": vis("allow-plugins"), "ip_set": {"arn": SET_ARN}, "action": "allow"},
                    {"name": "common", "priority": 1, "visibility_config": vis("common"),
                     "managed_rule_group": {"vendor": "AWS", "name": "AWSManagedRulesCommonRuleSet",
                                            "rule_action_overrides": [{"name": "SizeRestrictions_BODY", "action": "count"}]}},
                    {"name": "bad-inputs", "priority": 2, "visibility_config": vis("bad-inputs"),
                     "managed_rule_group": {"vendor": "AWS", "name": "AWSManagedRulesKnownBadInputsRuleSet", "version": "Version_1.1"},
                     "override_action": "count"},
                    {"name": "rate", "priority": 3, "visibility_config": vis("rate"), "rate_based": {"limit": 2000, "aggregate_key_type": "IP"}, "action": "block"}
                ]
            })
        );
        assert!(m.notes.is_empty(), "{:?}", m.notes);
        assert_eq!(m.attrs["arn"], ACL_ARN);
    }

    #[test]
    fn an_acl_with_what_cairn_cannot_express_stays_with_terraform_and_says_why() {
        let mut attrs = fixture();
        let rules = attrs["rule"].as_array_mut().unwrap();
        // A geo-match rule instead of the IP set one, and a scoped-down rate rule (the state lists rules unordered).
        let by_name = |rules: &mut Vec<Value>, name: &str| rules.iter().position(|r| r["name"] == name).unwrap();
        let (geo, rate) = (by_name(rules, "allow-plugins"), by_name(rules, "rate"));
        rules[geo]["statement"] = json!([{"geo_match_statement": [{"country_codes": ["XX"], "forwarded_ip_config": []}]}]);
        rules[rate]["statement"][0]["rate_based_statement"][0]["scope_down_statement"] = json!([{"byte_match_statement": [{}]}]);
        attrs["default_action"] = json!([{"allow": [], "block": [{"custom_response": [{"response_code": 403}]}]}]);
        let out = run(map, vec![inst("aws_wafv2_web_acl.edge", attrs)]);
        assert!(out.resources.is_empty());
        assert!(!out.consumed.contains("aws_wafv2_web_acl.edge"), "left out means reported as left out");
        let (address, why) = &out.notes[0];
        assert_eq!(address, "aws_wafv2_web_acl.edge");
        for part in ["rule allow-plugins: its statement", "rule rate: the rate-based rule's scope-down", "default action's custom"] {
            assert!(why.contains(part), "{part} missing from {why}");
        }
    }

    #[test]
    fn a_logging_filter_keeps_the_logging_configuration_with_terraform() {
        let out = run(
            map,
            vec![inst(
                "aws_wafv2_web_acl_logging_configuration.edge",
                json!({"id": ACL_ARN, "log_destination_configs": ["arn:aws:s3:::aws-waf-logs-edge"], "resource_arn": ACL_ARN, "redacted_fields": [],
                   "logging_filter": [{"default_behavior": "KEEP", "filter": [{"behavior": "DROP", "requirement": "MEETS_ANY", "condition": []}]}]}),
            )],
        );
        assert!(out.resources.is_empty());
        assert!(out.notes[0].1.contains("the logging filter"), "{:?}", out.notes);
    }

    #[test]
    fn association_and_logging_are_keyed_by_the_protected_resource_and_the_acl() {
        let alb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188";
        let out = run(
            map,
            vec![
                inst(
                    "aws_wafv2_web_acl_association.alb",
                    json!({"id": format!("{ACL_ARN},{alb}"), "resource_arn": alb, "web_acl_arn": ACL_ARN, "timeouts": null}),
                ),
                inst(
                    "aws_wafv2_web_acl_logging_configuration.edge",
                    json!({"id": ACL_ARN, "log_destination_configs": ["arn:aws:s3:::aws-waf-logs-edge"], "logging_filter": [],
                       "redacted_fields": [{"method": [], "query_string": [], "single_header": [{"name": "authorization"}], "uri_path": []}],
                       "resource_arn": ACL_ARN}),
                ),
            ],
        );
        let assoc = find(&out, "aws_wafv2_web_acl_association.alb");
        assert_eq!((assoc.kind.as_str(), assoc.id.as_str()), ("aws.wafv2.web_acl_association", alb));
        assert_eq!(Value::Object(assoc.props.clone()), json!({"web_acl_arn": ACL_ARN, "resource_arn": alb}));
        let log = find(&out, "aws_wafv2_web_acl_logging_configuration.edge");
        assert_eq!(log.id, ACL_ARN);
        assert_eq!(
            Value::Object(log.props.clone()),
            json!({"web_acl_arn": ACL_ARN, "log_destination_arns": ["arn:aws:s3:::aws-waf-logs-edge"], "redacted_fields": [{"single_header": "authorization"}]})
        );
        assert!(log.notes.is_empty());
    }
}
