//! The stack file's structure: reads the YAML tree into a typed `StackSpec`, reporting every structural error.

use std::collections::BTreeMap;

use crate::diag::{Diagnostic, Diagnostics};
use crate::source::Span;
use crate::yaml::{Node, NodeKind};

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StackSpec {
    pub stack: Spanned<String>,
    pub region: Spanned<String>,
    pub environments: BTreeMap<String, EnvSpec>,
    pub vars: BTreeMap<String, VarSpec>,
    pub tags: BTreeMap<String, Node>,
    pub policy: PolicySpec,
    pub resources: BTreeMap<String, ResourceSpec>,
    pub outputs: BTreeMap<String, Node>,
    pub moved: Vec<Moved>,
    /// Where state lives (`state:`); `None` means the local SQLite file.
    pub state: Option<StateSpec>,
}

/// The stack's `state:` block: the remote backend its state lives in.
#[derive(Debug, Clone, PartialEq)]
pub struct StateSpec {
    pub span: Span,
    pub s3: Option<S3StateSpec>,
}

/// `state: { s3: { bucket, key_prefix, region, kms_key } }`.
#[derive(Debug, Clone, PartialEq)]
pub struct S3StateSpec {
    pub span: Span,
    pub bucket: Spanned<String>,
    pub key_prefix: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    pub kms_key: Option<Spanned<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnvSpec {
    pub name: String,
    pub span: Span,
    pub account_id: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    /// Deleting or replacing stateful resources needs `--allow-destroy`.
    pub protect: bool,
    pub vars: BTreeMap<String, Node>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarType {
    String,
    Number,
    Bool,
    List,
    Map,
}

impl VarType {
    pub fn name(self) -> &'static str {
        match self {
            VarType::String => "string",
            VarType::Number => "number",
            VarType::Bool => "bool",
            VarType::List => "list",
            VarType::Map => "map",
        }
    }
    fn parse(s: &str) -> Option<VarType> {
        Some(match s {
            "string" => VarType::String,
            "number" => VarType::Number,
            "bool" => VarType::Bool,
            "list" => VarType::List,
            "map" => VarType::Map,
            _ => return None,
        })
    }
    pub fn of(node: &Node) -> Option<VarType> {
        Some(match node.kind {
            NodeKind::Str(_) => VarType::String,
            NodeKind::Int(_) | NodeKind::Float(_) => VarType::Number,
            NodeKind::Bool(_) => VarType::Bool,
            NodeKind::Seq(_) => VarType::List,
            NodeKind::Map(_) => VarType::Map,
            NodeKind::Null => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct VarSpec {
    pub name: String,
    pub span: Span,
    pub ty: VarType,
    pub default: Option<Node>,
    pub allowed: Vec<Node>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PolicySpec {
    pub required_tags: Vec<Spanned<String>>,
    pub exceptions: Vec<PolicyException>,
    /// The permissions boundary (a managed policy ARN) every role the stack creates gets.
    pub permissions_boundary: Option<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyException {
    pub rule: Spanned<String>,
    pub address: Spanned<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lifecycle {
    pub protect: bool,
    pub create_before_destroy: bool,
    pub ignore_changes: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSpec {
    pub name: String,
    /// The span of the resource's key, where resource-level errors point.
    pub span: Span,
    pub kind: Spanned<String>,
    /// A mapping node (or absent: an empty mapping).
    pub props: Option<Node>,
    pub tags: BTreeMap<String, Node>,
    pub depends_on: Vec<Spanned<String>>,
    pub lifecycle: Lifecycle,
    pub count: Option<Node>,
    pub for_each: Option<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    pub from: Spanned<String>,
    pub to: Spanned<String>,
}

const TOP_KEYS: &[&str] = &["stack", "region", "environments", "vars", "tags", "policy", "resources", "outputs", "moved", "state"];
const RESOURCE_KEYS: &[&str] = &["type", "props", "tags", "depends_on", "lifecycle", "count", "for_each"];
const ENV_KEYS: &[&str] = &["account_id", "region", "protect", "vars"];
const VAR_KEYS: &[&str] = &["type", "default", "allowed", "description"];
const LIFECYCLE_KEYS: &[&str] = &["protect", "create_before_destroy", "ignore_changes"];
const STATE_KEYS: &[&str] = &["s3"];
const STATE_S3_KEYS: &[&str] = &["bucket", "key_prefix", "region", "kms_key"];

/// Names of resources and vars: what can follow `${` without ambiguity.
pub fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The closest of `candidates` to `word`, for "did you mean" hints.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min()
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

struct Reader<'d> {
    diags: &'d mut Diagnostics,
}

impl Reader<'_> {
    fn err(&mut self, code: &'static str, msg: impl Into<String>, span: Span) {
        self.diags.push(Diagnostic::error(code, msg, span));
    }

    fn map<'n>(&mut self, node: &'n Node, what: &str) -> &'n [(Node, Node)] {
        match node.as_map() {
            Some(m) => m,
            None if node.kind == NodeKind::Null => &[],
            None => {
                self.err("type", format!("{what} must be a mapping, found {}", node.type_name()), node.span);
                &[]
            }
        }
    }

    fn check_keys(&mut self, entries: &[(Node, Node)], allowed: &[&str], what: &str) {
        for (k, _) in entries {
            let key = k.key_text();
            if !allowed.contains(&key.as_str()) {
                let mut d = Diagnostic::error("unknown-key", format!("unknown key `{key}` in {what}"), k.span);
                d = d.help(suggest(&key, allowed.iter().copied()).unwrap_or_else(|| format!("allowed keys: {}", allowed.join(", "))));
                self.diags.push(d);
            }
        }
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        let value = match &node.kind {
            NodeKind::Str(s) => s.clone(),
            // Account ids and versions are often written unquoted.
            NodeKind::Int(i) => i.to_string(),
            NodeKind::Float(f) => f.to_string(),
            _ => {
                self.err("type", format!("{what} must be a string, found {}", node.type_name()), node.span);
                return None;
            }
        };
        Some(Spanned { value, span: node.span })
    }

    fn bool(&mut self, node: &Node, what: &str) -> bool {
        match node.kind {
            NodeKind::Bool(b) => b,
            _ => {
                self.err("type", format!("{what} must be true or false, found {}", node.type_name()), node.span);
                false
            }
        }
    }

    fn string_list(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        match node.as_seq() {
            Some(items) => items.iter().filter_map(|i| self.string(i, what)).collect(),
            None => {
                self.err("type", format!("{what} must be a list of strings, found {}", node.type_name()), node.span);
                vec![]
            }
        }
    }

    /// A `tags:` mapping; reserved keys are reported at the key and left out.
    fn tag_map(&mut self, node: &Node, what: &str) -> BTreeMap<String, Node> {
        let mut out = BTreeMap::new();
        for (k, v) in self.map(node, what) {
            let key = k.key_text();
            if key.starts_with("cairn:") || key.starts_with("aws:") {
                self.diags.push(
                    Diagnostic::error("reserved-tag", format!("tag key `{key}` is reserved"), k.span)
                        .help("`cairn:` tags are set by cairn to track ownership; `aws:` tags belong to AWS"),
                );
            } else {
                out.insert(key, v.clone());
            }
        }
        out
    }

    fn node_map(&mut self, node: &Node, what: &str) -> BTreeMap<String, Node> {
        self.map(node, what).iter().map(|(k, v)| (k.key_text(), v.clone())).collect()
    }
}

/// Reads a parsed YAML tree into a stack spec. Returns `None` only when the file is too
/// broken to continue; every problem found is in `diags`.
pub fn read_stack(root: &Node, diags: &mut Diagnostics) -> Option<StackSpec> {
    let mut r = Reader { diags };
    let Some(top) = root.as_map() else {
        r.err("type", format!("a stack file must be a mapping with `stack:` and `resources:`, found {}", root.type_name()), root.span);
        return None;
    };
    r.check_keys(top, TOP_KEYS, "the stack file");

    let stack = match root.get("stack") {
        Some(n) => r.string(n, "`stack`"),
        None => {
            r.diags.push(
                Diagnostic::error("missing-key", "the stack file has no `stack:` name", root.span)
                    .help("add `stack: NAME` at the top; state is kept per stack and environment"),
            );
            None
        }
    };
    if let Some(s) = &stack {
        if !valid_name(&s.value) {
            r.err("name", format!("stack name `{}` may only hold letters, digits, `-` and `_`", s.value), s.span);
        }
    }
    let region = match root.get("region") {
        Some(n) => r.string(n, "`region`"),
        None => Some(Spanned { value: "us-east-1".into(), span: root.span }),
    };

    let mut environments = BTreeMap::new();
    if let Some(envs) = root.get("environments") {
        for (k, v) in r.map(envs, "`environments`") {
            let name = k.key_text();
            let entries = r.map(v, &format!("environment `{name}`"));
            r.check_keys(entries, ENV_KEYS, &format!("environment `{name}`"));
            let account_id = v.get("account_id").and_then(|n| r.string(n, "`account_id`"));
            if let Some(a) = &account_id {
                if a.value.len() != 12 || !a.value.chars().all(|c| c.is_ascii_digit()) {
                    r.err("account-id", format!("account_id `{}` is not a 12-digit AWS account id", a.value), a.span);
                }
            }
            let env_region = v.get("region").and_then(|n| r.string(n, "`region`"));
            let protect = v.get("protect").map(|n| r.bool(n, "`protect`")).unwrap_or(false);
            let vars = v.get("vars").map(|n| r.node_map(n, "`vars`")).unwrap_or_default();
            environments.insert(name.clone(), EnvSpec { name, span: k.span, account_id, region: env_region, protect, vars });
        }
    }

    let mut vars = BTreeMap::new();
    if let Some(vs) = root.get("vars") {
        for (k, v) in r.map(vs, "`vars`") {
            let name = k.key_text();
            if !valid_name(&name) {
                r.err("name", format!("var name `{name}` may only hold letters, digits, `-` and `_`"), k.span);
            }
            // A var is either a bare default (typed by it) or `{ type, default, allowed, description }`.
            let is_long_form = v.as_map().is_some_and(|m| {
                !m.is_empty() && m.iter().all(|(k, _)| VAR_KEYS.contains(&k.key_text().as_str())) && (v.get("type").is_some() || v.get("default").is_some())
            });
            let spec = if is_long_form {
                let default = v.get("default").cloned();
                let ty = match v.get("type").and_then(|t| r.string(t, "`type`")) {
                    Some(t) => match VarType::parse(&t.value) {
                        Some(ty) => ty,
                        None => {
                            r.diags.push(
                                Diagnostic::error("type", format!("unknown var type `{}`", t.value), t.span)
                                    .help("use one of: string, number, bool, list, map"),
                            );
                            VarType::String
                        }
                    },
                    None => default.as_ref().and_then(VarType::of).unwrap_or(VarType::String),
                };
                let allowed = v.get("allowed").and_then(|a| a.as_seq().map(<[Node]>::to_vec)).unwrap_or_default();
                let description = v.get("description").and_then(|d| d.as_str().map(str::to_string));
                VarSpec { name: name.clone(), span: k.span, ty, default, allowed, description }
            } else {
                let ty = VarType::of(v).unwrap_or(VarType::String);
                let default = (v.kind != NodeKind::Null).then(|| v.clone());
                VarSpec { name: name.clone(), span: k.span, ty, default, allowed: vec![], description: None }
            };
            vars.insert(name, spec);
        }
    }

    let tags = root.get("tags").map(|n| r.tag_map(n, "`tags`")).unwrap_or_default();

    let mut policy = PolicySpec::default();
    if let Some(p) = root.get("policy") {
        let entries = r.map(p, "`policy`");
        r.check_keys(entries, &["required_tags", "exceptions", "permissions_boundary"], "`policy`");
        policy.permissions_boundary = p.get("permissions_boundary").cloned();
        if let Some(rt) = p.get("required_tags") {
            policy.required_tags = r.string_list(rt, "`required_tags`");
        }
        if let Some(ex) = p.get("exceptions") {
            for e in ex.as_seq().unwrap_or(&[]) {
                let rule = e.get("rule").and_then(|n| r.string(n, "`rule`"));
                let address = e.get("address").and_then(|n| r.string(n, "`address`"));
                let reason = e.get("reason").and_then(|n| n.as_str()).unwrap_or("").trim().to_string();
                if reason.is_empty() {
                    r.diags.push(
                        Diagnostic::error("exception-reason", "a policy exception must give a `reason`", e.span)
                            .help("say why the rule does not apply; the reason is shown in every plan"),
                    );
                }
                if let (Some(rule), Some(address)) = (rule, address) {
                    policy.exceptions.push(PolicyException { rule, address, reason });
                }
            }
        }
    }

    let mut resources = BTreeMap::new();
    match root.get("resources") {
        None => r.diags.push(
            Diagnostic::error("missing-key", "the stack file has no `resources:`", root.span)
                .help("add a `resources:` mapping; see `cairn schema` for the resource types"),
        ),
        Some(res) => {
            for (k, v) in r.map(res, "`resources`") {
                let name = k.key_text();
                if !valid_name(&name) {
                    r.err("name", format!("resource name `{name}` may only hold letters, digits, `-` and `_` and must start with a letter"), k.span);
                    continue;
                }
                let entries = r.map(v, &format!("resource `{name}`"));
                r.check_keys(entries, RESOURCE_KEYS, &format!("resource `{name}`"));
                let kind = match v.get("type") {
                    Some(t) => r.string(t, "`type`"),
                    None => {
                        r.diags.push(
                            Diagnostic::error("missing-key", format!("resource `{name}` has no `type`"), k.span)
                                .help("for example `type: aws.sqs.queue`; `cairn schema` lists the types"),
                        );
                        None
                    }
                };
                let Some(kind) = kind else { continue };
                let props = v.get("props").cloned();
                if let Some(p) = &props {
                    if p.as_map().is_none() && p.kind != NodeKind::Null {
                        r.err("type", format!("`props` must be a mapping, found {}", p.type_name()), p.span);
                    }
                }
                let tags = v.get("tags").map(|n| r.tag_map(n, "`tags`")).unwrap_or_default();
                let depends_on = v.get("depends_on").map(|n| r.string_list(n, "`depends_on`")).unwrap_or_default();
                let mut lifecycle = Lifecycle::default();
                if let Some(l) = v.get("lifecycle") {
                    let entries = r.map(l, "`lifecycle`");
                    r.check_keys(entries, LIFECYCLE_KEYS, "`lifecycle`");
                    lifecycle.protect = l.get("protect").map(|n| r.bool(n, "`protect`")).unwrap_or(false);
                    lifecycle.create_before_destroy = l.get("create_before_destroy").map(|n| r.bool(n, "`create_before_destroy`")).unwrap_or(false);
                    lifecycle.ignore_changes = l.get("ignore_changes").map(|n| r.string_list(n, "`ignore_changes`")).unwrap_or_default();
                }
                let count = v.get("count").cloned();
                let for_each = v.get("for_each").cloned();
                if count.is_some() && for_each.is_some() {
                    r.err("count-and-for-each", format!("resource `{name}` sets both `count` and `for_each`; use one"), k.span);
                }
                resources.insert(name.clone(), ResourceSpec { name, span: k.span, kind, props, tags, depends_on, lifecycle, count, for_each });
            }
        }
    }

    let outputs = root.get("outputs").map(|n| r.node_map(n, "`outputs`")).unwrap_or_default();

    let mut moved = vec![];
    if let Some(m) = root.get("moved") {
        for e in m.as_seq().unwrap_or(&[]) {
            if let (Some(from), Some(to)) = (e.get("from").and_then(|n| r.string(n, "`from`")), e.get("to").and_then(|n| r.string(n, "`to`"))) {
                moved.push(Moved { from, to });
            } else {
                r.err("moved", "each `moved` entry needs `from` and `to` addresses", e.span);
            }
        }
    }

    let state = root.get("state").and_then(|n| read_state_node(&mut r, n));

    Some(StackSpec { stack: stack?, region: region?, environments, vars, tags, policy, resources, outputs, moved, state })
}

/// [`read_stack`] of a tree that is no longer needed after: each resource's `props:` mapping,
/// the bulk of a stack file, moves into the spec instead of being copied node by node (and the
/// original dropped right after, as `pipeline::load` does).
pub fn read_stack_owned(mut root: Node, diags: &mut Diagnostics) -> Option<StackSpec> {
    let mut taken: Vec<(String, Node)> = vec![];
    let resources = match &mut root.kind {
        NodeKind::Map(top) => top.iter_mut().find(|(k, _)| k.key_str() == "resources").map(|(_, v)| v),
        _ => None,
    };
    if let Some(Node { kind: NodeKind::Map(entries), .. }) = resources {
        for (k, v) in entries.iter_mut() {
            let NodeKind::Map(fields) = &mut v.kind else { continue };
            let Some((_, props)) = fields.iter_mut().find(|(f, _)| f.key_str() == "props") else { continue };
            if props.as_map().is_some() {
                // An empty mapping in its place reads exactly as the mapping did: the reader
                // checks only that `props:` is one.
                let placeholder = Node { kind: NodeKind::Map(vec![]), span: props.span, plain: props.plain };
                taken.push((k.key_text(), std::mem::replace(props, placeholder)));
            }
        }
    }
    let mut spec = read_stack(&root, diags)?;
    for (name, props) in taken {
        if let Some(r) = spec.resources.get_mut(&name).filter(|r| r.props.is_some()) {
            r.props = Some(props);
        }
    }
    Some(spec)
}

/// Reads only the `state:` block of a parsed stack file, for commands that need nothing else
/// (`state list`, `output`): its problems are theirs, the rest of the file's are not.
pub fn read_state(root: &Node, diags: &mut Diagnostics) -> Option<StateSpec> {
    let mut r = Reader { diags };
    root.get("state").and_then(|n| read_state_node(&mut r, n))
}

fn read_state_node(r: &mut Reader, node: &Node) -> Option<StateSpec> {
    let entries = r.map(node, "`state`");
    r.check_keys(entries, STATE_KEYS, "`state`");
    let s3 = node.get("s3").and_then(|s3| {
        let entries = r.map(s3, "`state.s3`");
        if entries.is_empty() && s3.kind == NodeKind::Null {
            r.err("missing-key", "`state.s3` needs `bucket`", s3.span);
            return None;
        }
        r.check_keys(entries, STATE_S3_KEYS, "`state.s3`");
        let mut get = |k: &str| s3.get(k).and_then(|n| r.string(n, &format!("`state.s3.{k}`")));
        let (bucket, key_prefix, region, kms_key) = (get("bucket"), get("key_prefix"), get("region"), get("kms_key"));
        if s3.as_map().is_some() && s3.get("bucket").is_none() {
            r.diags.push(
                Diagnostic::error("missing-key", "`state.s3` needs `bucket`", s3.span).help("name the S3 bucket that holds the state: `s3: { bucket: NAME }`"),
            );
        }
        Some(S3StateSpec { span: s3.span, bucket: bucket?, key_prefix, region, kms_key })
    });
    Some(StateSpec { span: node.span, s3 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_an_owned_tree_gives_the_same_spec() {
        let src = "stack: s\nresources:\n  q:\n    type: fake.queue\n    props: { a: 1, b: { c: \"${x.arn}\" } }\n  p: { type: fake.queue, props: [1] }\n  n: { type: fake.queue, props: ~ }\n  bad name: { type: fake.queue, props: { a: 1 } }\n";
        let root = crate::yaml::parse(src).expect("yaml");
        let (mut by_ref, mut owned) = (Diagnostics::default(), Diagnostics::default());
        let expected = read_stack(&root, &mut by_ref);
        assert_eq!(read_stack_owned(root, &mut owned), expected);
        assert_eq!(format!("{:?}", owned.0), format!("{:?}", by_ref.0));
        assert!(expected.is_some_and(|s| s.resources["q"].props.as_ref().and_then(|p| p.get("b")).is_some()));
    }

    fn read(src: &str) -> (Option<StackSpec>, Diagnostics) {
        let root = crate::yaml::parse(src).expect("yaml");
        let mut diags = Diagnostics::default();
        (read_stack(&root, &mut diags), diags)
    }

    fn located(diags: &Diagnostics) -> Vec<(usize, usize, &'static str, String)> {
        diags.0.iter().map(|d| (d.span.map_or(0, |s| s.line), d.span.map_or(0, |s| s.col), d.code, d.message.clone())).collect()
    }

    #[test]
    fn state_s3_block_is_read_with_spans() {
        let (spec, diags) = read("stack: s\nresources: {}\nstate:\n  s3: { bucket: b, key_prefix: p, region: eu-west-1, kms_key: alias/k }\n");
        assert!(diags.0.is_empty(), "{diags:?}");
        let s3 = spec.and_then(|s| s.state).and_then(|s| s.s3).expect("s3 backend");
        assert_eq!(s3.bucket.value, "b");
        assert_eq!((s3.bucket.span.line, s3.bucket.span.col), (4, 17));
        assert_eq!(s3.key_prefix.map(|p| p.value).as_deref(), Some("p"));
        assert_eq!(s3.region.map(|p| p.value).as_deref(), Some("eu-west-1"));
        assert_eq!(s3.kms_key.map(|p| p.value).as_deref(), Some("alias/k"));
    }

    #[test]
    fn state_without_block_or_backend_is_local() {
        assert_eq!(read("stack: s\nresources: {}\n").0.and_then(|s| s.state), None);
        let (spec, diags) = read("stack: s\nresources: {}\nstate: {}\n");
        assert!(diags.0.is_empty());
        assert_eq!(spec.and_then(|s| s.state).map(|s| s.s3), Some(None));
    }

    #[test]
    fn state_block_errors_are_located() {
        let src = "stack: s\nresources: {}\nstate:\n  s4: {}\n  s3:\n    bucket: [a]\n    key_prefx: p\n";
        let (_, diags) = read(src);
        assert_eq!(
            located(&diags),
            vec![
                (4, 3, "unknown-key", "unknown key `s4` in `state`".to_string()),
                (7, 5, "unknown-key", "unknown key `key_prefx` in `state.s3`".to_string()),
                (6, 13, "type", "`state.s3.bucket` must be a string, found a list".to_string()),
            ]
        );
        assert_eq!(diags.0[1].help.as_deref(), Some("did you mean `key_prefix`?"));
        let (_, diags) = read("stack: s\nresources: {}\nstate:\n  s3: { region: us-east-1 }\n");
        assert_eq!(located(&diags), vec![(4, 7, "missing-key", "`state.s3` needs `bucket`".to_string())]);
        let (_, diags) = read("stack: s\nresources: {}\nstate: s3\n");
        assert_eq!(located(&diags), vec![(3, 8, "type", "`state` must be a mapping, found a string".to_string())]);
    }

    #[test]
    fn read_state_reports_only_the_state_block() {
        let root = crate::yaml::parse("stack: s\nbogus: 1\nstate: { s3: { bucket: b, extra: 1 } }\n").expect("yaml");
        let mut diags = Diagnostics::default();
        let state = read_state(&root, &mut diags);
        assert_eq!(state.and_then(|s| s.s3).map(|s| s.bucket.value).as_deref(), Some("b"));
        assert_eq!(located(&diags), vec![(3, 27, "unknown-key", "unknown key `extra` in `state.s3`".to_string())]);
    }
}
