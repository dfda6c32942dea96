//! Helpers shared by the RDS kinds: error codes, tags by ARN, name rules and prop parsing.

use aws_sdk_rds::types::Tag;
use aws_sdk_rds::Client;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::provider::{Desired, ProviderError, ResourceSchema, Tags};
use serde_json::Value;

use crate::kit::errors::ServiceResultExt;
pub(crate) use crate::kit::service_codes::RDS;
use crate::kit::tagging;

/// `classify` plus RDS's own codes (`service_codes::RDS`).
pub(crate) fn classify_rds<E, R>(operation: &str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    RDS.classify(operation, err)
}

/// Whether a create failed because the name is taken (`DBInstanceAlreadyExists`, `DBSubnetGroupAlreadyExists`...).
pub(crate) fn is_already_exists(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Conflict(m) if m.contains("AlreadyExists"))
}

pub(crate) use crate::kit::errors::message_of;

/// `.rds("Operation")?`, the same as `.op_in(&RDS, "Operation")?`, for `rds_instance`.
pub(crate) trait RdsResultExt<T> {
    fn rds(self, operation: &str) -> Result<T, ProviderError>;
}

impl<T, E, R> RdsResultExt<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn rds(self, operation: &str) -> Result<T, ProviderError> {
        self.op_in(&RDS, operation)
    }
}

pub(crate) fn rds_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

pub(crate) fn tags_from(list: &[Tag]) -> Tags {
    list.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect()
}

pub(crate) async fn list_tags(client: &Client, arn: &str) -> Result<Tags, ProviderError> {
    let out = client.list_tags_for_resource().resource_name(arn).send().await.op_in(&RDS, "ListTagsForResource")?;
    Ok(tags_from(out.tag_list()))
}

/// Brings the resource's tags from `current` to `want` (RDS tags by ARN).
pub(crate) async fn sync_tags(client: &Client, arn: &str, current: &Tags, want: &Tags) -> Result<(), ProviderError> {
    let set = |tags: Tags| async move {
        client.add_tags_to_resource().resource_name(arn).set_tags(Some(rds_tags(&tags))).send().await.map(|_| ()).op_in(&RDS, "AddTagsToResource")
    };
    let remove = |keys: Vec<String>| async move {
        client.remove_tags_from_resource().resource_name(arn).set_tag_keys(Some(keys)).send().await.map(|_| ()).op_in(&RDS, "RemoveTagsFromResource")
    };
    tagging::sync(current, want, set, remove).await
}

/// The kind's physical name (its naming prop, else the default name), checked against the
/// schema's naming rule: names set by `${...}` were not checked at validate. RDS stores
/// identifiers and group names in lowercase and reports them that way, so a name with
/// capitals would read back different and, being force-new, replace the resource on every
/// apply: the rule refuses capitals, and the message gives the lowercase spelling.
pub(crate) fn physical_name(schema: &ResourceSchema, desired: &Desired) -> Result<String, ProviderError> {
    let Some((prop, naming)) = schema.naming() else { return Ok(desired.default_name.clone()) };
    let name = match desired.props.get(prop) {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => desired.default_name.clone(),
        Some(other) => return Err(ProviderError::Invalid(format!("{}: `{prop}` must be a string, not {other}", schema.kind))),
    };
    match naming.rule.violation(&name) {
        None => Ok(name),
        Some(why) if name.chars().any(|c| c.is_ascii_uppercase()) => Err(ProviderError::Invalid(format!(
            "{}: `{prop}` {name:?} {why}; RDS stores names in lowercase, so write it as {:?}",
            schema.kind,
            name.to_ascii_lowercase()
        ))),
        Some(why) => Err(ProviderError::Invalid(format!("{}: `{prop}` {name:?} {why}", schema.kind))),
    }
}

/// Reads the stack's props with their types checked, naming the kind and prop in errors.
pub(crate) struct PropReader<'a> {
    pub kind: &'static str,
    pub desired: &'a Desired,
}

impl<'a> PropReader<'a> {
    pub fn new(kind: &'static str, desired: &'a Desired) -> Self {
        PropReader { kind, desired }
    }

    pub fn invalid(&self, message: String) -> ProviderError {
        crate::kit::errors::invalid(self.kind, message)
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.desired.props.get(name).filter(|v| !v.is_null())
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<String>, ProviderError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.invalid(format!("{name} must be a string, not {other}"))),
        }
    }

    pub fn str_or(&self, name: &str, default: &str) -> Result<String, ProviderError> {
        Ok(self.opt_str(name)?.unwrap_or_else(|| default.to_string()))
    }

    pub fn opt_list(&self, name: &str) -> Result<Option<Vec<String>>, ProviderError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(|| self.invalid(format!("{name} must be a list of strings, not {v}"))))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(self.invalid(format!("{name} must be a list of strings, not {other}"))),
        }
    }

    pub fn value(&self, name: &str) -> Option<&'a Value> {
        self.get(name)
    }
}

/// A list the request needs at least one item of (subnets): the schema's rule on such props.
pub(crate) fn non_empty(list: &Value) -> Vec<String> {
    match list.as_array() {
        Some(items) if items.is_empty() => vec!["must list at least one item".into()],
        _ => vec![],
    }
}

