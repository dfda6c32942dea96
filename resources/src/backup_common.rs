//! What the AWS Backup kinds share: tags read and written by ARN, creator request ids, and the name rules of plans, rules and selections.

use std::collections::HashMap;

use aws_sdk_backup::Client;
use cairn_engine::provider::{Desired, ProviderError, Tags, TextRule};

use crate::error::{found, SdkResultExt};
use crate::kit::tagging;

/// Plan, rule and selection names: 1 to 50 letters, digits and `-_.` (BackupPlanName,
/// RuleName, SelectionName in the API reference).
pub const DISPLAY_NAME: TextRule = TextRule::len(1, 50).chars("-_.");

/// CreatorRequestId: 1 to 50 letters, digits and `-_.`. The same for a retry of the same
/// create (AWS answers it with what the first attempt made), a new one for a new desired state.
pub fn creator_request_id(desired: &Desired, what: &str) -> String {
    let t = crate::adopt::token(&[&desired.idempotency_token, what], 50);
    t.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect()
}

/// Tags as the Backup API takes them, `None` for none (an empty map is refused by some endpoints).
pub fn backup_tags(tags: &Tags) -> Option<HashMap<String, String>> {
    (!tags.is_empty()).then(|| tags.clone().into_iter().collect())
}

/// The tags of the resource `arn`; `None` when it is gone.
pub async fn list_tags(client: &Client, arn: &str) -> Result<Option<Tags>, ProviderError> {
    let mut out = Tags::new();
    let mut token: Option<String> = None;
    loop {
        let Some(page) = found(client.list_tags().resource_arn(arn).set_next_token(token.take()).send().await.op("ListTags"))? else {
            return Ok(None);
        };
        out.extend(page.tags().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(Some(out)),
        }
    }
}

/// Brings the tags of `arn` from `current` to `desired`.
pub async fn set_tags(client: &Client, arn: &str, current: &Tags, desired: &Tags) -> Result<(), ProviderError> {
    let set =
        |set: Tags| async move { client.tag_resource().resource_arn(arn).set_tags(Some(set.into_iter().collect())).send().await.map(|_| ()).op("TagResource") };
    let remove = |remove: Vec<String>| async move {
        client.untag_resource().resource_arn(arn).set_tag_key_list(Some(remove)).send().await.map(|_| ()).op("UntagResource")
    };
    tagging::sync(current, desired, set, remove).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adopt::testing::desired;
    use serde_json::json;

    #[test]
    fn creator_request_ids_fit_the_api() {
        let mut d = desired(json!({}));
        for token in ["cairn-0123456789abcdef", &"x".repeat(80), "a/b c"] {
            d.idempotency_token = token.to_string();
            let id = creator_request_id(&d, "plan");
            assert!(DISPLAY_NAME.violation(&id).is_none(), "{id}");
            assert_eq!(id, creator_request_id(&d, "plan"), "deterministic");
            assert_ne!(id, creator_request_id(&d, "vault"));
        }
    }
}
