//! What a `${...}` reference may name at each stage of compiling: vars and builtins, `each`/`count`, other resources, component parts and outputs.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Expansion;
use crate::component;
use crate::expr::{self, Lookup, Scope, Seg};
use crate::provider::{ResourceSchema, SchemaSource};
use crate::spec;

/// The longest prefix of a reference path that names a resource.
pub fn longest_address(path: &[Seg], addresses: &BTreeSet<String>) -> Option<String> {
    (1..=path.len()).rev().map(|n| component::segments_address(&path[..n])).find(|a| addresses.contains(a))
}

/// Answers what is known before resources exist and leaves every other reference for later, unchecked.
pub(super) struct LenientScope<'a> {
    pub(super) base: &'a BaseScope<'a>,
    pub(super) each: Option<&'a (Value, Value)>,
    pub(super) count_index: Option<i64>,
}

impl Scope for LenientScope<'_> {
    fn lookup(&self, path: &[Seg]) -> Result<Lookup, String> {
        if let Some(r) = self.base.builtin(path) {
            return r;
        }
        match path.first() {
            Some(Seg::Name(h)) if h == "each" => match (self.each, path.get(1)) {
                (Some((k, _)), Some(Seg::Name(n))) if n == "key" => Ok(Lookup::Known(k.clone())),
                (Some((_, v)), Some(Seg::Name(n))) if n == "value" => index_into(v, &path[2..]).map(Lookup::Known),
                _ => Ok(Lookup::Later),
            },
            Some(Seg::Name(h)) if h == "count" => Ok(self.count_index.map(|i| Lookup::Known(Value::from(i))).unwrap_or(Lookup::Later)),
            _ => Ok(Lookup::Later),
        }
    }
}

/// Answers vars, env, region, stack, account_id: everything known before any resource exists.
pub(super) struct BaseScope<'a> {
    pub(super) vars: &'a BTreeMap<String, Value>,
    /// Every declared var, including those whose value could not be resolved (already reported).
    pub(super) declared: &'a BTreeMap<String, spec::VarSpec>,
    pub(super) env: &'a str,
    pub(super) region: &'a str,
    pub(super) stack: &'a str,
    pub(super) account_id: Option<&'a str>,
}

impl BaseScope<'_> {
    pub(super) fn builtin(&self, path: &[Seg]) -> Option<Result<Lookup, String>> {
        let Some(Seg::Name(head)) = path.first() else { return Some(Err("a reference must start with a name".into())) };
        let single = |v: &str| -> Result<Lookup, String> {
            if path.len() > 1 {
                Err(format!("`{head}` has no attributes"))
            } else {
                Ok(Lookup::Known(Value::String(v.to_string())))
            }
        };
        Some(match head.as_str() {
            "var" => match path.get(1) {
                Some(Seg::Name(n)) => match self.vars.get(n) {
                    Some(v) => index_into(v, &path[2..]).map(Lookup::Known),
                    None if self.declared.contains_key(n) => Err(format!("var `{n}` has no usable value (see the error at its declaration)")),
                    None => Err(format!(
                        "no var named `{n}`{}",
                        spec::suggest(n, self.declared.keys().map(String::as_str)).map(|s| format!("; {s}")).unwrap_or_default()
                    )),
                },
                _ => Err("write `var.NAME`".into()),
            },
            "env" => single(self.env),
            "region" => single(self.region),
            "stack" => single(self.stack),
            "account_id" => match self.account_id {
                Some(a) => single(a),
                None => Ok(Lookup::Later),
            },
            _ => return None,
        })
    }
}

pub(super) fn index_into(v: &Value, path: &[Seg]) -> Result<Value, String> {
    let mut cur = v;
    for seg in path {
        cur = match (seg, cur) {
            (Seg::Index(i), Value::Array(a)) => a.get(*i as usize).ok_or_else(|| format!("index {i} is out of range (length {})", a.len()))?,
            (Seg::Key(k), Value::Object(m)) | (Seg::Name(k), Value::Object(m)) => m.get(k).ok_or_else(|| format!("no key `{k}`"))?,
            (s, _) => return Err(format!("cannot index with `{s}` here")),
        };
    }
    Ok(cur.clone())
}

