//! AWS wiring rules: what one resource needs from another so that AWS accepts the connection and honours it, with stable rule ids and documentation links.
//!
//! An emulator accepts much of what AWS refuses or silently breaks: an encrypted queue whose
//! key does not admit SNS drops every message, a WAF log bucket without the log-delivery
//! statements stays empty, access entries fail on a cluster in CONFIG_MAP mode. The rules run
//! once over the compiled graph (`apply`). Where cairn manages both ends, a rule completes the
//! other end itself (a policy statement with the Sid `CairnWiring<Rule>`, a property value) and
//! the plan shows it as part of the resource's properties, as grants do. Where it does not,
//! validate refuses with a located error that prints the statement to add. A rule can be
//! switched off per resource with `policy.exceptions`, like the IAM lint.

mod eks;
mod eks_versions;
mod kms;
mod net;
mod rds;
mod rules;
mod s3;
mod s3_access;
mod sqs;

use serde_json::{json, Value};

use crate::diag::{Diagnostic, Diagnostics};
use crate::expr::{self, Expr, Seg};
use crate::graph::{ResourceGraph, ResourceNode};

pub use s3::without_aws_added_statements;

pub use rules::{Rule, RULES};

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// The Sid of a statement a rule adds: `CairnWiring` and the rule id in CamelCase (policy Sids
/// are safest as ASCII letters and digits only).
pub fn sid(rule: &str, suffix: &str) -> String {
    let camel: String = rule.split('-').filter(|w| !w.is_empty()).map(|w| w[..1].to_uppercase() + &w[1..]).collect();
    format!("CairnWiring{camel}{suffix}")
}

/// What a rule wants done.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Add (or replace, by Sid) a statement in the policy held by the property.
    AddStatement(Value),
    /// Set these fields of the object held by the property.
    SetFields(Value),
    /// Refuse, with what to do about it (often the statement to add elsewhere).
    Refuse { message: String, help: String },
    /// Accept, but say what AWS will do with it.
    Warn { message: String, help: String },
}

/// One finding of one rule about one resource.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finding {
    pub rule: &'static str,
    pub address: String,
    pub prop: String,
    pub action: Action,
}

impl Finding {
    fn new(rule: &'static str, node: &ResourceNode, prop: &str, action: Action) -> Finding {
        Finding { rule, address: node.address.clone(), prop: prop.to_string(), action }
    }
}

/// Read-only view of the graph the rules share.
pub(crate) struct Ctx<'g> {
    pub graph: &'g ResourceGraph,
}

impl<'g> Ctx<'g> {
    pub fn nodes(&self, kind: &'g str) -> impl Iterator<Item = &'g ResourceNode> + 'g {
        self.graph.nodes.values().filter(move |n| n.kind == kind)
    }

