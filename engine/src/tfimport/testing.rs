//! Test helpers shared by the family mappers' tests: building instances and inputs, running one family, finding its output.

use serde_json::Value;

use super::{tfstate, IndexKey, Input, Mapped, Output, TfInstance};

/// A root-module instance at `type.name` with the given attributes (an object).
pub(crate) fn inst(address: &str, attrs: Value) -> TfInstance {
    let (ty, name) = address.split_once('.').expect("an address `type.name`");
    TfInstance {
        address: address.into(),
        module: String::new(),
        ty: ty.into(),
        name: name.into(),
        index: None,
        attrs: attrs.as_object().expect("an object").clone(),
    }
}

/// Runs one family's `map` over the instances.
pub(crate) fn run(map: fn(&Input, &mut Output), instances: Vec<TfInstance>) -> Output {
    let mut out = Output::default();
    map(&Input { instances, data_sources: vec![] }, &mut out);
    out
}

/// The resource whose primary source is `address`.
pub(crate) fn find<'a>(out: &'a Output, address: &str) -> &'a Mapped {
    out.resources.iter().find(|m| m.sources[0] == address).unwrap_or_else(|| panic!("{address} not mapped"))
}

/// An input from `[{type, name, module?, index?, attributes}]`.
pub(crate) fn input(resources: Value) -> Input {
    let mut input = Input::default();
    for r in resources.as_array().expect("a list") {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let index = match r.get("index") {
            Some(Value::Number(n)) => n.as_i64().map(IndexKey::Int),
            Some(Value::String(k)) => Some(IndexKey::Str(k.clone())),
            _ => None,
        };
        let module = s("module");
        let prefix = if module.is_empty() { String::new() } else { format!("{module}.") };
        input.instances.push(TfInstance {
            address: format!("{prefix}{}.{}{}", s("type"), s("name"), tfstate::index_suffix(&index)),
            module,
            ty: s("type"),
            name: s("name"),
            index,
            attrs: r.get("attributes").and_then(Value::as_object).cloned().unwrap_or_default(),
        });
    }
    input
}

/// Runs one family and returns its output with its only resource.
pub(crate) fn one(input: &Input, map: fn(&Input, &mut Output)) -> (Output, Mapped) {
    let mut out = Output::default();
    map(input, &mut out);
    assert_eq!(out.resources.len(), 1, "{:?}", out.resources);
    let m = out.resources[0].clone();
    (out, m)
}
