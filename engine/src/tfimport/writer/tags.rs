//! Tags: a resource's effective tags, and those every taggable resource shares (or provider `default_tags`), lifted to the stack.

use crate::provider::Tags;
use crate::tfimport::Mapped;

/// The tags a resource carries in AWS: `tags_all` (own plus provider `default_tags`) when recorded, else its own.
pub(super) fn effective(m: &Mapped) -> Tags {
    if m.tags_all.is_empty() {
        m.tags.clone()
    } else {
        m.tags_all.clone()
    }
}

/// Tags for the stack's `tags`: equal on every taggable resource (`all`), and either shared by more than one
/// resource or a provider default tag; `Env` and AWS/cairn-reserved keys stay where they are.
pub(super) fn lifted_tags(all: &[&Mapped]) -> Tags {
    let mut stack_tags: Tags = Tags::new();
    if let Some(first) = all.first() {
        for (k, v) in effective(first) {
            if k == "Env" || k.starts_with("aws:") || k.starts_with("cairn:") {
                continue;
            }
            let everywhere = all.iter().all(|m| effective(m).get(&k) == Some(&v));
            let default_tag = all.iter().all(|m| !m.tags.contains_key(&k) && m.tags_all.contains_key(&k));
            if everywhere && (all.len() > 1 || default_tag) {
                stack_tags.insert(k, v);
            }
        }
    }
    stack_tags
}
