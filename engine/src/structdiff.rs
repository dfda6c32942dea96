//! Structural diff of two JSON values as AWS means them: only what changed, with its path, for plans that stay readable.
//!
//! A change to one nested value (a lifecycle transition's `days`, one action of a policy) is
//! a tree of [`Entry`]s down to the changed leaves; unchanged siblings are only counted. The
//! comparison is `diff.rs`'s (numbers by value, nulls in maps absent, policies semantically),
//! so what the planner calls equal never shows up here. Renderers consume the tree.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::diff;
use crate::expr;
use crate::provider::PropType;

/// What happened to a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Add,
    Remove,
    Change,
}

/// Where an entry sits inside its parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Key {
    /// An object's key.
    Field(String),
    /// A list position: in the new list for changed and added items, in the old one for removed items.
    Index(usize),
    /// An IAM policy statement, named by its `Sid` when it has one.
    Statement(Option<String>),
}

/// The container a nested change is in, so renderers can draw `{`, `[` or a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    Object,
    List,
    Policy,
    Statement,
}

/// One changed value: replaced, added or removed whole, or changed inside.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Node {
    Leaf {
        op: Op,
        #[serde(skip_serializing_if = "Option::is_none")]
        before: Option<Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        after: Option<Value>,
    },
    Nested {
        shape: Shape,
        entries: Vec<Entry>,
        /// Siblings of `entries` that did not change (attributes, list items or statements).
        unchanged: usize,
    },
}

/// A changed child of a nested value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub key: Key,
    pub node: Node,
}

/// The structural difference from `before` to `after`, or `None` when they mean the same.
pub fn diff_values(before: &Value, after: &Value) -> Option<Node> {
    if same(before, after) {
        return None;
    }
    if expr::as_unknown(before).is_some() || expr::as_unknown(after).is_some() {
        return Some(changed(before, after));
    }
    if let (Some(b), Some(a)) = (as_policy(before), as_policy(after)) {
        return Some(policy(&b, &a).unwrap_or_else(|| changed(before, after)));
    }
    let node = match (before, after) {
        (Value::Object(b), Value::Object(a)) => object(b, a, Shape::Object),
        (Value::Array(b), Value::Array(a)) => list(b, a),
        _ => None,
    };
    Some(node.unwrap_or_else(|| changed(before, after)))
}

/// A change of one optional value (a prop added or removed is one leaf).
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Option<Node> {
    match (before.filter(|v| !v.is_null()), after.filter(|v| !v.is_null())) {
        (Some(b), Some(a)) => diff_values(b, a),
        (None, Some(a)) => Some(Node::Leaf { op: Op::Add, before: None, after: Some(a.clone()) }),
        (Some(b), None) => Some(Node::Leaf { op: Op::Remove, before: Some(b.clone()), after: None }),
        (None, None) => None,
    }
}

impl Key {
    /// The key as one segment of a path: `days`, `[0]`, `Statement["Read"]`.
    pub fn segment(&self) -> String {
        match self {
            Key::Field(k) if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !k.is_empty() => format!(".{k}"),
            Key::Field(k) => format!("[{k:?}]"),
            Key::Index(i) => format!("[{i}]"),
            Key::Statement(Some(sid)) => format!(".Statement[{sid:?}]"),
            Key::Statement(None) => ".Statement[?]".into(),
        }
    }
}

impl Node {
    /// Whether the whole value is replaced, added or removed (not changed inside).
    pub fn op(&self) -> Op {
        match self {
            Node::Leaf { op, .. } => *op,
            Node::Nested { .. } => Op::Change,
        }
    }

    /// Every changed leaf as a path below `prefix` (`lifecycle_rules[0].transitions[0].days`) with what happened there.
    pub fn paths(&self, prefix: &str) -> Vec<(String, Op)> {
        self.leaves(prefix).into_iter().map(|(p, n)| (p, n.op())).collect()
    }

    /// Every changed leaf (a `Node::Leaf`) with its path below `prefix`.
    pub fn leaves(&self, prefix: &str) -> Vec<(String, &Node)> {
        let mut out = vec![];
        self.collect(prefix, &mut out);
        out
    }

    fn collect<'a>(&'a self, prefix: &str, out: &mut Vec<(String, &'a Node)>) {
        match self {
            Node::Leaf { .. } => out.push((prefix.to_string(), self)),
            Node::Nested { entries, .. } => {
                for e in entries {
                    e.node.collect(&format!("{prefix}{}", e.key.segment()), out);
                }
            }
        }
    }
}

