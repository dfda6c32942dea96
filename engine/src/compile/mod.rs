//! Compiles a stack spec for one environment into a `ResourceGraph`: vars resolved, resources expanded, references checked, tags merged.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::component::{self, Component, ComponentInput};
use crate::diag::{Diagnostic, Diagnostics};
use crate::expr::{self, Expr, Scope};
use crate::graph::{Lifecycle, ResourceGraph, ResourceNode};
use crate::provider::{Owner, PropType, Props, ResourceSchema, SchemaSource, Tags};
use crate::source::{SourceFile, Span};
use crate::spec::{self, StackSpec, VarType};
use crate::yaml::{Node, NodeKind};
use crate::{grants, policy_lint};

mod scope;

pub use scope::longest_address;
use scope::{BaseScope, LenientScope, LocalScope, RefTable};

/// What varies between runs of the same stack file.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    pub env: String,
    /// `--var name=value` overrides, as text (typed by the var's declared type).
    pub var_overrides: BTreeMap<String, String>,
    /// The caller's account, when known (from STS); the env's declared `account_id` wins.
    pub caller_account: Option<String>,
}

/// Kinds whose deletion loses data; an environment with `protect: true` guards them.
pub const STATEFUL_KINDS: &[&str] = &["aws.kms.key", "aws.s3.bucket", "aws.sqs.queue", "aws.rds.instance", "aws.eks.cluster"];

/// Parses, reads and compiles a stack file. All problems found are returned together.
pub fn compile_source(file: &SourceFile, opts: &CompileOptions, schemas: &dyn SchemaSource) -> Result<(ResourceGraph, Diagnostics), Diagnostics> {
    let root = crate::yaml::parse(&file.text).map_err(Diagnostics)?;
    let mut diags = Diagnostics::default();
    let spec = spec::read_stack(&root, &mut diags);
    let Some(spec) = spec else { return Err(diags.sorted()) };
    let graph = compile(&spec, file, opts, schemas, &mut diags);
    if diags.has_errors() {
        return Err(diags.sorted());
    }
    Ok((graph, diags.sorted()))
}

/// One concrete instance of a resource spec (after `count` / `for_each`).
struct Instance<'s> {
    address: String,
    spec: &'s spec::ResourceSpec,
    schema: Option<&'static ResourceSchema>,
    component: Option<&'static dyn Component>,
    each: Option<(Value, Value)>,
    count_index: Option<i64>,
}

/// The shape of each resource's expansion, so references can be checked before props are evaluated.
#[derive(Clone)]
pub(super) enum Expansion {
    Single,
    Count(i64),
    Keys(Vec<String>),
}

