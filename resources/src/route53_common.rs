//! What the Route 53 kinds share: DNS names in one canonical spelling, waiting for a change to be INSYNC, and zone tags.

use std::time::Duration;

use aws_sdk_route53::types::{ChangeStatus, Tag, TagResourceType};
use aws_sdk_route53::Client;
use cairn_engine::provider::{ProviderError, Tags};

use crate::error::{found, SdkResultExt};
use crate::tags::tag_changes;

/// How long a change may stay PENDING before the call gives up: Route 53 normally reaches
/// INSYNC within a minute; past this the change is in place but not yet on every server.
pub const INSYNC_LIMIT: Duration = Duration::from_secs(300);

/// ChangeTagsForResource takes at most 10 tags to add and 10 keys to remove per call.
const TAGS_PER_CALL: usize = 10;

/// A DNS name the way Route 53 compares it: lower case, no trailing dot, octal escapes
/// (`\052` for `*`, which ListResourceRecordSets returns) decoded.
pub fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let digits: String = chars.clone().take(3).collect();
            if digits.len() == 3 && digits.chars().all(|d| ('0'..='7').contains(&d)) {
                if let Some(decoded) = u32::from_str_radix(&digits, 8).ok().and_then(char::from_u32) {
                    out.push(decoded);
                    for _ in 0..3 {
                        chars.next();
                    }
                    continue;
                }
            }
        }
        out.push(c);
    }
    let out = out.to_ascii_lowercase();
    out.strip_suffix('.').map(str::to_string).unwrap_or(out)
}

/// The fully qualified name of `name` in zone `zone` (both in any spelling), as Terraform
/// expands it: a name that is the zone or ends in `.<zone>` is already qualified, any
/// other is relative to the zone (`www` in `example.com` is `www.example.com`).
pub fn qualify(name: &str, zone: &str) -> String {
    let (name, zone) = (canonical(name), canonical(zone));
    if name == zone || name.ends_with(&format!(".{zone}")) {
        name
    } else {
        format!("{name}.{zone}")
    }
}

/// A zone id without the `/hostedzone/` prefix some answers carry.
pub fn bare_zone_id(id: &str) -> &str {
    id.trim_start_matches("/hostedzone/")
}

/// Why a zone name (written without the trailing dot) breaks DNS's rules, if it does.
pub fn dns_name_problems(name: &str, wildcard: bool) -> Vec<String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    let mut out = vec![];
    if bare.is_empty() {
        return vec!["must not be empty".into()];
    }
    if bare.len() > 253 {
        out.push(format!("must be at most 253 characters without the trailing dot, not {}", bare.len()));
    }
    for (i, label) in bare.split('.').enumerate() {
        if label.is_empty() {
            out.push(format!("has an empty label in {name:?} (two dots in a row, or a leading dot)"));
        } else if label.len() > 63 {
            out.push(format!("has a label of {} characters ({label:?}); DNS allows 63", label.len()));
        } else if label.contains('*') && !(wildcard && i == 0 && label == "*") {
            out.push(format!("may hold `*` only as its whole first label (`*.example.com`), not in {label:?}"));
        }
    }
    out
}

/// Waits until the change `id` is INSYNC (every Route 53 server answers with it), polling
/// GetChange with a growing interval, for at most `limit`. Past it the change is in place
/// but not yet everywhere: a retry finds the record or zone and goes on.
pub async fn wait_insync(client: &Client, id: &str, status: Option<&ChangeStatus>, limit: Duration) -> Result<(), ProviderError> {
    if status == Some(&ChangeStatus::Insync) {
        return Ok(());
    }
    let id = id.trim_start_matches("/change/");
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(500);
    loop {
        let out = client.get_change().id(id).send().await.op("GetChange")?;
        if out.change_info().map(|c| c.status()) == Some(&ChangeStatus::Insync) {
            return Ok(());
        }
        if started.elapsed() >= limit {
            return Err(ProviderError::Retryable(format!("GetChange: change {id} is still PENDING after {}s", limit.as_secs())));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// The tags of hosted zone `zone_id`; `None` when the zone is gone.
pub async fn zone_tags(client: &Client, zone_id: &str) -> Result<Option<Tags>, ProviderError> {
    let out = found(client.list_tags_for_resource().resource_type(TagResourceType::Hostedzone).resource_id(zone_id).send().await.op("ListTagsForResource"))?;
    Ok(out.map(|o| {
        o.resource_tag_set()
            .map(|s| s.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect())
            .unwrap_or_default()
    }))
}

/// Brings the tags of hosted zone `zone_id` from `current` to `desired`, ten at a time.
pub async fn set_zone_tags(client: &Client, zone_id: &str, current: &Tags, desired: &Tags) -> Result<(), ProviderError> {
    let (set, remove) = tag_changes(current, desired);
    let set: Vec<Tag> = set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    let (mut set, mut remove) = (set.as_slice(), remove.as_slice());
    while !set.is_empty() || !remove.is_empty() {
        let (add_now, add_rest) = set.split_at(set.len().min(TAGS_PER_CALL));
        let (remove_now, remove_rest) = remove.split_at(remove.len().min(TAGS_PER_CALL));
        client
            .change_tags_for_resource()
            .resource_type(TagResourceType::Hostedzone)
            .resource_id(zone_id)
            .set_add_tags((!add_now.is_empty()).then(|| add_now.to_vec()))
            .set_remove_tag_keys((!remove_now.is_empty()).then(|| remove_now.to_vec()))
            .send()
            .await
            .op("ChangeTagsForResource")?;
        (set, remove) = (add_rest, remove_rest);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_in_one_spelling() {
        assert_eq!(canonical("WWW.Example.com."), "www.example.com");
        assert_eq!(canonical("\\052.example.com."), "*.example.com");
        assert_eq!(canonical("_acme-challenge.example.com"), "_acme-challenge.example.com");
        assert_eq!(canonical("a\\.b"), "a\\.b", "an escape that is not octal stays");
    }

    #[test]
    fn relative_names_are_qualified_by_the_zone() {
        assert_eq!(qualify("www", "example.com."), "www.example.com");
        assert_eq!(qualify("www.example.com.", "example.com"), "www.example.com");
        assert_eq!(qualify("Example.com", "example.com"), "example.com");
        assert_eq!(qualify("wwwexample.com", "example.com"), "wwwexample.com.example.com");
    }

    #[test]
    fn dns_names_follow_the_label_rules() {
        assert!(dns_name_problems("example.com", false).is_empty());
        assert!(dns_name_problems("*.example.com.", true).is_empty());
        assert!(!dns_name_problems("*.example.com", false).is_empty());
        assert!(!dns_name_problems("a*.example.com", true).is_empty());
        assert!(!dns_name_problems("a..com", false).is_empty());
        assert!(!dns_name_problems(&format!("{}.com", "a".repeat(64)), false).is_empty());
        assert!(!dns_name_problems(&"a.".repeat(130), false).is_empty());
    }
}