fn changed(before: &Value, after: &Value) -> Node {
    Node::Leaf { op: Op::Change, before: Some(before.clone()), after: Some(after.clone()) }
}

/// Equality as the planner means it: policies semantically, numbers by value, null map entries absent.
fn same(a: &Value, b: &Value) -> bool {
    if as_policy(a).is_some() && as_policy(b).is_some() {
        return diff::same(PropType::Policy, a, Some(b));
    }
    diff::same(PropType::Object, a, Some(b))
}

/// A policy document (an object with `Statement`, or a JSON string of one), in canonical form.
fn as_policy(v: &Value) -> Option<Value> {
    let looks = match v {
        Value::Object(m) => m.contains_key("Statement"),
        Value::String(s) => s.trim_start().starts_with('{') && serde_json::from_str::<Value>(s).is_ok_and(|d| d.get("Statement").is_some()),
        _ => false,
    };
    looks.then(|| diff::normalize_policy(v))
}

fn object(before: &Map<String, Value>, after: &Map<String, Value>, shape: Shape) -> Option<Node> {
    let present = |m: &Map<String, Value>, k: &str| m.get(k).filter(|v| !v.is_null()).cloned();
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    let (mut entries, mut unchanged) = (vec![], 0);
    for k in keys {
        match diff(present(before, k).as_ref(), present(after, k).as_ref()) {
            Some(node) => entries.push(Entry { key: Key::Field(k.clone()), node }),
            None if present(before, k).is_some() => unchanged += 1,
            None => {}
        }
    }
    (!entries.is_empty()).then_some(Node::Nested { shape, entries, unchanged })
}

/// Keys that name a list item, tried in order: items matched by them show as changed, not as removed and added.
const IDENTITY_KEYS: &[&str] = &["Sid", "id", "Id", "name", "Name", "key", "Key"];

fn identity_key(before: &[Value], after: &[Value]) -> Option<&'static str> {
    IDENTITY_KEYS.iter().copied().find(|k| {
        [before, after].iter().all(|items| {
            let ids: Vec<&str> = items.iter().filter_map(|i| i.get(*k).and_then(Value::as_str)).collect();
            let mut unique = ids.clone();
            unique.sort();
            unique.dedup();
            ids.len() == items.len() && unique.len() == ids.len()
        })
    })
}

/// Pairs of (before index, after index) for the items of two lists: equal items first, then by
/// `pair` among what is left, in order. Unpaired indexes are removals and additions.
fn match_items(before: &[Value], after: &[Value], pair: impl Fn(&Value, &Value) -> bool) -> Vec<(usize, usize)> {
    let mut used = vec![false; after.len()];
    let mut pairs = vec![];
    let mut left = vec![];
    for (i, b) in before.iter().enumerate() {
        match (0..after.len()).find(|&j| !used[j] && same(b, &after[j])) {
            Some(j) => {
                used[j] = true;
                pairs.push((i, j));
            }
            None => left.push(i),
        }
    }
    for i in left {
        if let Some(j) = (0..after.len()).find(|&j| !used[j] && pair(&before[i], &after[j])) {
            used[j] = true;
            pairs.push((i, j));
        }
    }
    pairs
}