pub fn compile(spec: &StackSpec, file: &SourceFile, opts: &CompileOptions, schemas: &dyn SchemaSource, diags: &mut Diagnostics) -> ResourceGraph {
    let env = resolve_env(spec, opts, diags);
    let vars = resolve_vars(spec, env, opts, file, diags);
    let region = env.and_then(|e| e.region.as_ref()).map(|r| r.value.clone()).unwrap_or_else(|| spec.region.value.clone());
    let account_id = env.and_then(|e| e.account_id.as_ref()).map(|a| a.value.clone()).or_else(|| opts.caller_account.clone());

    let base = BaseScope { vars: &vars, declared: &spec.vars, env: &opts.env, region: &region, stack: &spec.stack.value, account_id: account_id.as_deref() };

    // Expansion first: references to `name[i]` are checked against it.
    let mut expansions: BTreeMap<&str, Expansion> = BTreeMap::new();
    for (name, r) in &spec.resources {
        let exp = if let Some(c) = &r.count {
            match eval_node(c, &base, diags) {
                Some(Value::Number(n)) if n.as_i64().is_some_and(|n| (0..=1000).contains(&n)) => Expansion::Count(n.as_i64().unwrap_or(0)),
                Some(other) => {
                    diags.push(Diagnostic::error("count", format!("`count` must be a whole number from 0 to 1000, found {other}"), c.span));
                    Expansion::Count(0)
                }
                None => Expansion::Count(0),
            }
        } else if let Some(f) = &r.for_each {
            match eval_node(f, &base, diags) {
                Some(Value::Array(items)) => {
                    let keys: Vec<String> = items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
                    if keys.len() != items.len() {
                        diags.push(Diagnostic::error("for-each", "`for_each` over a list needs a list of strings", f.span));
                    }
                    Expansion::Keys(keys)
                }
                Some(Value::Object(m)) => Expansion::Keys(m.keys().cloned().collect()),
                Some(other) => {
                    diags.push(Diagnostic::error("for-each", format!("`for_each` needs a list of strings or a map, found {other}"), f.span));
                    Expansion::Keys(vec![])
                }
                None => Expansion::Keys(vec![]),
            }
        } else {
            Expansion::Single
        };
        expansions.insert(name.as_str(), exp);
    }

    let mut instances = vec![];
    for (name, r) in &spec.resources {
        let component = component::find(&r.kind.value);
        let schema = schemas.schema_of(&r.kind.value).or_else(|| component::schema_of(&r.kind.value));
        if schema.is_none() {
            let mut kinds: Vec<&str> = schemas.all_schemas().iter().map(|s| s.kind).collect();
            kinds.extend(component::all().iter().map(|c| c.kind()));
            diags.push(
                Diagnostic::error("unknown-type", format!("unknown resource type `{}`", r.kind.value), r.kind.span)
                    .help(spec::suggest(&r.kind.value, kinds.iter().copied()).unwrap_or_else(|| format!("known types: {}", kinds.join(", ")))),
            );
        }
        let each_values: BTreeMap<String, Value> = match (&r.for_each, &expansions[name.as_str()]) {
            (Some(f), Expansion::Keys(_)) => match eval_node(f, &base, &mut Diagnostics::default()) {
                Some(Value::Object(m)) => m.into_iter().collect(),
                Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(|s| (s.to_string(), v.clone()))).collect(),
                _ => BTreeMap::new(),
            },
            _ => BTreeMap::new(),
        };
        match &expansions[name.as_str()] {
            Expansion::Single => instances.push(Instance { address: name.clone(), spec: r, schema, component, each: None, count_index: None }),
            Expansion::Count(n) => {
                for i in 0..*n {
                    instances.push(Instance { address: format!("{name}[{i}]"), spec: r, schema, component, each: None, count_index: Some(i) });
                }
            }
            Expansion::Keys(keys) => {
                for k in keys {
                    let v = each_values.get(k).cloned().unwrap_or(Value::String(k.clone()));
                    instances.push(Instance {
                        address: format!("{name}[\"{k}\"]"),
                        spec: r,
                        schema,
                        component,
                        each: Some((Value::String(k.clone()), v)),
                        count_index: None,
                    });
                }
            }
        }
    }

    // Components first expand leniently, to learn their parts and outputs; references to
    // them are then checked strictly like any other.
    let mut parts: BTreeMap<String, &'static str> = BTreeMap::new();
    let mut component_outputs: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for inst in instances.iter().filter(|i| i.component.is_some()) {
        let lenient = LenientScope { base: &base, each: inst.each.as_ref(), count_index: inst.count_index };
        let mut scratch = Diagnostics::default();
        let props = inst.spec.props.as_ref().and_then(|n| eval_tree(n, &lenient, &mut scratch)).and_then(|v| v.as_object().cloned()).unwrap_or_default();
        if let Some(Ok(exp)) = inst.component.map(|c| c.expand(&component_input(inst, &props, spec, opts, &region))) {
            for p in &exp.parts {
                parts.insert(format!("{}.{}", inst.address, p.sub), p.kind);
            }
            component_outputs.insert(inst.address.clone(), exp.outputs);
        }
    }

    let kinds: BTreeMap<&str, Option<&'static ResourceSchema>> = instances.iter().map(|i| (i.spec.name.as_str(), i.schema)).collect();
    let refs = RefTable { expansions: &expansions, kinds: &kinds, parts: &parts, outputs: &component_outputs, schemas };

    let mut nodes = BTreeMap::new();
    let mut part_nodes: Vec<String> = vec![];
    for inst in &instances {
        let local = LocalScope {
            base: &base,
            refs: &refs,
            each: inst.each.as_ref(),
            count_index: inst.count_index,
            deps: RefCell::new(BTreeSet::new()),
            self_name: &inst.spec.name,
        };
        let (props, prop_spans) = compile_props(inst, &local, file, diags);
        let mut deps = local.deps.into_inner();
        let mut explicit = BTreeSet::new();
        for d in &inst.spec.depends_on {
            if let Some(addrs) = refs.addresses_of(&d.value) {
                explicit.extend(addrs.clone());
                deps.extend(addrs);
            } else {
                diags.push(
                    Diagnostic::error("unknown-reference", format!("`depends_on` names `{}`, which is not a resource in this stack", d.value), d.span).help(
                        spec::suggest(&d.value, spec.resources.keys().map(String::as_str)).unwrap_or_else(|| "list resource names from `resources:`".into()),
                    ),
                );
            }
        }
        deps.remove(&inst.address);
        let lifecycle = Lifecycle {
            protect: inst.spec.lifecycle.protect || (STATEFUL_KINDS.contains(&inst.spec.kind.value.as_str()) && env.is_some_and(|e| e.protect)),
            create_before_destroy: inst.spec.lifecycle.create_before_destroy,
            ignore_changes: inst.spec.lifecycle.ignore_changes.iter().map(|s| s.value.clone()).collect(),
        };
        if let Some(schema) = inst.schema {
            for ic in &inst.spec.lifecycle.ignore_changes {
                if ic.value != "tags" && schema.prop(&ic.value).is_none() && inst.component.is_none() {
                    diags.push(
                        Diagnostic::error(
                            "unknown-property",
                            format!("`ignore_changes` names `{}`, which is not a property of {}", ic.value, schema.kind),
                            ic.span,
                        )
                        .help(spec::suggest(&ic.value, schema.props.iter().map(|p| p.name)).unwrap_or_else(|| "name a property or `tags`".into())),
                    );
                }
            }
        }
        let tag_scope = LocalScope {
            base: &base,
            refs: &refs,
            each: inst.each.as_ref(),
            count_index: inst.count_index,
            deps: RefCell::new(BTreeSet::new()),
            self_name: &inst.spec.name,
        };

        if let Some(comp) = inst.component {
            if diags.has_errors() && props.is_empty() && inst.spec.props.is_some() {
                continue;
            }
            let expansion = match comp.expand(&component_input(inst, &props, spec, opts, &region)) {
                Ok(e) => e,
                Err(msg) => {
                    diags.push(Diagnostic::error("component", format!("{} `{}`: {msg}", comp.kind(), inst.address), inst.spec.span));
                    continue;
                }
            };
            for part in expansion.parts {
                let address = format!("{}.{}", inst.address, part.sub);
                let owner = Owner { stack: spec.stack.value.clone(), env: opts.env.clone(), address: address.clone() };
                let part_schema = schemas.schema_of(part.kind);
                let tags = match part_schema {
                    Some(s) if s.taggable => {
                        let mut t = merge_tags(spec, inst, &owner, &tag_scope, diags);
                        t.extend(part.tags.clone());
                        t.extend(owner.tags());
                        // Reported once for the component, not once per part.
                        check_required_tags(spec, inst, &inst.address, &t, diags);
                        t
                    }
                    _ => Tags::new(),
                };
                // A part depends on what its own properties reference (added below) and on the component's depends_on.
                let mut part_deps = explicit.clone();
                part_deps.extend(part.depends_on.iter().map(|d| format!("{}.{d}", inst.address)));
                part_nodes.push(address.clone());
                nodes.insert(
                    address.clone(),
                    ResourceNode {
                        address: address.clone(),
                        name: inst.spec.name.clone(),
                        kind: part.kind.to_string(),
                        props: part.props,
                        tags,
                        deps: part_deps,
                        lifecycle: Lifecycle {
                            protect: lifecycle.protect || (STATEFUL_KINDS.contains(&part.kind) && env.is_some_and(|e| e.protect)),
                            ..lifecycle.clone()
                        },
                        span: inst.spec.span,
                        prop_spans: prop_spans.clone(),
                        default_name: default_name(&spec.stack.value, &opts.env, &address),
                        owner,
                    },
                );
            }
            continue;
        }

        let owner = Owner { stack: spec.stack.value.clone(), env: opts.env.clone(), address: inst.address.clone() };
        let tags = match inst.schema {
            Some(s) if s.taggable => {
                let t = merge_tags(spec, inst, &owner, &tag_scope, diags);
                check_required_tags(spec, inst, &inst.address, &t, diags);
                t
            }
            _ => Tags::new(),
        };
        nodes.insert(
            inst.address.clone(),
            ResourceNode {
                address: inst.address.clone(),
                name: inst.spec.name.clone(),
                kind: inst.spec.kind.value.clone(),
                props,
                tags,
                deps,
                lifecycle,
                span: inst.spec.span,
                prop_spans,
                default_name: default_name(&spec.stack.value, &opts.env, &inst.address),
                owner,
            },
        );
    }

    // Parts reference each other through markers: their edges come from those references.
    let addresses: BTreeSet<String> = nodes.keys().cloned().collect();
    for a in &part_nodes {
        if let Some(n) = nodes.get_mut(a) {
            let mut found = vec![];
            expr::refs_in(&Value::Object(n.props.clone()), &mut found);
            for path in found {
                if let Some(target) = longest_address(&path, &addresses) {
                    if target != *a {
                        n.deps.insert(target);
                    }
                }
            }
        }
    }

    for (address, problems) in grants::expand_all(&mut nodes) {
        let span = nodes.get(&address).map(|n| n.prop_spans.get("grants").copied().unwrap_or(n.span));
        for p in problems {
            diags.push(
                Diagnostic::error("grant", format!("`{address}`: {p}"), span)
                    .help(format!("grants look like [{{ consume: ${{queue.arn}} }}]; verbs: {}", grants::VERBS.join(", "))),
            );
        }
    }
    for node in nodes.values() {
        for f in policy_lint::check_node(node) {
            let excepted = spec.policy.exceptions.iter().any(|e| e.rule.value == f.rule && (e.address.value == node.address || e.address.value == node.name));
            if excepted {
                continue;
            }
            let span = node.prop_spans.get(&f.prop).copied().unwrap_or(node.span);
            diags.push(
                Diagnostic::error(f.rule, format!("`{}` {}: {}", f.address, f.location, f.message), span)
                    .help(format!("{}; or record an exception: policy.exceptions: [{{ rule: {}, address: {}, reason: \"...\" }}]", f.hint, f.rule, node.name)),
            );
        }
    }

    let mut outputs = BTreeMap::new();
    for (name, node) in &spec.outputs {
        let local = LocalScope { base: &base, refs: &refs, each: None, count_index: None, deps: RefCell::new(BTreeSet::new()), self_name: "" };
        if let Some(v) = eval_tree(node, &local, diags) {
            outputs.insert(name.clone(), v);
        }
    }

    let graph = ResourceGraph {
        stack: spec.stack.value.clone(),
        env: opts.env.clone(),
        region,
        account_id,
        nodes,
        outputs,
        vars,
        exceptions: spec.policy.exceptions.iter().map(|e| (e.rule.value.clone(), e.address.value.clone(), e.reason.clone())).collect(),
        moved: spec.moved.iter().map(|m| (m.from.value.clone(), m.to.value.clone())).collect(),
    };
    if let Err(cycle) = graph.topo_order() {
        let first = graph.nodes.get(&cycle[0]).map(|n| n.span);
        diags.push(
            Diagnostic::error("cycle", format!("dependency cycle: {}", cycle.join(" -> ")), first)
                .help("break the cycle: one of these resources must not reference the next"),
        );
    }
    graph
}

