//! The statements for the S3 state backend: its objects, the listing of its prefix, and its KMS key.

use serde_json::json;

use super::{Purpose, StateBackend, Statements};
use crate::graph::ResourceGraph;

/// The state backend's objects, listing and key.
pub(super) fn state_statements(st: &mut Statements, b: &StateBackend, graph: &ResourceGraph, purpose: Purpose, account: &str) {
    let prefix = b.key_prefix.trim_matches('/');
    let base = if prefix.is_empty() { format!("{}/{}/", graph.stack, graph.env) } else { format!("{prefix}/{}/{}/", graph.stack, graph.env) };
    let object = |k: &str| format!("arn:aws:s3:::{}/{base}{k}", b.bucket);
    st.allow("StateRead", "s3:GetObject", &[object("state.json"), object("lock.json"), object("history/*")], None);
    st.allow("StateList", "s3:ListBucket", &[format!("arn:aws:s3:::{}", b.bucket)], Some(json!({ "StringLike": { "s3:prefix": [format!("{base}*")] } })));
    for a in ["s3:PutObject", "s3:DeleteObject"] {
        st.allow("StateLock", a, &[object("lock.json")], None);
    }
    // Plan writes state.json too: the first plan creates an empty state, and a plan settles
    // the journal rows of an interrupted run (adopting what it created) before it refreshes.
    // Apply and destroy also keep a snapshot per run under history/.
    let written = if purpose == Purpose::Plan { vec![object("state.json")] } else { vec![object("state.json"), object("history/*")] };
    st.allow("StateWrite", "s3:PutObject", &written, None);
    if let Some(key) = b.kms_key.as_deref().filter(|k| !k.is_empty()) {
        let region = b.region.as_deref().unwrap_or(&graph.region);
        let via = json!({ "kms:ViaService": format!("s3.{region}.amazonaws.com") });
        let (resource, condition) = if key.starts_with("arn:") && key.contains(":key/") {
            (key.to_string(), json!({ "StringEquals": via }))
        } else if let Some(alias) = key
            .strip_prefix("arn:")
            .and_then(|k| k.split_once(":alias/"))
            .map(|(_, a)| format!("alias/{a}"))
            .or_else(|| key.starts_with("alias/").then(|| key.to_string()))
        {
            // IAM authorises cryptographic calls on the key, not the alias: name the key by its alias.
            (format!("arn:aws:kms:{region}:{account}:key/*"), json!({ "StringEquals": via, "ForAnyValue:StringEquals": { "kms:ResourceAliases": [alias] } }))
        } else {
            (format!("arn:aws:kms:{region}:{account}:key/{key}"), json!({ "StringEquals": via }))
        };
        // SSE-KMS: PutObject asks KMS for a data key, GetObject to decrypt it; nothing else.
        for a in ["kms:GenerateDataKey", "kms:Decrypt"] {
            st.allow("StateKey", a, std::slice::from_ref(&resource), Some(condition.clone()));
        }
    }
}
