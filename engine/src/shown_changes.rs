//! What a plan shows as changing: a create's props are derived from its desired state when shown, not stored twice.

use std::borrow::Cow;

use serde_json::Value;

use crate::expr;
use crate::plan::{Action, Change, Plan, PlannedAction};
use crate::provider::Props;

/// Every desired prop as a change from nothing, sorted by name (map iteration order depends on
/// a serde_json feature other crates may enable).
fn creation_prop_changes(props: &Props) -> Vec<Change> {
    let mut keys: Vec<&String> = props.keys().collect();
    keys.sort();
    keys.into_iter().map(|k| Change { path: k.clone(), before: None, after: props.get(k).map(expr::copy), forces_replacement: false }).collect()
}

impl PlannedAction {
    /// Whether the resource is made anew from `desired` (a create, or a replace after `type:`
    /// changed), so that every desired prop is a change.
    fn makes_anew(&self) -> bool {
        self.action == Action::Create || (self.action == Action::Replace && self.replaced_kind.is_some())
    }

    /// The changes a plan shows: those stored, and for a resource made anew every desired prop
    /// first (plans written before props stopped being stored carry them already).
    pub fn shown_changes(&self) -> Cow<'_, [Change]> {
        match &self.desired {
            Some(d) if self.makes_anew() && self.changes.iter().all(|c| c.path.starts_with("tags[")) => {
                let mut all = creation_prop_changes(&d.props);
                all.extend(self.changes.iter().cloned());
                Cow::Owned(all)
            }
            _ => Cow::Borrowed(&self.changes),
        }
    }
}

impl Plan {
    /// The plan as JSON for people and tools: as serialised, with every action's `changes` as
    /// `shown_changes` gives them.
    pub fn to_shown_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(actions) = v.get_mut("actions").and_then(Value::as_array_mut) {
            for (json, action) in actions.iter_mut().zip(&self.actions) {
                let shown = action.shown_changes();
                if let (Cow::Owned(changes), Some(obj)) = (shown, json.as_object_mut()) {
                    obj.insert("changes".into(), serde_json::to_value(changes).unwrap_or(Value::Null));
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plan::DesiredResource;
    use crate::provider::Owner;

    fn create(stored: Vec<Change>) -> PlannedAction {
        let props: Props = [("b".to_string(), json!(2)), ("a".to_string(), json!({ "x": 1 }))].into_iter().collect();
        PlannedAction {
            address: "q".into(),
            kind: "aws.sqs.queue".into(),
            action: Action::Create,
            reasons: vec![],
            id: None,
            desired: Some(DesiredResource {
                props,
                tags: Default::default(),
                owner: Owner { stack: "s".into(), env: "dev".into(), address: "q".into() },
                default_name: "s-dev-q".into(),
            }),
            changes: stored,
            deps: vec![],
            replace_order: None,
            replaced_kind: None,
        }
    }

    fn change(path: &str, after: Value) -> Change {
        Change { path: path.into(), before: None, after: Some(after), forces_replacement: false }
    }

    #[test]
    fn a_create_shows_its_props_by_name_then_its_stored_tag_changes() {
        let a = create(vec![change("tags[\"Team\"]", json!("orders"))]);
        let paths: Vec<String> = a.shown_changes().iter().map(|c| c.path.clone()).collect();
        assert_eq!(paths, ["a", "b", "tags[\"Team\"]"]);
    }

    #[test]
    fn a_plan_that_stored_every_change_shows_each_once() {
        let a = create(vec![change("a", json!({ "x": 1 })), change("b", json!(2))]);
        assert_eq!(a.shown_changes().len(), 2);
        let mut update = create(vec![change("b", json!(3))]);
        update.action = Action::Update;
        assert_eq!(update.shown_changes().iter().map(|c| c.path.as_str()).collect::<Vec<_>>(), ["b"]);
    }
}
