//! Bucket rules for server access logging and replication: the target bucket's statement for logging.s3.amazonaws.com, log loops, versioned replica buckets and a replication role S3 can assume.

use serde_json::{json, Value};

use super::{admits, is_true, is_unknown, sid, Action, Ctx, Finding};
use crate::graph::ResourceNode;

const LOGGING: &str = "logging.s3.amazonaws.com";
const S3: &str = "s3.amazonaws.com";

/// A bucket a prop names: one of the stack's (by reference, or by a literal name that is one of
/// its buckets'), or only a name.
struct Named<'g> {
    node: Option<&'g ResourceNode>,
    name: String,
}

/// The bucket a name (`${logs.bucket}` or `logs-bucket`) or an ARN (`${replica.arn}` or
/// `arn:aws:s3:::replica`) stands for; `None` when it is known only after apply.
fn bucket<'g>(cx: &Ctx<'g>, v: &Value) -> Option<Named<'g>> {
    if let Some(node) = cx.target(v) {
        return (node.kind == "aws.s3.bucket").then(|| cx.physical_name(node).map(|name| Named { node: Some(node), name })).flatten();
    }
    let text = v.as_str()?;
    let name = text.split_once(":s3:::").map(|(_, n)| n).unwrap_or(text).to_string();
    let node = cx.nodes("aws.s3.bucket").find(|b| cx.physical_name(b).as_deref() == Some(name.as_str()));
    Some(Named { node, name })
}

/// `media.bucket` → `MediaBucket`: a Sid suffix per source bucket (letters and digits only).
fn camel(address: &str) -> String {
    address.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w[..1].to_uppercase() + &w[1..]).collect()
}

/// One bucket logging into another: source, target and the prefix of the log objects.
struct LogWrite<'g> {
    source: &'g ResourceNode,
    target: Named<'g>,
    prefix: String,
}

fn log_writes<'g>(cx: &Ctx<'g>) -> Vec<LogWrite<'g>> {
    let mut out = vec![];
    for source in cx.nodes("aws.s3.bucket") {
        let Some(logging) = source.props.get("logging").filter(|l| l.is_object()) else { continue };
        let Some(target) = logging.get("target_bucket").and_then(|t| bucket(cx, t)) else { continue };
        let prefix = match logging.get("target_prefix") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(p)) => p.clone(),
            Some(_) => continue,
        };
        out.push(LogWrite { source, target, prefix });
    }
    out
}

/// Whether a bucket of the stack receives server access logs from one of its buckets.
pub(super) fn is_access_log_target(cx: &Ctx, bucket: &ResourceNode) -> bool {
    log_writes(cx).iter().any(|w| w.target.node.is_some_and(|t| t.address == bucket.address))
}

/// The statement the S3 documentation gives for a log target: PutObject under the prefix for
/// logging.s3.amazonaws.com, from this source bucket in this account only.
fn log_statement(cx: &Ctx, w: &LogWrite, source_arn: Value) -> Value {
    json!({
        "Sid": sid("s3-access-log-policy", &camel(&w.source.address)),
        "Effect": "Allow",
        "Principal": { "Service": LOGGING },
        "Action": "s3:PutObject",
        "Resource": format!("arn:{}:s3:::{}/{}*", cx.partition(), w.target.name, w.prefix),
        "Condition": { "ArnLike": { "aws:SourceArn": source_arn }, "StringEquals": { "aws:SourceAccount": cx.account() } }
    })
}

