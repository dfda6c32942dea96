//! Value comparison that matches what AWS means, not how it spells it: policies compared semantically, numbers by value.

use serde_json::{Map, Value};

use crate::provider::PropType;

/// Whether a desired and an observed value mean the same thing for a property of type `ty`.
pub fn same(ty: PropType, desired: &Value, observed: Option<&Value>) -> bool {
    let observed = observed.unwrap_or(&Value::Null);
    match ty.base() {
        PropType::Policy => normalize_policy(desired) == normalize_policy(observed),
        PropType::StringList => sorted_list(desired) == sorted_list(observed),
        _ => normalize(desired) == normalize(observed),
    }
}

fn sorted_list(v: &Value) -> Value {
    match v {
        Value::Array(a) => {
            let mut a: Vec<Value> = a.iter().map(normalize).collect();
            a.sort_by_key(|x| x.to_string());
            Value::Array(a)
        }
        Value::Null => Value::Array(vec![]),
        other => normalize(other),
    }
}

/// Numbers compared by value (1 == 1.0), nulls inside maps dropped.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(m) => Value::Object(m.iter().filter(|(_, x)| !x.is_null()).map(|(k, x)| (k.clone(), normalize(x))).collect()),
        other => other.clone(),
    }
}

/// The canonical form of an IAM policy document: statements as a list, single values as
/// one-element lists, lists of strings sorted, policy strings parsed. AWS accepts all of
/// these spellings and returns whichever it likes, so only the canonical form is compared.
pub fn normalize_policy(v: &Value) -> Value {
    let v = match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
        other => other.clone(),
    };
    let Value::Object(doc) = v else { return normalize(&v) };
    let mut out = Map::new();
    for (k, val) in doc {
        if k == "Statement" {
            let stmts = match val {
                Value::Array(a) => a,
                other => vec![other],
            };
            let mut stmts: Vec<Value> = stmts.into_iter().map(normalize_statement).collect();
            stmts.sort_by_key(|s| s.to_string());
            out.insert(k, Value::Array(stmts));
        } else {
            out.insert(k, val);
        }
    }
    out.entry("Version").or_insert_with(|| Value::String("2008-10-17".into()));
    Value::Object(out)
}

fn normalize_statement(s: Value) -> Value {
    let Value::Object(m) = s else { return s };
    Value::Object(
        m.into_iter()
            .map(|(k, v)| {
                let v = match k.as_str() {
                    "Action" | "NotAction" | "Resource" | "NotResource" => as_sorted_strings(v),
                    "Principal" | "NotPrincipal" => match v {
                        Value::Object(p) => Value::Object(p.into_iter().map(|(pk, pv)| (pk, as_sorted_strings(pv))).collect()),
                        other => other,
                    },
                    "Condition" => match v {
                        Value::Object(ops) => Value::Object(
                            ops.into_iter()
                                .map(|(op, keys)| {
                                    (
                                        op,
                                        match keys {
                                            Value::Object(km) => Value::Object(km.into_iter().map(|(ck, cv)| (ck, as_sorted_strings(cv))).collect()),
                                            other => other,
                                        },
                                    )
                                })
                                .collect(),
                        ),
                        other => other,
                    },
                    _ => v,
                };
                (k, v)
            })
            .collect(),
    )
}

fn as_sorted_strings(v: Value) -> Value {
    let mut items: Vec<Value> = match v {
        Value::Array(a) => a,
        other => vec![other],
    };
    items = items.into_iter().map(|x| if let Value::Bool(b) = x { Value::String(b.to_string()) } else { x }).collect();
    items.sort_by_key(|x| x.to_string());
    items.dedup();
    Value::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policies_compare_semantically() {
        let a = json!({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":["b","a"]}});
        let b = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["a","b"]}]});
        assert!(same(PropType::Policy, &a, Some(&b)));
        let s = Value::String(b.to_string());
        assert!(same(PropType::Policy, &a, Some(&s)));
        let c = json!({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["s3:GetObject"],"Resource":["a","b"]}]});
        assert!(!same(PropType::Policy, &a, Some(&c)));
    }

    #[test]
    fn numbers_by_value_and_lists_unordered() {
        assert!(same(PropType::Int, &json!(30), Some(&json!(30.0))));
        assert!(same(PropType::StringList, &json!(["b", "a"]), Some(&json!(["a", "b"]))));
        assert!(!same(PropType::Object, &json!(["b", "a"]), Some(&json!(["a", "b"]))));
        assert!(same(PropType::StringList, &json!([]), None));
    }
}