    /// The resource of this stack a value references (`${orders.queue.arn}`), if any.
    pub fn target(&self, v: &Value) -> Option<&'g ResourceNode> {
        match expr::as_unknown(v)? {
            Expr::Ref(path) => crate::grants::target_address(&path, &self.graph.nodes),
            _ => None,
        }
    }

    /// `aws`, or the partition of the stack's region.
    pub fn partition(&self) -> &'static str {
        partition(&self.graph.region)
    }

    /// The account id, or the marker the applier fills in when it is not known yet.
    pub fn account(&self) -> Value {
        match &self.graph.account_id {
            Some(a) => Value::String(a.clone()),
            None => expr::unknown(&Expr::Ref(vec![Seg::Name("account_id".into())])),
        }
    }

    /// Joins literal text and values (markers included) into one string value.
    pub fn concat(&self, parts: &[Value]) -> Value {
        if parts.iter().all(Value::is_string) {
            return Value::String(parts.iter().filter_map(Value::as_str).collect());
        }
        expr::unknown(&Expr::Concat(parts.iter().map(crate::component::to_expr).collect()))
    }

    /// The physical name a resource has (or will have), when known at plan time.
    pub fn physical_name(&self, node: &ResourceNode) -> Option<String> {
        let (prop, fifo) = match node.kind.as_str() {
            "aws.sqs.queue" => ("name", Some("fifo_queue")),
            "aws.sns.topic" => ("name", Some("fifo_topic")),
            "aws.s3.bucket" => ("bucket", None),
            _ => ("name", None),
        };
        let name = match node.props.get(prop) {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return None,
            None => node.default_name.clone(),
        };
        // Queue and topic kinds append `.fifo` to a FIFO name that lacks it.
        match fifo {
            Some(f) if is_true(node.props.get(f)) && !name.ends_with(".fifo") => Some(format!("{name}.fifo")),
            _ => Some(name),
        }
    }

    /// The ARN of a queue, topic, bucket or trail of this stack, spelt out from its name so that a
    /// policy naming it adds no dependency (a key policy naming a topic that the key encrypts
    /// would otherwise be a cycle). `None` when the name is known only after apply.
    pub fn arn_of(&self, node: &ResourceNode) -> Option<Value> {
        let name = self.physical_name(node)?;
        let p = self.partition();
        let region = &self.graph.region;
        Some(match node.kind.as_str() {
            "aws.sqs.queue" => self.concat(&[json!(format!("arn:{p}:sqs:{region}:")), self.account(), json!(format!(":{name}"))]),
            "aws.sns.topic" => self.concat(&[json!(format!("arn:{p}:sns:{region}:")), self.account(), json!(format!(":{name}"))]),
            "aws.s3.bucket" => json!(format!("arn:{p}:s3:::{name}")),
            "aws.cloudtrail.trail" => self.concat(&[json!(format!("arn:{p}:cloudtrail:{region}:")), self.account(), json!(format!(":trail/{name}"))]),
            _ => return None,
        })
    }

    /// A value for a policy of this stack: a reference to one of its queues, topics or buckets
    /// becomes the ARN spelt out from its name; `None` when that cannot be done.
    pub fn spell_out(&self, v: &Value) -> Option<Value> {
        let mut refs = vec![];
        expr::refs_in(v, &mut refs);
        if refs.iter().all(|path| path.first() == Some(&Seg::Name("account_id".into()))) {
            return Some(v.clone());
        }
        self.target(v).filter(|_| refs.len() == 1 && refs[0].last() == Some(&Seg::Name("arn".into()))).and_then(|n| self.arn_of(n))
    }

    /// `arn:aws:logs:<region>:<account>:*`: what log delivery names as its source.
    pub fn logs_source_arn(&self) -> Value {
        self.concat(&[json!(format!("arn:{}:logs:{}:", self.partition(), self.graph.region)), self.account(), json!(":*")])
    }

    /// Whether a rule is switched off for this resource by a policy exception.
    fn excepted(&self, rule: &str, address: &str) -> bool {
        let name = self.graph.nodes.get(address).map(|n| n.name.as_str());
        self.graph.exceptions.iter().any(|(r, a, _)| r == rule && (a == address || Some(a.as_str()) == name))
    }
}

pub(crate) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// Whether a value is a whole document known only after apply.
pub(crate) fn is_unknown(v: Option<&Value>) -> bool {
    v.is_some_and(|v| expr::as_unknown(v).is_some())
}

pub(crate) fn is_true(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true))) || matches!(v, Some(Value::String(s)) if s == "true")
}

/// A list of strings from a string or an array of strings (the two spellings IAM accepts).
pub(crate) fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => vec![],
    }
}

/// The statements of a policy document (a document that is itself known only after apply has none).
pub(crate) fn statements(policy: Option<&Value>) -> Vec<Value> {
    let doc = match policy {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    };
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => vec![],
    }
}

/// IAM's wildcard match (`*` any run, `?` one character), case-insensitive as action names
/// are. Iterative with one backtrack point, so a pattern full of `*` stays linear-ish.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && (p[i] == b'?' || p[i].eq_ignore_ascii_case(&t[j])) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == b'*')
}

/// The service principals of a statement (`{ Service: ... }`); `*` when it names every principal.
pub(crate) fn principals(stmt: &Value) -> Vec<String> {
    match stmt.get("Principal") {
        Some(Value::String(s)) if s == "*" => vec!["*".into()],
        Some(Value::Object(m)) => {
            let mut out = strings(m.get("Service"));
            if strings(m.get("AWS")).iter().any(|a| a == "*") {
                out.push("*".into());
            }
            out
        }
        _ => vec![],
    }
}

/// [`statements`] lent to `f` rather than copied, unless the policy is JSON text to parse.
fn with_statements<R>(policy: Option<&Value>, f: impl FnOnce(&[Value]) -> R) -> R {
    match policy {
        Some(Value::String(_)) | None => f(&statements(policy)),
        Some(doc) => match doc.get("Statement") {
            Some(Value::Array(a)) => f(a),
            Some(s @ Value::Object(_)) => f(std::slice::from_ref(s)),
            _ => f(&[]),
        },
    }
}

/// Whether a policy lets `service` perform every one of `actions` (by an Allow naming the
/// service or every principal). Conditions are not evaluated: a statement the user wrote for
/// the service is trusted to be the one they mean.
pub(crate) fn admits(policy: Option<&Value>, service: &str, actions: &[&str]) -> bool {
    with_statements(policy, |stmts| admitted(stmts, service, actions))
}

