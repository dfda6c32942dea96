//! Proptest strategies that generate props a kind's schema accepts, for each kind's agreement test (schema vs. request builder).
//!
//! A kind's agreement test draws from `props(&SCHEMA)` and asserts that its own request
//! builder accepts every value; values the builder refuses must therefore be refused by
//! the schema first, so `validate` catches them before an apply starts. Generation follows
//! the declared types; cross-field rules (`PropSpec::rule`) are honoured by filtering on
//! the schema checker itself.

use cairn_engine::provider::{PropSpec, PropType, Props, ResourceSchema, TextRule};
use cairn_engine::typecheck;
use proptest::prelude::*;
use serde_json::{json, Value};

/// Longest generated text, however long a rule allows: long enough for every boundary the
/// rules name below it, short enough to keep cases readable.
const LONGEST: usize = 64;

fn text(rule: TextRule) -> BoxedStrategy<Value> {
    let mut chars: Vec<char> = ('a'..='z').chain('0'..='9').collect();
    if !rule.lowercase {
        chars.extend('A'..='Z');
    }
    match rule.extra {
        Some(extra) => chars.extend(extra.chars()),
        None => chars.extend([':', '/', '-', '_', '.', ' ']),
    }
    let max = rule.max.min(rule.min.max(1) + LONGEST);
    let sizes = prop_oneof![Just(rule.min), Just(max), rule.min..=max];
    (sizes, Just(chars))
        .prop_flat_map(|(n, chars)| proptest::collection::vec(proptest::sample::select(chars), n))
        .prop_map(|cs| Value::String(cs.into_iter().collect()))
        .boxed()
}

/// Values of one type (never `${...}` unknowns: those skip the value checks anyway).
pub fn value(ty: PropType) -> BoxedStrategy<Value> {
    match ty {
        PropType::String => "[a-zA-Z0-9:/_.-]{1,30}".prop_map(Value::String).boxed(),
        PropType::Int => (-1_000i64..1_000_000).prop_map(Value::from).boxed(),
        PropType::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        PropType::StringList => proptest::collection::vec("[a-z0-9-]{1,12}", 0..4).prop_map(|v| json!(v)).boxed(),
        PropType::StringMap => proptest::collection::btree_map("[a-z]{1,8}", "[a-z0-9]{0,8}", 0..3).prop_map(|m| json!(m)).boxed(),
        // The kind checks an unconverted object itself: only the empty shape is known to pass.
        PropType::Object => Just(json!({})).boxed(),
        PropType::Policy => {
            Just(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "*"}]}))
                .boxed()
        }
        PropType::Enum(values) => proptest::sample::select(values).prop_map(|s| Value::String(s.to_string())).boxed(),
        PropType::IntRange(lo, hi) => prop_oneof![Just(lo), Just(hi), lo..=hi].prop_map(Value::from).boxed(),
        PropType::Text(rule) => text(rule),
        PropType::Struct(fields) => object(fields),
        PropType::List(item) => proptest::collection::vec(value(*item), 0..4).prop_map(Value::Array).boxed(),
    }
}

/// An object with every required field and any subset of the optional ones.
fn object(fields: &'static [PropSpec]) -> BoxedStrategy<Value> {
    let entries: Vec<BoxedStrategy<Option<(String, Value)>>> = fields
        .iter()
        .filter(|f| !matches!(f.ty, PropType::Object))
        .map(|f| {
            let name = f.name.to_string();
            let v = value(f.ty).prop_map(move |v| Some((name.clone(), v)));
            if f.required {
                v.boxed()
            } else {
                prop_oneof![Just(None), v].boxed()
            }
        })
        .collect();
    entries.prop_map(|es| Value::Object(es.into_iter().flatten().collect())).boxed()
}

/// Props for a kind that its schema accepts in full (cross-field rules included). Physical
/// names are left to the default name: their rules are checked by `names`, not here.
pub fn props(schema: &'static ResourceSchema) -> BoxedStrategy<Props> {
    let fields: &'static [PropSpec] = schema.props;
    let naming = schema.naming().map(|(p, _)| p);
    object(fields)
        .prop_map(move |v| {
            let mut m = v.as_object().cloned().unwrap_or_default();
            if let Some(p) = naming {
                m.remove(p);
            }
            m
        })
        .prop_filter("the schema's cross-field rules", move |p| typecheck::check_props(schema, p, true).is_empty())
        .boxed()
}
