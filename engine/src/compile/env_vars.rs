//! Pass `env-vars`: picks the environment named by `--env`, resolves every var (override, environment value, default) and the region and account.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Compilation;
use crate::diag::{Diagnostic, Diagnostics};
use crate::source::SourceFile;
use crate::spec::{self, StackSpec, VarType};
use crate::yaml::Node;

pub(super) fn run(c: &mut Compilation<'_>) {
    let (spec, opts) = (c.spec, c.opts);
    let env = resolve_env(spec, &opts.env, c.diags);
    c.resolved.vars = resolve_vars(spec, env, opts, c.file, c.diags);
    c.resolved.region = env.and_then(|e| e.region.as_ref()).map(|r| r.value.clone()).unwrap_or_else(|| spec.region.value.clone());
    c.resolved.account_id = env.and_then(|e| e.account_id.as_ref()).map(|a| a.value.clone()).or_else(|| opts.caller_account.clone());
    c.resolved.env = env;
}

fn resolve_env<'s>(spec: &'s StackSpec, name: &str, diags: &mut Diagnostics) -> Option<&'s spec::EnvSpec> {
    if name.is_empty() {
        diags.push(Diagnostic::error("env", "no environment given", None).help("pass --env NAME"));
        return None;
    }
    if spec.environments.is_empty() {
        return None;
    }
    match spec.environments.get(name) {
        Some(e) => Some(e),
        None => {
            let names: Vec<&str> = spec.environments.keys().map(String::as_str).collect();
            diags.push(
                Diagnostic::error("env", format!("unknown environment `{name}`; this stack defines: {}", names.join(", ")), spec.stack.span)
                    .help(spec::suggest(name, names.iter().copied()).unwrap_or_else(|| "pass one of the environments above with --env".into())),
            );
            None
        }
    }
}

fn resolve_vars(
    spec: &StackSpec,
    env: Option<&spec::EnvSpec>,
    opts: &super::CompileOptions,
    file: &SourceFile,
    diags: &mut Diagnostics,
) -> BTreeMap<String, Value> {
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

#[cfg(test)]
mod tests {
    use super::super::fixture::{after, diagnostics};
    use serde_json::json;

    const STACK: &str = "stack: s
region: us-east-1
environments:
  dev:
    region: eu-west-1
    account_id: \"111122223333\"
    vars: { size: 3, colour: red }
vars:
  size: 1
  name: { type: string, default: x, allowed: [x, y] }
  tier: { type: string }
resources: {}
";

    #[test]
    fn environment_values_win_over_defaults_and_set_region_and_account() {
        after(STACK, "env-vars", |c| {
            assert_eq!(c.resolved.env.map(|e| e.name.as_str()), Some("dev"));
            assert_eq!(c.resolved.vars.get("size"), Some(&json!(3)));
            assert_eq!(c.resolved.vars.get("name"), Some(&json!("x")));
            assert_eq!(c.resolved.region, "eu-west-1");
            assert_eq!(c.resolved.account_id.as_deref(), Some("111122223333"));
        });
    }

    #[test]
    fn undeclared_and_missing_vars_are_located() {
        after(STACK, "env-vars", |c| {
            assert_eq!(
                diagnostics(c),
                vec![
                    "7:30 unknown-var: environment `dev` sets `colour`, which is not declared under `vars:`",
                    "11:3 missing-var: var `tier` has no default and no value for environment `dev`",
                ]
            );
            assert!(!c.resolved.vars.contains_key("tier"));
        });
    }
}
