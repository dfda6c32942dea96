//! Idempotent creation shared by every kind: adopting what an earlier, unanswered attempt of the same create made, and refusing what belongs to someone else.
//!
//! A create whose response was lost (a dropped connection, a crash) has usually happened.
//! Repeating it then meets AWS's "already exists" answer for a name cairn derived itself;
//! that resource is cairn's only when it carries this owner's `cairn:*` tags.

use cairn_engine::diff;
use cairn_engine::provider::{Desired, Observed, ProviderError, ResourceKind, ResourceSchema, Tags};
use serde_json::Value;

/// The desired value of a property, or its schema default when the stack leaves it unset.
pub fn wanted(schema: &ResourceSchema, desired: &Desired, name: &str) -> Option<Value> {
    desired
        .props
        .get(name)
        .filter(|v| !v.is_null())
        .cloned()
        .or_else(|| schema.prop(name)?.default.and_then(|d| serde_json::from_str(d).ok()))
        .filter(|v: &Value| !v.is_null())
}

/// Tags as AWS compares them: `aws:` keys are AWS's own and never cairn's to manage.
fn comparable(tags: &Tags) -> Tags {
    tags.iter().filter(|(k, _)| !k.starts_with("aws:")).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The properties (and `tags`) where `observed` is not what `desired` asks for, as the
/// `changed` list `ResourceKind::update` takes.
pub fn changed(schema: &ResourceSchema, desired: &Desired, observed: &Observed) -> Vec<String> {
    let mut out: Vec<String> = schema
        .props
        .iter()
        .filter(|p| !p.local)
        .filter(|p| wanted(schema, desired, p.name).is_some_and(|want| !diff::same(p.ty, &want, observed.props.get(p.name))))
        .map(|p| p.name.to_string())
        .collect();
    if schema.taggable && comparable(&desired.tags) != comparable(&observed.tags) {
        out.push("tags".into());
    }
    out
}

/// The error for a resource that holds the name cairn wants but is not this owner's.
pub fn foreign(kind: &str, what: &str, desired: &Desired, tags: &Tags) -> ProviderError {
    let claimed: Vec<String> = tags.iter().filter(|(k, _)| k.starts_with("cairn:")).map(|(k, v)| format!("{k}={v}")).collect();
    let whose = if claimed.is_empty() { "it has no cairn ownership tags".to_string() } else { format!("it is tagged {}", claimed.join(", ")) };
    ProviderError::Conflict(format!(
        "{kind}: {what} already exists and was not created by {}/{} `{}` ({whose}); cairn never takes over a resource it did not create: choose another name, or delete or import the existing one",
        desired.owner.stack, desired.owner.env, desired.owner.address
    ))
}

/// Takes over `existing`, found where a create said it already exists: refuses it unless it
/// carries this owner's tags, then brings it to `desired` with the kind's own `update`.
pub async fn adopt<K: ResourceKind + ?Sized>(kind: &K, desired: &Desired, what: &str, existing: Observed) -> Result<Observed, ProviderError> {
    let schema = kind.schema();
    if !desired.owner.matches(&existing.tags) {
        return Err(foreign(schema.kind, &format!("{what} ({})", existing.id), desired, &existing.tags));
    }
    let changes = changed(schema, desired, &existing);
    let fixed: Vec<&str> = changes.iter().filter(|c| schema.prop(c).is_some_and(|p| p.force_new)).map(String::as_str).collect();
    if !fixed.is_empty() {
        // Ours, but an earlier version (a replacement interrupted before its delete).
        return Err(ProviderError::Conflict(format!(
            "{}: {what} ({}) is this stack's but differs in {}, which cannot change in place; it is left from an interrupted replacement: destroy it, or re-run apply once it is gone",
            schema.kind,
            existing.id,
            fixed.join(", ")
        )));
    }
    if changes.is_empty() {
        return Ok(existing);
    }
    kind.update(&existing.id, desired, &changes).await
}

/// Adopts `existing` if there is one, else returns the create's own error.
pub async fn adopt_or<K: ResourceKind + ?Sized>(
    kind: &K,
    desired: &Desired,
    what: &str,
    existing: Option<Observed>,
    create_error: ProviderError,
) -> Result<Observed, ProviderError> {
    match existing {
        Some(o) => adopt(kind, desired, what, o).await,
        None => Err(create_error),
    }
}

/// A deterministic string of at most `max` characters for `parts`: the parts themselves
/// when they fit, else a hash of them, so per-call tokens stay within AWS's length limits.
pub fn token(parts: &[&str], max: usize) -> String {
    let joined = parts.join("-");
    if joined.len() <= max {
        return joined;
    }
    let h = joined.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
    let mut out = format!("cairn-{h:016x}");
    out.truncate(max);
    out
}

/// Shared test fixtures: a kind test states only its mocks and asserts on the outcome.
#[cfg(test)]
pub(crate) mod testing {
    use cairn_engine::provider::{Desired, Owner, Tags};
    use serde_json::Value;

    pub fn owner() -> Owner {
        Owner { stack: "shop".into(), env: "dev".into(), address: "main".into() }
    }

    /// Tags of a resource some other stack (or a person) made under the same name.
    pub fn foreign_tags() -> Tags {
        Owner { stack: "other".into(), env: "prod".into(), address: "main".into() }.tags()
    }

    pub fn desired(props: Value) -> Desired {
        Desired {
            props: props.as_object().cloned().unwrap_or_default(),
            tags: owner().tags(),
            owner: owner(),
            default_name: "shop-dev-main".into(),
            idempotency_token: "cairn-0123456789abcdef".into(),
        }
    }

    /// Asserts that a create refused a same-named resource that is not ours, and said so.
    pub fn assert_refused<T: std::fmt::Debug>(result: Result<T, cairn_engine::provider::ProviderError>, name: &str) {
        match result {
            Err(cairn_engine::provider::ProviderError::Conflict(m)) => {
                assert!(m.contains(name) && m.contains("was not created by"), "{m}")
            }
            other => panic!("expected a refusal naming {name}, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use cairn_engine::provider::{Operation, PropSpec, PropType, Props};
    use serde_json::json;
    use std::sync::Mutex;

    use super::testing::*;
    use super::*;

    static SCHEMA: ResourceSchema = ResourceSchema {
        kind: "test.thing",
        doc: "",
        props: &[
            PropSpec::new("name", PropType::String, "").force_new(),
            PropSpec::new("size", PropType::Int, "").default("1"),
            PropSpec::new("wait", PropType::Int, "").local(),
        ],
        attrs: &[],
        taggable: true,
        rules: &[],
    };

    #[derive(Default)]
    struct Thing(Mutex<Vec<Vec<String>>>);

    #[async_trait]
    impl ResourceKind for Thing {
        fn schema(&self) -> &'static ResourceSchema {
            &SCHEMA
        }
        async fn read(&self, _: &str) -> Result<Option<Observed>, ProviderError> {
            Ok(None)
        }
        async fn create(&self, _: &Desired) -> Result<Observed, ProviderError> {
            unreachable!()
        }
        async fn update(&self, id: &str, d: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
            self.0.lock().unwrap().push(changed.to_vec());
            Ok(Observed { id: id.into(), props: d.props.clone(), attrs: Props::new(), tags: d.tags.clone() })
        }
        async fn delete(&self, _: &str) -> Result<(), ProviderError> {
            Ok(())
        }
        async fn find_owned(&self, _: &Desired) -> Result<Option<Observed>, ProviderError> {
            Ok(None)
        }
        fn iam_actions(&self, _: Operation) -> &'static [&'static str] {
            &[]
        }
    }

    fn found(props: Value, tags: Tags) -> Observed {
        Observed { id: "t-1".into(), props: props.as_object().cloned().unwrap_or_default(), attrs: Props::new(), tags }
    }

    #[tokio::test]
    async fn ours_is_adopted_and_brought_to_the_desired_settings() {
        let kind = Thing::default();
        let d = desired(json!({"name": "n", "wait": 5}));
        let mut tags = owner().tags();
        tags.insert("aws:cloudformation:x".into(), "y".into());
        let o = adopt(&kind, &d, "thing n", found(json!({"name": "n", "size": 1}), tags.clone())).await.unwrap();
        assert_eq!(o.id, "t-1");
        assert!(kind.0.lock().unwrap().is_empty(), "nothing differs, so no update");

        let o = adopt(&kind, &d, "thing n", found(json!({"name": "n", "size": 3}), tags)).await.unwrap();
        assert_eq!(o.id, "t-1");
        assert_eq!(kind.0.lock().unwrap().pop().unwrap(), vec!["size".to_string()]);
    }

    #[tokio::test]
    async fn not_ours_is_refused_by_name() {
        let kind = Thing::default();
        let d = desired(json!({"name": "n"}));
        assert_refused(adopt(&kind, &d, "thing n", found(json!({"name": "n"}), foreign_tags())).await, "thing n");
        assert_refused(adopt(&kind, &d, "thing n", found(json!({"name": "n"}), Tags::new())).await, "thing n");
        assert!(kind.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_old_copy_differing_in_a_fixed_property_is_not_adopted() {
        let kind = Thing::default();
        let d = desired(json!({"name": "n"}));
        let err = adopt(&kind, &d, "thing n", found(json!({"name": "old"}), owner().tags())).await.unwrap_err();
        assert!(matches!(&err, ProviderError::Conflict(m) if m.contains("differs in name")), "{err:?}");
    }

    #[tokio::test]
    async fn nothing_found_keeps_the_create_error() {
        let err = adopt_or(&Thing::default(), &desired(json!({})), "thing", None, ProviderError::Invalid("bad".into())).await.unwrap_err();
        assert_eq!(err, ProviderError::Invalid("bad".into()));
    }

    #[test]
    fn tokens_are_deterministic_and_bounded() {
        assert_eq!(token(&["cairn-0123", "nat", "0"], 64), "cairn-0123-nat-0");
        let long = "x".repeat(80);
        let t = token(&[&long, "1"], 64);
        assert_eq!(t, token(&[&long, "1"], 64));
        assert_ne!(t, token(&[&long, "2"], 64));
        assert!(t.len() <= 64);
    }
}