fn component_input<'a>(inst: &'a Instance, props: &'a Props, spec: &'a StackSpec, opts: &'a CompileOptions, region: &'a str) -> ComponentInput<'a> {
    ComponentInput {
        address: &inst.address,
        props,
        stack: &spec.stack.value,
        env: &opts.env,
        region,
        name_prefix: default_name(&spec.stack.value, &opts.env, &inst.address),
    }
}

fn resolve_env<'s>(spec: &'s StackSpec, opts: &CompileOptions, diags: &mut Diagnostics) -> Option<&'s spec::EnvSpec> {
    if opts.env.is_empty() {
        diags.push(Diagnostic::error("env", "no environment given", None).help("pass --env NAME"));
        return None;
    }
    if spec.environments.is_empty() {
        return None;
    }
    match spec.environments.get(&opts.env) {
        Some(e) => Some(e),
        None => {
            let names: Vec<&str> = spec.environments.keys().map(String::as_str).collect();
            diags.push(
                Diagnostic::error("env", format!("unknown environment `{}`; this stack defines: {}", opts.env, names.join(", ")), spec.stack.span)
                    .help(spec::suggest(&opts.env, names.iter().copied()).unwrap_or_else(|| "pass one of the environments above with --env".into())),
            );
            None
        }
    }
}