impl Scope for BaseScope<'_> {
    fn lookup(&self, path: &[Seg]) -> Result<Lookup, String> {
        match self.builtin(path) {
            Some(r) => r,
            None => {
                Err(format!("`{}` cannot be used here: only var, env, region, stack and account_id are known before resources exist", expr::path_text(path)))
            }
        }
    }
}

/// Which resource names exist and how they expand, for checking `${name[i].attr}`.
pub(super) struct RefTable<'a> {
    pub(super) expansions: &'a BTreeMap<&'a str, Expansion>,
    pub(super) kinds: &'a BTreeMap<&'a str, Option<&'static ResourceSchema>>,
    /// Component parts by full address, with their kinds.
    pub(super) parts: &'a BTreeMap<String, &'static str>,
    /// Component outputs by component address.
    pub(super) outputs: &'a BTreeMap<String, BTreeMap<String, Value>>,
    pub(super) schemas: &'a dyn SchemaSource,
}

/// What a checked reference points at.
enum Target {
    /// An attribute of a resource (or component part) at this address.
    Resource(String),
    /// A component output: a value that may itself hold references.
    Output(Value),
}

fn attr_error(schema: &ResourceSchema, attr: &str) -> String {
    let mut all: Vec<&str> = schema.attrs.to_vec();
    all.push("id");
    all.extend(schema.props.iter().map(|p| p.name));
    format!(
        "{} has no attribute `{attr}`{}",
        schema.kind,
        spec::suggest(attr, all.iter().copied()).map(|s| format!("; {s}")).unwrap_or_else(|| format!("; it has: {}", all.join(", ")))
    )
}

impl RefTable<'_> {
    /// Every address a bare name covers (all instances of a counted resource).
    pub(super) fn addresses_of(&self, name: &str) -> Option<Vec<String>> {
        Some(match self.expansions.get(name)? {
            Expansion::Single => vec![name.to_string()],
            Expansion::Count(n) => (0..*n).map(|i| format!("{name}[{i}]")).collect(),
            Expansion::Keys(keys) => keys.iter().map(|k| format!("{name}[\"{k}\"]")).collect(),
        })
    }

    /// Checks a resource reference; returns what it points at.
    fn check(&self, path: &[Seg]) -> Result<Target, String> {
        let Some(Seg::Name(name)) = path.first() else { return Err("a reference must start with a name".into()) };
        let Some(exp) = self.expansions.get(name.as_str()) else {
            let mut names: Vec<&str> = self.expansions.keys().copied().collect();
            names.extend(["var", "env", "region", "stack", "account_id"]);
            return Err(format!("no resource named `{name}`{}", spec::suggest(name, names).map(|s| format!("; {s}")).unwrap_or_default()));
        };
        let (address, rest) = match (exp, path.get(1)) {
            (Expansion::Single, _) => (name.clone(), &path[1..]),
            (Expansion::Count(n), Some(Seg::Index(i))) => {
                if *i < 0 || i >= n {
                    return Err(format!("`{name}` has count {n}; index {i} is out of range"));
                }
                (format!("{name}[{i}]"), &path[2..])
            }
            (Expansion::Keys(keys), Some(Seg::Key(k))) => {
                if !keys.contains(k) {
                    return Err(format!("`{name}` has no instance [\"{k}\"]; its keys are: {}", keys.join(", ")));
                }
                (format!("{name}[\"{k}\"]"), &path[2..])
            }
            (Expansion::Count(_), _) => return Err(format!("`{name}` uses count: pick an instance, e.g. `{name}[0].id`")),
            (Expansion::Keys(_), _) => return Err(format!("`{name}` uses for_each: pick an instance, e.g. `{name}[\"key\"].id`")),
        };
        let Some(Seg::Name(attr)) = rest.first() else { return Err(format!("name an attribute of `{address}`, e.g. `{address}.arn`")) };
        if let Some(outputs) = self.outputs.get(&address) {
            if let Some(v) = outputs.get(attr) {
                return Ok(Target::Output(v.clone()));
            }
            // `${network.subnet.private[0].id}`: a part of the component, by its longest address.
            for n in (1..rest.len()).rev() {
                let part = format!("{address}.{}", component::segments_address(&rest[..n]));
                if let Some(kind) = self.parts.get(&part) {
                    let Some(Seg::Name(attr)) = rest.get(n) else { return Err(format!("name an attribute of `{part}`, e.g. `{part}.id`")) };
                    if let Some(schema) = self.schemas.schema_of(kind) {
                        if !schema.has_attr(attr) {
                            return Err(attr_error(schema, attr));
                        }
                    }
                    return Ok(Target::Resource(part));
                }
            }
            let names: Vec<String> = outputs.keys().cloned().collect();
            return Err(format!(
                "`{address}` has no output `{attr}`{}",
                spec::suggest(attr, names.iter().map(String::as_str))
                    .map(|s| format!("; {s}"))
                    .unwrap_or_else(|| format!("; its outputs: {}", names.join(", ")))
            ));
        }
        if let Some(Some(schema)) = self.kinds.get(name.as_str()) {
            if !schema.has_attr(attr) {
                return Err(attr_error(schema, attr));
            }
        }
        Ok(Target::Resource(address))
    }

    /// Every address a value's references point at (for component outputs).
    fn addresses_in(&self, v: &Value) -> Vec<String> {
        let mut paths = vec![];
        expr::refs_in(v, &mut paths);
        let known: BTreeSet<String> = self.parts.keys().cloned().chain(self.expansions.keys().flat_map(|n| self.addresses_of(n).unwrap_or_default())).collect();
        paths.iter().filter_map(|p| longest_address(p, &known)).collect()
    }
}