pub(super) fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    for w in log_writes(cx) {
        // s3-access-log-loop
        let own = cx.physical_name(w.source);
        if w.prefix.is_empty() && own.as_deref() == Some(w.target.name.as_str()) {
            out.push(Finding::new(
                "s3-access-log-loop",
                w.source,
                "logging",
                Action::Refuse {
                    message: format!(
                        "`{}` logs its own access into itself without a target_prefix, so each log object's delivery is logged again",
                        w.target.name
                    ),
                    help: "log into a separate bucket, or at least set target_prefix (e.g. `access-logs/`) and exclude it from readers".into(),
                },
            ));
            continue;
        }
        // s3-access-log-policy
        let Some(source_arn) = cx.arn_of(w.source) else { continue };
        let stmt = log_statement(cx, &w, source_arn);
        match w.target.node {
            Some(target) => {
                if is_unknown(target.props.get("policy")) || admits(target.props.get("policy"), LOGGING, &["s3:PutObject"]) {
                    continue;
                }
                out.push(Finding::new("s3-access-log-policy", target, "policy", Action::AddStatement(stmt)));
            }
            None => out.push(Finding::new(
                "s3-access-log-policy",
                w.source,
                "logging",
                Action::Refuse {
                    message: format!(
                        "S3 delivers access logs to `{}` only if its bucket policy admits {LOGGING}, and that bucket is not this stack's",
                        w.target.name
                    ),
                    help: format!("add this statement to that bucket's policy: {}", super::show(&stmt)),
                },
            )),
        }
    }

    for source in cx.nodes("aws.s3.bucket") {
        let Some(config) = source.props.get("replication_configuration").filter(|c| c.is_object()) else { continue };
        // s3-replication-destination-versioning
        let mut seen = std::collections::BTreeSet::new();
        for rule in config.get("rules").and_then(Value::as_array).into_iter().flatten() {
            let Some(dest) = rule.get("destination").and_then(|d| d.get("bucket")).and_then(|b| bucket(cx, b)) else { continue };
            let Some(node) = dest.node else { continue };
            let versioning = node.props.get("versioning");
            if is_true(versioning) || is_unknown(versioning) || !seen.insert(node.address.clone()) {
                continue;
            }
            out.push(Finding::new(
                "s3-replication-destination-versioning",
                source,
                "replication_configuration",
                Action::Refuse {
                    message: format!("replicates into `{}`, which is not versioned; S3 replicates only into versioned buckets", node.address),
                    help: format!("set `versioning: true` on `{}`", node.address),
                },
            ));
        }
        // s3-replication-role-trust
        let Some(role) = config.get("role").and_then(|r| cx.target(r)).filter(|r| r.kind == "aws.iam.role") else { continue };
        let trust = role.props.get("assume_role_policy");
        if is_unknown(trust) || admits(trust, S3, &["sts:AssumeRole"]) {
            continue;
        }
        let stmt = json!({ "Effect": "Allow", "Principal": { "Service": S3 }, "Action": "sts:AssumeRole" });
        out.push(Finding::new(
            "s3-replication-role-trust",
            role,
            "assume_role_policy",
            Action::Refuse {
                message: format!("`{}` replicates with this role, whose trust policy does not let {S3} assume it", source.address),
                help: format!("add this statement to its assume_role_policy: {}", super::show(&stmt)),
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::sid;
    use super::super::testing::fixture;
    use super::*;

    #[test]
    fn s3_access_log_policy_completes_the_target_bucket() {
        let o = fixture("s3-access-log-policy");
        assert!(o.diags.is_empty(), "{}", o.rendered());
        let s = o.statement("logs", "policy", &sid("s3-access-log-policy", "Media")).expect("statement for media");
        assert_eq!(s["Principal"]["Service"], "logging.s3.amazonaws.com");
        assert_eq!(s["Action"], "s3:PutObject");
        assert_eq!(s["Resource"], "arn:aws:s3:::shop-dev-logs/media/*");
        assert_eq!(s["Condition"]["ArnLike"]["aws:SourceArn"], "arn:aws:s3:::shop-dev-media");
        assert_eq!(s["Condition"]["StringEquals"]["aws:SourceAccount"], "111122223333");
        // The second source gets its own statement, on its own prefix; the TLS-only Deny stays.
        let r = o.statement("logs", "policy", &sid("s3-access-log-policy", "Reports")).expect("statement for reports");
        assert_eq!(r["Resource"], "arn:aws:s3:::shop-dev-logs/reports/*");
        assert!(o.statement("logs", "policy", "DenyInsecureTransport").is_some());
        // A bucket that logs into itself under a prefix admits the delivery on its own policy.
        let own = o.statement("audit", "policy", &sid("s3-access-log-policy", "Audit")).expect("statement for audit");
        assert_eq!(own["Resource"], "arn:aws:s3:::shop-dev-audit/self/*");

        let o = fixture("s3-access-log-policy-external");
        assert_eq!(o.codes(), ["s3-access-log-policy"], "{}", o.rendered());
        let text = o.rendered();
        assert!(text.contains("add this statement to that bucket's policy") && text.contains("arn:aws:s3:::central-logs/shop/*"), "{text}");
    }

    #[test]
    fn s3_access_log_loop_is_refused() {
        let o = fixture("s3-access-log-loop");
        assert_eq!(o.codes(), ["s3-access-log-loop"], "{}", o.rendered());
        assert!(o.rendered().contains("`shop-dev-loop` logs its own access into itself"), "{}", o.rendered());
    }

    #[test]
    fn s3_replication_destination_versioning_is_refused() {
        let o = fixture("s3-replication-destination-versioning");
        assert_eq!(o.codes(), ["s3-replication-destination-versioning"], "{}", o.rendered());
        assert!(o.rendered().contains("replicates into `plain`, which is not versioned"), "{}", o.rendered());
    }

    #[test]
    fn s3_replication_role_trust_is_refused() {
        let o = fixture("s3-replication-role-trust");
        assert_eq!(o.codes(), ["s3-replication-role-trust"], "{}", o.rendered());
        let text = o.rendered();
        assert!(text.contains("`data` replicates with this role") && text.contains(r#""Service":"s3.amazonaws.com""#), "{text}");
    }

    #[test]
    fn sid_suffixes_are_letters_and_digits() {
        assert_eq!(camel("media.bucket"), "MediaBucket");
        assert_eq!(camel("data_lake-2"), "DataLake2");
    }
}