fn resolve_vars(spec: &StackSpec, env: Option<&spec::EnvSpec>, opts: &CompileOptions, file: &SourceFile, diags: &mut Diagnostics) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Some(e) = env {
        for k in e.vars.keys() {
            if !spec.vars.contains_key(k) {
                let span = e.vars.get(k).map(|n| n.span).unwrap_or(e.span);
                diags.push(
                    Diagnostic::error("unknown-var", format!("environment `{}` sets `{k}`, which is not declared under `vars:`", e.name), span)
                        .help(spec::suggest(k, spec.vars.keys().map(String::as_str)).unwrap_or_else(|| format!("declare it: `vars: {{ {k}: <default> }}`"))),
                );
            }
        }
    }
    for k in opts.var_overrides.keys() {
        if !spec.vars.contains_key(k) {
            diags.push(
                Diagnostic::error("unknown-var", format!("--var sets `{k}`, which is not declared under `vars:`"), None)
                    .help(spec::suggest(k, spec.vars.keys().map(String::as_str)).unwrap_or_else(|| "declare it in the stack file".into())),
            );
        }
    }
    for (name, var) in &spec.vars {
        // Where the value was written, for pointing at a value that is not allowed.
        let mut value_span = var.span;
        let value = if let Some(text) = opts.var_overrides.get(name) {
            match parse_override(text, var.ty) {
                Ok(v) => v,
                Err(msg) => {
                    diags.push(Diagnostic::error("var-type", format!("--var {name}={text}: {msg}"), None));
                    continue;
                }
            }
        } else if let Some(node) = env.and_then(|e| e.vars.get(name)).or(var.default.as_ref()) {
            value_span = node.span;
            if let Some(found) = VarType::of(node) {
                if found != var.ty {
                    diags.push(Diagnostic::error(
                        "var-type",
                        format!("var `{name}` is a {}, but this value is {}", var.ty.name(), node.type_name()),
                        node.span,
                    ));
                    continue;
                }
            }
            node_literal(node, file)
        } else {
            let env_name = env.map(|e| e.name.as_str()).unwrap_or(&opts.env);
            diags.push(
                Diagnostic::error("missing-var", format!("var `{name}` has no default and no value for environment `{env_name}`"), var.span)
                    .help(format!("set it under `environments.{env_name}.vars` or pass --var {name}=VALUE")),
            );
            continue;
        };
        if !var.allowed.is_empty() && !var.allowed.iter().any(|a| node_literal(a, file) == value) {
            let allowed: Vec<String> = var.allowed.iter().map(|a| node_literal(a, file).to_string()).collect();
            diags.push(
                Diagnostic::error("var-not-allowed", format!("var `{name}` = {value} is not one of the allowed values: {}", allowed.join(", ")), value_span)
                    .help(format!("the allowed values are declared with var `{name}` on line {}", var.span.line)),
            );
        }
        out.insert(name.clone(), value);
    }
    out
}