/// The scope inside one resource instance: builtins, `each`, `count`, and references to other resources.
pub(super) struct LocalScope<'a> {
    pub(super) base: &'a BaseScope<'a>,
    pub(super) refs: &'a RefTable<'a>,
    pub(super) each: Option<&'a (Value, Value)>,
    pub(super) count_index: Option<i64>,
    pub(super) deps: RefCell<BTreeSet<String>>,
    pub(super) self_name: &'a str,
}

impl Scope for LocalScope<'_> {
    fn lookup(&self, path: &[Seg]) -> Result<Lookup, String> {
        if let Some(r) = self.base.builtin(path) {
            return r;
        }
        match path.first() {
            Some(Seg::Name(h)) if h == "each" => {
                let (k, v) = self.each.ok_or("`each` is only available in a resource with `for_each`")?;
                return match path.get(1) {
                    Some(Seg::Name(n)) if n == "key" => Ok(Lookup::Known(k.clone())),
                    Some(Seg::Name(n)) if n == "value" => index_into(v, &path[2..]).map(Lookup::Known),
                    _ => Err("write `each.key` or `each.value`".into()),
                };
            }
            Some(Seg::Name(h)) if h == "count" => {
                let i = self.count_index.ok_or("`count.index` is only available in a resource with `count`")?;
                return match path.get(1) {
                    Some(Seg::Name(n)) if n == "index" && path.len() == 2 => Ok(Lookup::Known(Value::from(i))),
                    _ => Err("write `count.index`".into()),
                };
            }
            _ => {}
        }
        let target = self.refs.check(path)?;
        if matches!(path.first(), Some(Seg::Name(n)) if n == self.self_name) {
            return Err(format!("`{}` refers to the resource itself", expr::path_text(path)));
        }
        match target {
            Target::Resource(address) => {
                self.deps.borrow_mut().insert(address);
                Ok(Lookup::Later)
            }
            Target::Output(v) => {
                self.deps.borrow_mut().extend(self.refs.addresses_in(&v));
                Ok(Lookup::Known(v))
            }
        }
    }
}