fn list(before: &[Value], after: &[Value]) -> Option<Node> {
    let scalars = before.iter().chain(after).all(|v| !v.is_object() && !v.is_array());
    let pairs = if scalars {
        match_items(before, after, |_, _| false)
    } else if let Some(id) = identity_key(before, after) {
        match_items(before, after, |b, a| b.get(id) == a.get(id))
    } else {
        // Without a name, the n-th item left over before is taken to be the n-th one left over after.
        let mut pairs = match_items(before, after, |_, _| false);
        let left_before: Vec<usize> = (0..before.len()).filter(|i| !pairs.iter().any(|p| p.0 == *i)).collect();
        let left_after: Vec<usize> = (0..after.len()).filter(|j| !pairs.iter().any(|p| p.1 == *j)).collect();
        pairs.extend(left_before.into_iter().zip(left_after));
        pairs
    };
    let (mut entries, mut unchanged) = (vec![], 0);
    let mut paired_after = vec![false; after.len()];
    let mut paired_before = vec![false; before.len()];
    let mut changes = vec![];
    for &(i, j) in &pairs {
        paired_before[i] = true;
        paired_after[j] = true;
        match diff_values(&before[i], &after[j]) {
            Some(node) => changes.push((j, node)),
            None => unchanged += 1,
        }
    }
    for (i, b) in before.iter().enumerate().filter(|(i, _)| !paired_before[*i]) {
        entries.push(Entry { key: Key::Index(i), node: Node::Leaf { op: Op::Remove, before: Some(b.clone()), after: None } });
    }
    changes.sort_by_key(|(j, _)| *j);
    let mut added: Vec<(usize, Node)> = after
        .iter()
        .enumerate()
        .filter(|(j, _)| !paired_after[*j])
        .map(|(j, a)| (j, Node::Leaf { op: Op::Add, before: None, after: Some(a.clone()) }))
        .collect();
    changes.append(&mut added);
    changes.sort_by_key(|(j, _)| *j);
    entries.extend(changes.into_iter().map(|(j, node)| Entry { key: Key::Index(j), node }));
    if entries.is_empty() {
        // Same items in another order: the order is what changed.
        return None;
    }
    Some(Node::Nested { shape: Shape::List, entries, unchanged })
}