fn parse_override(text: &str, ty: VarType) -> Result<Value, String> {
    match ty {
        VarType::String => Ok(Value::String(text.to_string())),
        VarType::Number => text.parse::<i64>().map(Value::from).or_else(|_| text.parse::<f64>().map(Value::from)).map_err(|_| "expected a number".to_string()),
        VarType::Bool => text.parse::<bool>().map(Value::Bool).map_err(|_| "expected true or false".to_string()),
        VarType::List | VarType::Map => serde_json::from_str(text).map_err(|e| format!("expected JSON: {e}")),
    }
}

/// A node's value with no expression evaluation; plain scalars that look like numbers
/// keep their written text where a string is wanted later (see `coerce`).
fn node_literal(node: &Node, _file: &SourceFile) -> Value {
    node.to_json()
}

/// The physical name given to a resource that does not set one: `stack-env-address`, lowercase.
pub fn default_name(stack: &str, env: &str, address: &str) -> String {
    let raw = format!("{stack}-{env}-{address}");
    let mut name: String = raw
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            '_' | '.' | '[' => Some('-'),
            _ => None,
        })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = name.trim_end_matches('-').to_string();
    // 63 fits S3 bucket names and is under the IAM/SQS/SNS limits; keep it unique with a hash.
    if name.len() > 63 {
        let hash = fnv1a(&raw);
        format!("{}-{:08x}", &name[..54], hash as u32)
    } else {
        name
    }
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

