//! Tag-set helpers shared by kinds: what to add and what to remove to reach a desired set.

use cairn_engine::provider::Tags;

/// Keys to set (new or changed values) and keys to remove, to turn `current` into `desired`.
pub fn tag_changes(current: &Tags, desired: &Tags) -> (Tags, Vec<String>) {
    let set = desired.iter().filter(|(k, v)| current.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let remove = current.keys().filter(|k| !desired.contains_key(*k) && !k.starts_with("aws:")).cloned().collect();
    (set, remove)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_set_and_remove() {
        let cur = Tags::from([("a".into(), "1".into()), ("b".into(), "2".into()), ("aws:x".into(), "y".into())]);
        let want = Tags::from([("a".into(), "1".into()), ("b".into(), "3".into()), ("c".into(), "4".into())]);
        let (set, remove) = tag_changes(&cur, &want);
        assert_eq!(set, Tags::from([("b".into(), "3".into()), ("c".into(), "4".into())]));
        assert!(remove.is_empty());
        let (_, remove) = tag_changes(&want, &cur);
        assert_eq!(remove, vec!["c".to_string()]);
    }
}