fn admitted(stmts: &[Value], service: &str, actions: &[&str]) -> bool {
    actions.iter().all(|wanted| {
        // `kms:GenerateDataKey*` is admitted by whatever admits kms:GenerateDataKey.
        let wanted = wanted.trim_end_matches('*');
        stmts.iter().any(|s| {
            s.get("Effect").and_then(Value::as_str) == Some("Allow")
                && principals(s).iter().any(|p| p == "*" || p == service)
                && strings(s.get("Action")).iter().any(|a| glob(a, wanted))
        })
    })
}

/// The default key policy KMS gives a key created without one: the account administers the
/// key through IAM. A key policy cairn completes starts from it, so nothing the account could
/// do before is taken away.
pub(crate) fn default_key_policy(cx: &Ctx) -> Value {
    let root = cx.concat(&[json!(format!("arn:{}:iam::", cx.partition())), cx.account(), json!(":root")]);
    json!({ "Version": "2012-10-17", "Id": "key-default-1", "Statement": [
        { "Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": { "AWS": root }, "Action": "kms:*", "Resource": "*" }
    ] })
}

/// Runs every rule over the compiled graph: completes what cairn manages on both ends and
/// reports the rest (errors, and warnings for what AWS accepts but does not do as meant).
pub fn apply(graph: &mut ResourceGraph, diags: &mut Diagnostics) {
    let findings = {
        let cx = Ctx { graph };
        let mut out = vec![];
        kms::check(&cx, &mut out);
        s3::check(&cx, &mut out);
        s3_access::check(&cx, &mut out);
        sqs::check(&cx, &mut out);
        eks::check(&cx, &mut out);
        eks_versions::check(&cx, &mut out);
        net::check(&cx, &mut out);
        rds::check(&cx, &mut out);
        out.retain(|f| !cx.excepted(f.rule, &f.address));
        out
    };
    let base_key_policy = default_key_policy(&Ctx { graph });
    for f in findings {
        let Some(node) = graph.nodes.get_mut(&f.address) else { continue };
        let link = find(f.rule).map(|r| r.link).unwrap_or_default();
        let span = node.prop_spans.get(&f.prop).copied().unwrap_or(node.span);
        let exception = format!("or record an exception: policy.exceptions: [{{ rule: {}, address: {}, reason: \"...\" }}]", f.rule, node.name);
        match f.action {
            Action::AddStatement(stmt) => {
                let base = if node.kind == "aws.kms.key" { base_key_policy.clone() } else { json!({ "Version": "2012-10-17", "Statement": [] }) };
                add_statement(&mut node.props, &f.prop, stmt, base);
            }
            Action::SetFields(fields) => {
                let entry = node.props.entry(f.prop.clone()).or_insert_with(|| json!({}));
                if let (Value::Object(have), Value::Object(set)) = (entry, fields) {
                    have.extend(set);
                }
            }
            Action::Refuse { message, help } => {
                diags.push(Diagnostic::error(f.rule, format!("`{}`: {message}", f.address), span).help(format!("{help}; see {link}; {exception}")));
            }
            Action::Warn { message, help } => {
                diags.push(Diagnostic::warning(f.rule, format!("`{}`: {message}", f.address), span).help(format!("{help}; see {link}")));
            }
        }
    }
}

/// Puts a statement into the policy a property holds (creating the policy from `base`),
/// replacing one with the same Sid so that running twice changes nothing.
fn add_statement(props: &mut crate::provider::Props, prop: &str, stmt: Value, base: Value) {
    let policy = props.entry(prop.to_string()).or_insert(base);
    if let Value::String(text) = policy {
        match serde_json::from_str::<Value>(text) {
            Ok(v) => *policy = v,
            Err(_) => return,
        }
    }
    // A document computed at apply time cannot be completed here.
    if expr::as_unknown(policy).is_some() {
        return;
    }
    let Some(doc) = policy.as_object_mut() else { return };
    let list = doc.entry("Statement").or_insert_with(|| json!([]));
    if list.is_object() {
        *list = Value::Array(vec![list.take()]);
    }
    if let Value::Array(items) = list {
        let sid = stmt.get("Sid").cloned();
        items.retain(|s| s.get("Sid") != sid.as_ref() || sid.is_none());
        items.push(stmt);
    }
}