/// Evaluates a node that must be fully known (count, for_each).
fn eval_node(node: &Node, scope: &dyn Scope, diags: &mut Diagnostics) -> Option<Value> {
    let v = eval_tree(node, scope, diags)?;
    if expr::contains_unknown(&v) {
        diags.push(
            Diagnostic::error("unknown-at-plan", "this value must be known before any resource is created", node.span)
                .help("use vars, env or literals here, not resource attributes"),
        );
        return None;
    }
    Some(v)
}

/// Evaluates every string in a YAML tree; values that depend on resources become unknown markers.
fn eval_tree(node: &Node, scope: &dyn Scope, diags: &mut Diagnostics) -> Option<Value> {
    Some(match &node.kind {
        NodeKind::Str(s) => {
            let template = match expr::parse_template(s) {
                Ok(t) => t,
                Err(e) => {
                    let span = node.span.narrow(e.offset, e.len, node.plain);
                    diags.push(Diagnostic::error(e.code, e.message, span));
                    return None;
                }
            };
            // Check each reference alone so a bad one is underlined exactly.
            let mut failed = false;
            for site in &template.refs {
                if let Err(msg) = scope.lookup(&site.path) {
                    let code = if msg.contains("has no attribute") { "unknown-attribute" } else { "unknown-reference" };
                    let (message, help) = split_hint(&msg);
                    let mut d = Diagnostic::error(code, message, node.span.narrow(site.offset, site.len, node.plain));
                    if let Some(h) = help {
                        d = d.help(h);
                    }
                    diags.push(d);
                    failed = true;
                }
            }
            if failed {
                return None;
            }
            match expr::partial_eval(&template.expr, scope) {
                Ok(Expr::Lit(v)) => v,
                Ok(residual) => expr::unknown(&residual),
                Err(msg) => {
                    diags.push(Diagnostic::error("expression", msg, node.span));
                    return None;
                }
            }
        }
        NodeKind::Seq(items) => {
            let mut out = vec![];
            let mut ok = true;
            for i in items {
                match eval_tree(i, scope, diags) {
                    Some(v) => out.push(v),
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            Value::Array(out)
        }
        NodeKind::Map(entries) => {
            let mut out = serde_json::Map::new();
            let mut ok = true;
            for (k, v) in entries {
                match eval_tree(v, scope, diags) {
                    Some(v) => {
                        out.insert(k.key_text(), v);
                    }
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            Value::Object(out)
        }
        _ => node.to_json(),
    })
}

/// Splits "message; did you mean `x`?" into message and help.
fn split_hint(msg: &str) -> (String, Option<String>) {
    match msg.split_once("; ") {
        Some((m, h)) => (m.to_string(), Some(h.to_string())),
        None => (msg.to_string(), None),
    }
}

fn compile_props(inst: &Instance, scope: &LocalScope, file: &SourceFile, diags: &mut Diagnostics) -> (Props, BTreeMap<String, Span>) {
    let mut props = Props::new();
    let mut spans = BTreeMap::new();
    let Some(node) = &inst.spec.props else {
        check_required(inst, &props, diags);
        return (props, spans);
    };
    let Some(entries) = node.as_map() else { return (props, spans) };
    for (k, v) in entries {
        let name = k.key_text();
        spans.insert(name.clone(), k.span);
        let spec = inst.schema.and_then(|s| s.prop(&name));
        if let Some(schema) = inst.schema {
            if spec.is_none() {
                diags.push(
                    Diagnostic::error("unknown-property", format!("{} has no property `{name}`", schema.kind), k.span).help(
                        spec::suggest(&name, schema.props.iter().map(|p| p.name))
                            .unwrap_or_else(|| format!("its properties: {}", schema.props.iter().map(|p| p.name).collect::<Vec<_>>().join(", "))),
                    ),
                );
                continue;
            }
        }
        let Some(value) = eval_tree(v, scope, diags) else { continue };
        if value.is_null() {
            continue;
        }
        let value = match spec {
            Some(p) => match coerce(&value, p.ty, v, file) {
                Ok(v) => v,
                Err(msg) => {
                    diags.push(Diagnostic::error("type", format!("`{name}` must be {}, found {msg}", p.ty.describe()), v.span));
                    continue;
                }
            },
            None => value,
        };
        props.insert(name, value);
    }
    check_required(inst, &props, diags);
    (props, spans)
}

fn check_required(inst: &Instance, props: &Props, diags: &mut Diagnostics) {
    let Some(schema) = inst.schema else { return };
    for p in schema.props.iter().filter(|p| p.required) {
        if !props.contains_key(p.name) && inst.spec.props.as_ref().and_then(|n| n.get(p.name)).is_none() {
            diags.push(
                Diagnostic::error("missing-property", format!("{} `{}` needs property `{}` ({})", schema.kind, inst.address, p.name, p.doc), inst.spec.span)
                    .help(format!("add `{}:` under `props:`", p.name)),
            );
        }
    }
}

/// Checks a value against a property type, converting where the YAML reading was ambiguous
/// (an unquoted `1.29` is a string where a string is wanted). Unknowns pass: checked at apply.
fn coerce(v: &Value, ty: PropType, node: &Node, file: &SourceFile) -> Result<Value, String> {
    if expr::as_unknown(v).is_some() {
        return Ok(v.clone());
    }
    let found = || match v {
        Value::Null => "null".to_string(),
        Value::Bool(_) => "a boolean".to_string(),
        Value::Number(_) => "a number".to_string(),
        Value::String(s) => format!("the string \"{s}\""),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
    };
    match (ty, v) {
        (PropType::String, Value::String(_)) => Ok(v.clone()),
        (PropType::String, Value::Number(_) | Value::Bool(_)) => {
            let text = if node.plain { file.text.get(node.span.start..node.span.end).map(str::to_string) } else { None };
            Ok(Value::String(text.unwrap_or_else(|| v.to_string())))
        }
        (PropType::Int, Value::Number(n)) if n.is_i64() => Ok(v.clone()),
        (PropType::Int, Value::String(s)) => s.parse::<i64>().map(Value::from).map_err(|_| found()),
        (PropType::Bool, Value::Bool(_)) => Ok(v.clone()),
        (PropType::Bool, Value::String(s)) if s == "true" || s == "false" => Ok(Value::Bool(s == "true")),
        (PropType::StringList, Value::Array(items)) => {
            if items.iter().all(|i| i.is_string() || expr::as_unknown(i).is_some()) {
                Ok(v.clone())
            } else {
                Err("a list with non-string items".into())
            }
        }
        (PropType::StringMap, Value::Object(m)) => Ok(Value::Object(
            m.iter().map(|(k, x)| (k.clone(), if let Value::Number(_) | Value::Bool(_) = x { Value::String(x.to_string()) } else { x.clone() })).collect(),
        )),
        (PropType::Object, Value::Object(_) | Value::Array(_)) => Ok(v.clone()),
        (PropType::Policy, Value::Object(m)) => {
            if m.contains_key("Statement") {
                Ok(v.clone())
            } else {
                Err("a mapping without `Statement`".into())
            }
        }
        (PropType::Policy, Value::String(s)) => serde_json::from_str::<Value>(s).map_err(|_| found()),
        _ => Err(found()),
    }
}

fn merge_tags(spec: &StackSpec, inst: &Instance, owner: &Owner, scope: &dyn Scope, diags: &mut Diagnostics) -> Tags {
    // Reserved keys (`cairn:`, `aws:`) were refused, at the key, when the spec was read.
    let put = |k: &str, node: &Node, diags: &mut Diagnostics| -> Option<String> {
        match eval_tree(node, scope, diags) {
            Some(Value::String(s)) => Some(s),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
            Some(_) => {
                diags.push(Diagnostic::error("type", format!("tag `{k}` must be a string known at plan time"), node.span));
                None
            }
            None => None,
        }
    };
    let mut tags = Tags::new();
    for (k, n) in &spec.tags {
        if let Some(v) = put(k, n, diags) {
            tags.insert(k.clone(), v);
        }
    }
    // `Env` always comes from --env; a resource may still override it explicitly.
    tags.insert("Env".to_string(), owner.env.clone());
    for (k, n) in &inst.spec.tags {
        if let Some(v) = put(k, n, diags) {
            tags.insert(k.clone(), v);
        }
    }
    tags.extend(owner.tags());
    tags
}

fn check_required_tags(spec: &StackSpec, inst: &Instance, address: &str, tags: &Tags, diags: &mut Diagnostics) {
    let missing: Vec<&str> = spec.policy.required_tags.iter().map(|t| t.value.as_str()).filter(|t| tags.get(*t).is_none_or(|v| v.trim().is_empty())).collect();
    if missing.is_empty() {
        return;
    }
    let excepted = spec
        .policy
        .exceptions
        .iter()
        .any(|e| e.rule.value == "required-tags" && (e.address.value == inst.spec.name || e.address.value == inst.address || e.address.value == address));
    if !excepted {
        diags.push(
            Diagnostic::error(
                "required-tags",
                format!(
                    "`{}` lacks required tag{} {}",
                    inst.address,
                    if missing.len() > 1 { "s" } else { "" },
                    missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                ),
                inst.spec.span,
            )
            .help(format!(
                "add them under this resource's `tags:` or the stack's `tags:` (required by policy.required_tags: {})",
                spec.policy.required_tags.iter().map(|t| t.value.as_str()).collect::<Vec<_>>().join(", ")
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_valid_and_bounded() {
        assert_eq!(default_name("platform", "dev", "orders_dlq"), "platform-dev-orders-dlq");
        assert_eq!(default_name("p", "dev", "subnet[\"a\"]"), "p-dev-subnet-a");
        assert_eq!(default_name("p", "dev", "subnet[0]"), "p-dev-subnet-0");
        let long = default_name("platform", "staging", &"x".repeat(80));
        assert_eq!(long.len(), 63);
        assert_ne!(long, default_name("platform", "staging", &"x".repeat(81)));
    }
}