/// Two canonical policy documents, statement by statement: matched by `Sid`, then by content,
/// then an unmatched pair with the same effect and something else in common counts as one
/// statement changed (one action added shows as that action).
fn policy(before: &Value, after: &Value) -> Option<Node> {
    let statements = |v: &Value| v.get("Statement").and_then(Value::as_array).cloned().unwrap_or_default();
    let (bs, as_) = (statements(before), statements(after));
    let sid = |s: &Value| s.get("Sid").and_then(Value::as_str).map(str::to_string);
    let related = |b: &Value, a: &Value| {
        if let (Some(x), Some(y)) = (sid(b), sid(a)) {
            return x == y;
        }
        let (Some(bm), Some(am)) = (b.as_object(), a.as_object()) else { return false };
        bm.get("Effect") == am.get("Effect") && bm.iter().any(|(k, v)| k != "Effect" && k != "Sid" && am.get(k) == Some(v))
    };
    // Sids first, so content-equal statements with different Sids do not steal a named match.
    let mut used_after = vec![false; as_.len()];
    let mut pairs = vec![];
    let mut left = vec![];
    for (i, b) in bs.iter().enumerate() {
        let named = sid(b).and_then(|s| (0..as_.len()).find(|&j| !used_after[j] && sid(&as_[j]).as_deref() == Some(s.as_str())));
        let found = named.or_else(|| (0..as_.len()).find(|&j| !used_after[j] && sid(&as_[j]).is_none() && same(b, &as_[j])));
        match found {
            Some(j) => {
                used_after[j] = true;
                pairs.push((i, j));
            }
            None => left.push(i),
        }
    }
    for i in left {
        if let Some(j) = (0..as_.len()).find(|&j| !used_after[j] && related(&bs[i], &as_[j])) {
            used_after[j] = true;
            pairs.push((i, j));
        }
    }
    let (mut entries, mut unchanged) = (vec![], 0);
    let mut paired_before = vec![false; bs.len()];
    for &(i, j) in &pairs {
        paired_before[i] = true;
        let (Some(b), Some(a)) = (bs[i].as_object(), as_[j].as_object()) else { continue };
        match object(b, a, Shape::Statement) {
            Some(node) => entries.push(Entry { key: Key::Statement(sid(&as_[j])), node }),
            None => unchanged += 1,
        }
    }
    for b in bs.iter().zip(&paired_before).filter(|(_, p)| !**p).map(|(b, _)| b) {
        entries.push(Entry { key: Key::Statement(sid(b)), node: Node::Leaf { op: Op::Remove, before: Some(b.clone()), after: None } });
    }
    for a in as_.iter().zip(&used_after).filter(|(_, u)| !**u).map(|(a, _)| a) {
        entries.push(Entry { key: Key::Statement(sid(a)), node: Node::Leaf { op: Op::Add, before: None, after: Some(a.clone()) } });
    }
    // The document's other keys (Version, Id) as ordinary fields.
    let strip =
        |v: &Value| v.as_object().map(|m| m.iter().filter(|(k, _)| *k != "Statement").map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    // Only statements are counted as unchanged: an unchanged `Version` goes without saying.
    if let Some(Node::Nested { entries: rest, .. }) = object(&strip(before), &strip(after), Shape::Object) {
        entries.splice(0..0, rest);
    }
    (!entries.is_empty()).then_some(Node::Nested { shape: Shape::Policy, entries, unchanged })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(b: Value, a: Value) -> Vec<(String, Op)> {
        diff_values(&b, &a).map(|n| n.paths("")).unwrap_or_default()
    }

    #[test]
    fn a_nested_number_is_the_only_leaf() {
        let rule = |days: u32| json!([{"id": "archive", "status": "Enabled", "prefix": "logs/", "transitions": [{"days": days, "storage_class": "GLACIER"}], "expiration_days": 365}]);
        let node = diff_values(&rule(90), &rule(120)).expect("a change");
        assert_eq!(node.paths("lifecycle_rules"), vec![("lifecycle_rules[0].transitions[0].days".to_string(), Op::Change)]);
        let Node::Nested { entries, unchanged, .. } = &node else { panic!("nested") };
        assert_eq!((entries.len(), *unchanged), (1, 0));
        let Node::Nested { unchanged, .. } = &entries[0].node else { panic!("nested rule") };
        assert_eq!(*unchanged, 4, "id, status, prefix and expiration_days are counted, not shown");
    }

    #[test]
    fn equal_values_as_aws_means_them_have_no_diff() {
        assert_eq!(diff_values(&json!({"a": 1, "b": null}), &json!({"a": 1.0})), None);
        let p1 = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}});
        let p2 = Value::String(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}]}).to_string());
        assert_eq!(diff_values(&p1, &p2), None);
    }

    #[test]
    fn one_policy_action_added_is_that_action() {
        let doc = |actions: Value| {
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "Read", "Effect": "Allow", "Action": actions, "Resource": "arn:aws:s3:::b/*"},
                {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}
            ]})
        };
        let got = paths(doc(json!("s3:GetObject")), doc(json!(["s3:GetObject", "s3:PutObject"])));
        assert_eq!(got, vec![(".Statement[\"Read\"].Action[1]".to_string(), Op::Add)]);
        // Without Sids, a statement is matched by its effect and what else it shares.
        let anon = |actions: Value| json!({"Statement": [{"Effect": "Allow", "Action": actions, "Resource": "r"}]});
        assert_eq!(paths(anon(json!(["a:B"])), anon(json!(["a:B", "a:C"]))), vec![(".Statement[?].Action[1]".to_string(), Op::Add)]);
    }

    #[test]
    fn statements_added_removed_and_the_version() {
        let read = json!({"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"});
        let write = json!({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*"});
        let deny = json!({"Effect": "Deny", "Action": "s3:DeleteBucket", "Principal": "*"});
        let got = paths(json!({"Version": "2008-10-17", "Statement": [read.clone(), write]}), json!({"Version": "2012-10-17", "Statement": [read, deny]}));
        assert_eq!(got, vec![(".Version".to_string(), Op::Change), (".Statement[?]".to_string(), Op::Remove), (".Statement[?]".to_string(), Op::Add)]);
    }

    #[test]
    fn list_items_and_keys_added_and_removed() {
        assert_eq!(paths(json!(["a", "b"]), json!(["a", "b", "c"])), vec![("[2]".to_string(), Op::Add)]);
        assert_eq!(paths(json!({"x": {"y": 1, "z": 2}}), json!({"x": {"y": 1}})), vec![(".x.z".to_string(), Op::Remove)]);
        // Objects named by a key are matched by it, wherever they moved.
        let b = json!([{"name": "a", "v": 1}, {"name": "b", "v": 2}]);
        let a = json!([{"name": "b", "v": 3}, {"name": "a", "v": 1}]);
        assert_eq!(paths(b, a), vec![("[0].v".to_string(), Op::Change)]);
        // Only the order changed: the whole list is the change.
        assert_eq!(paths(json!(["a", "b"]), json!(["b", "a"])), vec![(String::new(), Op::Change)]);
    }

    #[test]
    fn unknown_values_are_leaves() {
        let marker = expr::unknown(&expr::Expr::Ref(vec![expr::Seg::Name("q".into()), expr::Seg::Name("arn".into())]));
        let got = paths(json!({"dlq": "arn:1", "max": 5}), json!({"dlq": marker, "max": 5}));
        assert_eq!(got, vec![(".dlq".to_string(), Op::Change)]);
    }
}