/// Renders a statement for a message: compact JSON, markers shown as `${...}`.
pub(crate) fn show(stmt: &Value) -> String {
    fn plain(v: &Value) -> Value {
        if let Some(e) = expr::as_unknown(v) {
            return Value::String(expr_text(&e));
        }
        match v {
            Value::Array(a) => Value::Array(a.iter().map(plain).collect()),
            // Sorted keys whatever serde_json's map order is in this build.
            Value::Object(m) => {
                let sorted: std::collections::BTreeMap<&String, Value> = m.iter().map(|(k, x)| (k, plain(x))).collect();
                Value::Object(sorted.into_iter().map(|(k, x)| (k.clone(), x)).collect())
            }
            other => other.clone(),
        }
    }
    plain(stmt).to_string()
}

/// A residual as template text: literals as they are, references as `${path}`.
fn expr_text(e: &Expr) -> String {
    match e {
        Expr::Lit(Value::String(s)) => s.clone(),
        Expr::Lit(v) => v.to_string(),
        Expr::Ref(path) => format!("${{{}}}", expr::path_text(path)),
        Expr::Concat(parts) => parts.iter().map(expr_text).collect(),
        Expr::Call(name, _) => format!("${{{name}(...)}}"),
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_a_unique_id_and_an_aws_link() {
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
        assert!(RULES.len() >= 10);
        for r in RULES {
            assert!(r.link.starts_with("https://docs.aws.amazon.com/"), "{}", r.id);
        }
    }

    #[test]
    fn the_rules_document_lists_every_rule_with_its_link() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/wiring-rules.md")).expect("docs/wiring-rules.md");
        for r in RULES {
            assert!(doc.contains(&format!("| `{}` |", r.id)) && doc.contains(r.link), "docs/wiring-rules.md lacks {}", r.id);
        }
    }

    #[test]
    fn every_rule_has_a_fixture_stack() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wiring");
        for r in RULES {
            assert!(dir.join(format!("{}.yaml", r.id)).exists(), "no fixture tests/fixtures/wiring/{}.yaml", r.id);
        }
    }

    #[test]
    fn sids_are_letters_and_digits() {
        assert_eq!(sid("kms-sns-to-sqs", ""), "CairnWiringKmsSnsToSqs");
        assert_eq!(sid("s3-log-delivery-policy", "AclCheck"), "CairnWiringS3LogDeliveryPolicyAclCheck");
    }

    #[test]
    fn globs_match_iam_wildcards() {
        assert!(glob("kms:*", "kms:Decrypt"));
        assert!(glob("KMS:generatedatakey*", "kms:GenerateDataKey"));
        assert!(glob("*", "sqs:SendMessage"));
        assert!(!glob("kms:Encrypt", "kms:Decrypt"));
        assert!(glob("s3:Put?bject", "s3:PutObject"));
        assert!(glob("*Object", "s3:PutObject") && !glob("*Objects", "s3:PutObject"));
        // Many stars against a long text that does not match: no exponential search.
        assert!(!glob(&format!("{}b", "*a".repeat(40)), &"a".repeat(4000)));
    }

    #[test]
    fn admits_reads_principals_and_actions() {
        let p = json!({ "Statement": [
            { "Effect": "Allow", "Principal": { "Service": ["sns.amazonaws.com"] }, "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*" },
            { "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*" }
        ] });
        assert!(admits(Some(&p), "sns.amazonaws.com", &["kms:GenerateDataKey*", "kms:Decrypt"]));
        assert!(!admits(Some(&p), "events.amazonaws.com", &["kms:Decrypt"]));
        assert!(!admits(None, "sns.amazonaws.com", &["kms:Decrypt"]));
    }

    #[test]
    fn statements_print_with_sorted_keys_and_references_in_place() {
        let account = expr::unknown(&Expr::Concat(vec![
            Expr::Lit(json!("arn:aws:logs:us-east-1:")),
            Expr::Ref(vec![Seg::Name("account_id".into())]),
            Expr::Lit(json!(":*")),
        ]));
        assert_eq!(
            show(&json!({ "Sid": "S", "Effect": "Allow", "Condition": { "ArnLike": { "aws:SourceArn": [account] } } })),
            r#"{"Condition":{"ArnLike":{"aws:SourceArn":["arn:aws:logs:us-east-1:${account_id}:*"]}},"Effect":"Allow","Sid":"S"}"#
        );
    }

    #[test]
    fn adding_a_statement_twice_keeps_one() {
        let mut props = crate::provider::Props::new();
        let stmt = json!({ "Sid": "CairnWiringX", "Effect": "Allow" });
        add_statement(&mut props, "policy", stmt.clone(), json!({ "Statement": [] }));
        add_statement(&mut props, "policy", stmt, json!({ "Statement": [] }));
        assert_eq!(props["policy"]["Statement"].as_array().map(Vec::len), Some(1));
    }
}
