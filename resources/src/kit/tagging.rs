//! One tag sync for every service that tags by ARN or id: the kit computes what to set and remove, the kind passes its service's two calls.

use std::future::Future;

use cairn_engine::provider::{ProviderError, Tags};

use crate::tags::tag_changes;

/// Brings a resource's tags from `current` to `desired`: `set` gets the new or changed tags,
/// `remove` the keys to drop (`aws:` keys are AWS's and never removed); a call is made only
/// when it has something to do.
pub async fn sync<S, SF, R, RF>(current: &Tags, desired: &Tags, set: S, remove: R) -> Result<(), ProviderError>
where
    S: FnOnce(Tags) -> SF,
    SF: Future<Output = Result<(), ProviderError>>,
    R: FnOnce(Vec<String>) -> RF,
    RF: Future<Output = Result<(), ProviderError>>,
{
    let (to_set, to_remove) = tag_changes(current, desired);
    if !to_set.is_empty() {
        set(to_set).await?;
    }
    if !to_remove.is_empty() {
        remove(to_remove).await?;
    }
    Ok(())
}

/// Tags from the (key, value) pairs a service answers with.
pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Tags {
    pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn only_the_calls_with_work_are_made() {
        let calls = Mutex::new(Vec::<String>::new());
        let current = from_pairs([("a", "1"), ("b", "2"), ("aws:x", "y")]);
        let desired = from_pairs([("a", "1"), ("b", "3")]);
        let set = |t: Tags| {
            calls.lock().unwrap().push(format!("set {t:?}"));
            async { Ok(()) }
        };
        let remove = |k: Vec<String>| {
            calls.lock().unwrap().push(format!("remove {k:?}"));
            async { Ok(()) }
        };
        sync(&current, &desired, set, remove).await.unwrap();
        assert_eq!(*calls.lock().unwrap(), vec![r#"set {"b": "3"}"#.to_string()]);
        calls.lock().unwrap().clear();
        let fail = |_: Vec<String>| async { Err(ProviderError::Throttled("UntagResource".into())) };
        let nothing = |_: Tags| async { Ok(()) };
        assert!(sync(&desired, &from_pairs([("a", "1")]), nothing, fail).await.is_err(), "a failed call is the sync's failure");
    }
}