/// A KMS key given to RDS must be a key ARN: RDS reports the ARN whatever was sent, so an
/// alias or bare id would differ on every read and, force-new, replace the database. The
/// schema's rule on the key props (`PropSpec::rule`).
pub(crate) fn key_arn_rule(key: &Value) -> Vec<String> {
    let Some(key) = key.as_str() else { return vec![] };
    if crate::kit::arns::is_arn_of(key, "kms", "key/") {
        vec![]
    } else {
        vec![format!("must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID, e.g. ${{my_key.arn}}), not {key:?}")]
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A clock for mocked clients (sleeping moves it forward at once, so a waiter runs
    //! through its whole timeout without real time passing), and the validate half of the
    //! RDS and EKS kinds' agreement tests.

    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use aws_sdk_rds::config::{AsyncSleep, Sleep};
    use aws_types::sdk_config::TimeSource;

    /// Whether validate refuses `props`: the schema's checks, or the naming rule on an
    /// explicit name (which `names` applies at validate, not `check_props`).
    pub(crate) fn schema_refuses(schema: &cairn_engine::provider::ResourceSchema, props: &cairn_engine::provider::Props) -> bool {
        let name_refused = schema.naming().and_then(|(prop, naming)| Some(naming.rule.violation(props.get(prop)?.as_str()?).is_some())).unwrap_or(false);
        !crate::schema_check::accepts(schema, props) || name_refused
    }

    #[derive(Debug, Clone)]
    pub(crate) struct InstantClock(Arc<Mutex<Duration>>);

    impl Default for InstantClock {
        fn default() -> Self {
            InstantClock(Arc::new(Mutex::new(Duration::from_secs(1_700_000_000))))
        }
    }

    impl InstantClock {
        pub fn elapsed_since_start(&self) -> Duration {
            *self.0.lock().unwrap() - Duration::from_secs(1_700_000_000)
        }
    }

    impl TimeSource for InstantClock {
        fn now(&self) -> SystemTime {
            UNIX_EPOCH + *self.0.lock().unwrap()
        }
    }

    impl AsyncSleep for InstantClock {
        fn sleep(&self, duration: Duration) -> Sleep {
            *self.0.lock().unwrap() += duration;
            Sleep::new(std::future::ready(()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_engine::provider::Owner;
    use serde_json::json;

    fn desired(props: Value) -> Desired {
        let owner = Owner { stack: "s".into(), env: "dev".into(), address: "a".into() };
        Desired { props: props.as_object().unwrap().clone(), tags: Tags::new(), owner, default_name: "s-dev-a".into(), idempotency_token: "t".into() }
    }

    #[test]
    fn rds_codes_are_classified() {
        use aws_sdk_rds::error::ErrorMetadata;
        use aws_sdk_rds::operation::describe_db_instances::DescribeDBInstancesError;
        use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
        use aws_smithy_types::body::SdkBody;
        let err = |code: &str| {
            let e = DescribeDBInstancesError::generic(ErrorMetadata::builder().code(code).message("m").build());
            SdkError::service_error(e, HttpResponse::new(400.try_into().unwrap(), SdkBody::empty()))
        };
        assert!(matches!(classify_rds("X", err("DBInstanceNotFound")), ProviderError::NotFound(_)));
        assert!(matches!(classify_rds("X", err("DBSubnetGroupNotFoundFault")), ProviderError::NotFound(_)));
        assert!(matches!(classify_rds("X", err("DBParameterGroupNotFound")), ProviderError::NotFound(_)));
        assert!(matches!(classify_rds("X", err("DBInstanceAlreadyExists")), ProviderError::Conflict(_)));
        assert!(matches!(classify_rds("X", err("InvalidDBInstanceState")), ProviderError::Conflict(_)));
        assert!(matches!(classify_rds("X", err("InvalidDBSubnetGroupStateFault")), ProviderError::Conflict(_)));
        assert!(matches!(classify_rds("X", err("InvalidParameterValue")), ProviderError::Invalid(_)));
        assert!(matches!(classify_rds("X", err("Throttling")), ProviderError::Throttled(_)));
    }

    #[test]
    fn names_with_capitals_are_refused_with_the_lowercase_spelling() {
        let schema = &crate::rds_subnet_group::SCHEMA;
        let err = physical_name(schema, &desired(json!({"name": "Orders"}))).unwrap_err();
        assert!(matches!(&err, ProviderError::Invalid(m) if m.contains("\"orders\"")), "{err:?}");
        assert_eq!(physical_name(schema, &desired(json!({"name": "orders-db"}))).unwrap(), "orders-db");
        assert_eq!(physical_name(schema, &desired(json!({}))).unwrap(), "s-dev-a", "the default name");
    }

    #[test]
    fn kms_keys_must_be_key_arns() {
        assert!(key_arn_rule(&json!("arn:aws:kms:us-east-1:123456789012:key/abcd")).is_empty());
        for bad in ["alias/rds", "abcd", "arn:aws:kms:us-east-1:123456789012:alias/rds"] {
            assert!(!key_arn_rule(&json!(bad)).is_empty(), "{bad}");
        }
    }

    #[test]
    fn reader_checks_types() {
        let d = desired(json!({"n": 1, "l": ["a", 2]}));
        let r = PropReader::new("k", &d);
        assert!(r.opt_str("n").is_err());
        assert!(r.opt_list("l").is_err());
        assert_eq!(r.str_or("missing", "dflt").unwrap(), "dflt");
    }
}
