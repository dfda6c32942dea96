//! `aws.wafv2.logging_configuration`: sends a web ACL's request logs to S3, CloudWatch Logs or Firehose.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_wafv2::types::{FieldToMatch, LoggingConfiguration, SingleHeader};
use aws_sdk_wafv2::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule};
use serde_json::{json, Value};

use crate::error::{found, gone};
use crate::kit::errors::ServiceResultExt;
use crate::kit::iam_actions::IamActions;
use crate::wafv2_common::{arn_rule, PropReader, ARN, WAFV2};

const KIND: &str = "aws.wafv2.logging_configuration";
/// WAF delivers logs only to destinations named with this prefix.
const NAME_PREFIX: &str = "aws-waf-logs-";

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: KIND,
    doc: "Request logging for a web ACL (one per ACL, so the id is the web ACL's ARN). The destination's name must start with \
          `aws-waf-logs-`.",
    props: &[
        PropSpec::new("web_acl_arn", ARN, "The web ACL's ARN (`${my_acl.arn}`).").required().force_new().rule(arn_rule),
        PropSpec::new(
            "log_destination_arns",
            PropType::List(&ARN),
            "One destination ARN: an S3 bucket (arn:aws:s3:::aws-waf-logs-...), a CloudWatch Logs log group \
             (arn:aws:logs:REGION:ACCOUNT:log-group:aws-waf-logs-...) or a Firehose stream (arn:aws:firehose:REGION:ACCOUNT:deliverystream/aws-waf-logs-...).",
        )
        .required()
        .rule(destinations_rule),
        PropSpec::new(
            "redacted_fields",
            PropType::List(&PropType::Struct(&[PropSpec::new("single_header", PropType::Text(TextRule::len(1, 64)), "A header name, in lowercase.")
                .required()
                .rule(header_rule)])),
            "Request parts left out of the logs: a list of `{ single_header: <lowercase header name> }` (at most 100).",
        )
        .default("[]")
        .rule(redacted_rule),
    ],
    attrs: &[],
    taggable: false,
    rules: &[],
};

const PUT_ACTIONS: &[&str] = &[
    "wafv2:PutLoggingConfiguration",
    "wafv2:GetLoggingConfiguration",
    // WAF sets up log delivery on the caller's behalf, whichever destination type it is.
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "s3:PutBucketPolicy",
    "s3:GetBucketPolicy",
    "iam:CreateServiceLinkedRole",
    "firehose:ListDeliveryStreams",
];
static IAM: IamActions = IamActions {
    read: &["wafv2:GetLoggingConfiguration"],
    create: PUT_ACTIONS,
    update: PUT_ACTIONS,
    delete: &["wafv2:DeleteLoggingConfiguration", "logs:DeleteLogDelivery"],
};

crate::kit::client::client_kind!(Wafv2LoggingConfiguration, Client, wafv2);

/// The destination's own name inside its ARN, or `None` for an ARN of another kind.
fn destination_name(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _, service, _, _, resource] = parts.as_slice() else { return None };
    match *service {
        "s3" => resource.split('/').next(),
        "logs" => resource.strip_prefix("log-group:").and_then(|r| r.split(':').next()),
        "firehose" => resource.strip_prefix("deliverystream/"),
        _ => None,
    }
    .filter(|n| !n.is_empty())
}

/// One destination, of a kind WAF logs to, named for WAF.
fn destinations_rule(arns: &Value) -> Vec<String> {
    let Some(arns) = arns.as_array() else { return vec![] };
    if arns.len() != 1 {
        return vec![format!("must hold exactly one destination (WAF logs to one), not {}", arns.len())];
    }
    let mut out = vec![];
    for arn in arns.iter().filter_map(Value::as_str) {
        match destination_name(arn) {
            None => out.push(format!("{arn} is not the ARN of an S3 bucket, a CloudWatch Logs log group or a Firehose delivery stream")),
            Some(name) if !name.starts_with(NAME_PREFIX) => {
                out.push(format!("WAF only logs to destinations whose names start with \"{NAME_PREFIX}\", and {name:?} ({arn}) does not"))
            }
            Some(_) => {}
        }
    }
    out
}

/// WAF stores header names in lowercase; another case would differ from every read.
fn header_rule(header: &Value) -> Vec<String> {
    match header.as_str() {
        Some(h) if h.chars().any(|c| c.is_ascii_uppercase()) => vec![format!("WAF takes header names in lowercase: write {:?}", h.to_ascii_lowercase())],
        Some(h) if h.trim().is_empty() => vec!["must name a header".into()],
        _ => vec![],
    }
}

fn redacted_rule(fields: &Value) -> Vec<String> {
    match fields.as_array() {
        Some(items) if items.len() > 100 => vec![format!("may hold at most 100 fields, not {}", items.len())],
        _ => vec![],
    }
}

fn check_destinations(r: &PropReader<'_>, arns: &[String]) -> Result<(), ProviderError> {
    let problems = destinations_rule(&json!(arns));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(r.invalid(format!("log_destination_arns {}", problems.join("; "))))
    }
}

fn redacted_fields(r: &PropReader<'_>) -> Result<Vec<FieldToMatch>, ProviderError> {
    let Some(value) = r.value("redacted_fields") else { return Ok(vec![]) };
    let items = value.as_array().ok_or_else(|| r.invalid(format!("redacted_fields must be a list of {{ single_header: name }}, not {value}")))?;
    items
        .iter()
        .map(|item| {
            let header = item
                .as_object()
                .filter(|o| o.len() == 1)
                .and_then(|o| o.get("single_header"))
                .and_then(Value::as_str)
                .filter(|h| !h.is_empty())
                .ok_or_else(|| r.invalid(format!("redacted_fields items must be {{ single_header: <header name> }}, not {item}")))?;
            if header.chars().any(|c| c.is_ascii_uppercase()) {
                return Err(r.invalid(format!("redacted_fields: WAF takes header names in lowercase: write {:?}", header.to_ascii_lowercase())));
            }
            let header = SingleHeader::builder().name(header).build().map_err(|e| r.invalid(format!("redacted_fields: {e}")))?;
            Ok(FieldToMatch::builder().single_header(header).build())
        })
        .collect()
}

fn observed(config: &LoggingConfiguration) -> Observed {
    let mut destinations: Vec<&str> = config.log_destination_configs().iter().map(String::as_str).collect();
    destinations.sort();
    let redacted: Vec<Value> = config
        .redacted_fields()
        .iter()
        .map(|f| match f.single_header() {
            Some(h) => json!({ "single_header": h.name() }),
            // Redaction cairn does not model (made in the console): shown so the plan rewrites it.
            None => json!({ "unsupported": true }),
        })
        .collect();
    let mut props = Props::new();
    props.insert("web_acl_arn".into(), json!(config.resource_arn()));
    props.insert("log_destination_arns".into(), json!(destinations));
    props.insert("redacted_fields".into(), Value::Array(redacted));
    Observed { id: config.resource_arn().to_string(), props, attrs: Props::new(), tags: Tags::new() }
}

/// The configuration PutLoggingConfiguration is sent, after the schema's checks (the ARNs
/// are usually references, known only at apply).
fn logging_config(desired: &Desired) -> Result<LoggingConfiguration, ProviderError> {
    crate::schema_check::check(&SCHEMA, &desired.props)?;
    let r = PropReader::new(KIND, desired);
    let web_acl_arn =
        r.opt_str("web_acl_arn")?.filter(|a| a.starts_with("arn:")).ok_or_else(|| r.invalid("web_acl_arn is required and must be an ARN".into()))?;
    let destinations = r.opt_list("log_destination_arns")?.unwrap_or_default();
    check_destinations(&r, &destinations)?;
    let redacted = redacted_fields(&r)?;
    LoggingConfiguration::builder()
        .resource_arn(&web_acl_arn)
        .set_log_destination_configs(Some(destinations))
        .set_redacted_fields(Some(redacted).filter(|f| !f.is_empty()))
        .build()
        .map_err(|e| r.invalid(e.to_string()))
}

impl Wafv2LoggingConfiguration {
    async fn put(&self, desired: &Desired) -> Result<String, ProviderError> {
        let config = logging_config(desired)?;
        let web_acl_arn = config.resource_arn().to_string();
        self.client.put_logging_configuration().logging_configuration(config).send().await.op_in(&WAFV2, "PutLoggingConfiguration")?;
        Ok(web_acl_arn)
    }
}

#[async_trait]
impl ResourceKind for Wafv2LoggingConfiguration {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let out = found(self.client.get_logging_configuration().resource_arn(id).send().await.op_in(&WAFV2, "GetLoggingConfiguration"))?;
        Ok(out.and_then(|o| o.logging_configuration().map(observed)))
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        // One resource per read call: the reads run side by side.
        let client = self.client.clone();
        crate::read_each::read_each(ids, || Wafv2LoggingConfiguration::from_client(client.clone())).await
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let id = self.put(desired).await?;
        self.read(&id).await?.ok_or_else(|| ProviderError::Retryable(format!("PutLoggingConfiguration: logging for {id} is not readable yet")))
    }

    async fn update(&self, id: &str, desired: &Desired, _changed: &[String]) -> Result<Observed, ProviderError> {
        // PutLoggingConfiguration replaces the whole configuration.
        self.put(desired).await?;
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("logging for {id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        gone(self.client.delete_logging_configuration().resource_arn(id).send().await.map(|_| ()).op_in(&WAFV2, "DeleteLoggingConfiguration"))
    }

    /// Not taggable, and one per web ACL: whatever logging the ACL has is what a repeated
    /// create would overwrite anyway.
    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        match desired.str("web_acl_arn") {
            Some(arn) => self.read(arn).await,
            None => Ok(None),
        }
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        IAM.of(op)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    use aws_sdk_wafv2::error::ErrorMetadata;
    use aws_sdk_wafv2::operation::delete_logging_configuration::{DeleteLoggingConfigurationError, DeleteLoggingConfigurationOutput};
    use aws_sdk_wafv2::operation::get_logging_configuration::{GetLoggingConfigurationError, GetLoggingConfigurationOutput};
    use aws_sdk_wafv2::operation::put_logging_configuration::{PutLoggingConfigurationInput, PutLoggingConfigurationOutput};
    use aws_smithy_mocks::{mock, Rule};
    use cairn_engine::provider::Owner;

    const ACL: &str = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/shop-dev-edge/abc";
    const BUCKET: &str = "arn:aws:s3:::aws-waf-logs-shop-dev";

    fn kind(rules: &[&Rule]) -> Wafv2LoggingConfiguration {
        Wafv2LoggingConfiguration::from_client(crate::mocked_client!(aws_sdk_wafv2, rules))
    }

    fn desired(props: Value) -> Desired {
        let owner = Owner { stack: "shop".into(), env: "dev".into(), address: "edge_logs".into() };
        Desired {
            props: props.as_object().unwrap().clone(),
            tags: owner.tags(),
            owner,
            default_name: "shop-dev-edge-logs".into(),
            idempotency_token: "t".into(),
        }
    }

    fn error(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message("mocked").build()
    }

    /// GetLoggingConfiguration answering with whatever the last Put stored.
    fn store() -> (Rule, Rule) {
        let stored: Arc<Mutex<Option<PutLoggingConfigurationInput>>> = Arc::default();
        let sink = stored.clone();
        let put = mock!(Client::put_logging_configuration).then_compute_output(move |input| {
            *sink.lock().unwrap() = Some(input.clone());
            PutLoggingConfigurationOutput::builder().set_logging_configuration(input.logging_configuration().cloned()).build()
        });
        let get = mock!(Client::get_logging_configuration).match_requests(|r| r.resource_arn() == Some(ACL)).then_compute_output(move |_| {
            let config = stored.lock().unwrap().as_ref().and_then(|i| i.logging_configuration().cloned());
            GetLoggingConfigurationOutput::builder().set_logging_configuration(config).build()
        });
        (put, get)
    }

    #[test]
    fn schema_is_untaggable() {
        assert!(!SCHEMA.taggable);
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        for props in [
            json!({}),
            json!({"web_acl_arn": ACL}),
            json!({"web_acl_arn": "edge", "log_destination_arns": [BUCKET]}),
            json!({"web_acl_arn": ACL, "log_destination_arns": []}),
            json!({"web_acl_arn": ACL, "log_destination_arns": [BUCKET, "arn:aws:s3:::aws-waf-logs-other"]}),
            json!({"web_acl_arn": ACL, "log_destination_arns": ["arn:aws:s3:::company-logs"]}),
            json!({"web_acl_arn": ACL, "log_destination_arns": ["arn:aws:sqs:us-east-1:123456789012:aws-waf-logs-q"]}),
            json!({"web_acl_arn": ACL, "log_destination_arns": BUCKET}),
            json!({"web_acl_arn": ACL, "log_destination_arns": [BUCKET], "redacted_fields": [{"single_header": "Authorization"}]}),
            json!({"web_acl_arn": ACL, "log_destination_arns": [BUCKET], "redacted_fields": [{"uri_path": {}}]}),
            json!({"web_acl_arn": ACL, "log_destination_arns": [BUCKET], "redacted_fields": [{"single_header": ""}]}),
            json!({"web_acl_arn": ACL, "log_destination_arns": [BUCKET], "redacted_fields": {"single_header": "cookie"}}),
        ] {
            let d = desired(props.clone());
            assert!(logging_config(&d).is_err(), "builder accepts {props}");
            assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every value the schema accepts becomes a LoggingConfiguration the SDK builds. ARNs
        /// are drawn as destinations WAF logs to: random text would almost never be one.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(
            destination in proptest::sample::select(vec![
                "arn:aws:s3:::aws-waf-logs-NAME",
                "arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-NAME",
                "arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-NAME:*",
                "arn:aws:firehose:us-east-1:123456789012:deliverystream/aws-waf-logs-NAME",
            ]),
            name in "[a-z0-9-]{1,40}",
            headers in proptest::collection::vec("[a-z0-9-]{1,64}", 0..4),
        ) {
            let redacted: Vec<Value> = headers.iter().map(|h| json!({"single_header": h})).collect();
            let props = json!({"web_acl_arn": ACL, "log_destination_arns": [destination.replace("NAME", &name)], "redacted_fields": redacted});
            let d = desired(props);
            proptest::prop_assert!(crate::schema_check::accepts(&SCHEMA, &d.props), "{:?}", cairn_engine::typecheck::check_props(&SCHEMA, &d.props, true));
            let config = logging_config(&d);
            proptest::prop_assert!(config.is_ok(), "{:?}", config.err());
        }
    }

    #[test]
    fn destination_names_are_found_in_each_arn_kind() {
        assert_eq!(destination_name("arn:aws:s3:::aws-waf-logs-a/prefix"), Some("aws-waf-logs-a"));
        assert_eq!(destination_name("arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-b:*"), Some("aws-waf-logs-b"));
        assert_eq!(destination_name("arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-b"), Some("aws-waf-logs-b"));
        assert_eq!(destination_name("arn:aws:firehose:us-east-1:123456789012:deliverystream/aws-waf-logs-c"), Some("aws-waf-logs-c"));
        assert_eq!(destination_name("arn:aws:sqs:us-east-1:123456789012:aws-waf-logs-d"), None);
    }

    #[tokio::test]
    async fn create_puts_the_configuration_and_reads_it_back_as_written() {
        let (put, get) = store();
        let d = desired(
            json!({"web_acl_arn": ACL, "log_destination_arns": [BUCKET], "redacted_fields": [{"single_header": "authorization"}, {"single_header": "cookie"}]}),
        );
        let observed = kind(&[&put, &get]).create(&d).await.unwrap();
        assert_eq!(put.num_calls(), 1);
        assert_eq!(observed.id, ACL);
        assert_eq!(observed.props, d.props, "reads back as written");
        assert!(observed.tags.is_empty());
        for op in ["wafv2:PutLoggingConfiguration", "wafv2:GetLoggingConfiguration", "logs:CreateLogDelivery"] {
            assert!(PUT_ACTIONS.contains(&op), "{op}");
        }
    }

    #[tokio::test]
    async fn destinations_not_named_for_waf_are_refused_naming_the_rule() {
        // No rules: any call would panic.
        let k = kind(&[]);
        for (destinations, needle) in [
            (json!(["arn:aws:s3:::company-logs"]), "names start with \"aws-waf-logs-\""),
            (json!(["arn:aws:logs:us-east-1:123456789012:log-group:/waf/edge"]), "names start with \"aws-waf-logs-\""),
            (json!(["arn:aws:firehose:us-east-1:123456789012:deliverystream/edge"]), "names start with \"aws-waf-logs-\""),
            (json!(["arn:aws:sqs:us-east-1:123456789012:aws-waf-logs-q"]), "not the ARN of"),
            (json!([]), "exactly one"),
            (json!([BUCKET, "arn:aws:s3:::aws-waf-logs-other"]), "exactly one"),
        ] {
            let result = k.create(&desired(json!({"web_acl_arn": ACL, "log_destination_arns": destinations}))).await;
            assert!(matches!(&result, Err(ProviderError::Invalid(m)) if m.contains(needle)), "{needle}: {result:?}");
        }
        let result =
            k.create(&desired(json!({"web_acl_arn": ACL, "log_destination_arns": [BUCKET], "redacted_fields": [{"single_header": "Authorization"}]}))).await;
        assert!(matches!(&result, Err(ProviderError::Invalid(m)) if m.contains("\"authorization\"")), "{result:?}");
        let result = k.create(&desired(json!({"web_acl_arn": ACL, "log_destination_arns": [BUCKET], "redacted_fields": [{"uri_path": {}}]}))).await;
        assert!(matches!(&result, Err(ProviderError::Invalid(m)) if m.contains("single_header")), "{result:?}");
    }

    #[tokio::test]
    async fn update_puts_the_whole_configuration_again() {
        let (put, get) = store();
        let d = desired(json!({"web_acl_arn": ACL, "log_destination_arns": [BUCKET], "redacted_fields": []}));
        let observed = kind(&[&put, &get]).update(ACL, &d, &["redacted_fields".into()]).await.unwrap();
        assert_eq!(observed.props["redacted_fields"], json!([]));
        assert_eq!(put.num_calls(), 1);
    }

    #[tokio::test]
    async fn read_of_missing_configuration_is_none_and_delete_of_missing_is_ok() {
        let get = mock!(Client::get_logging_configuration).then_error(|| GetLoggingConfigurationError::generic(error("WAFNonexistentItemException")));
        assert_eq!(kind(&[&get]).read(ACL).await.unwrap(), None);
        let delete = mock!(Client::delete_logging_configuration).then_error(|| DeleteLoggingConfigurationError::generic(error("WAFNonexistentItemException")));
        kind(&[&delete]).delete(ACL).await.unwrap();
        let ok = mock!(Client::delete_logging_configuration)
            .match_requests(|r| r.resource_arn() == Some(ACL))
            .then_output(|| DeleteLoggingConfigurationOutput::builder().build());
        kind(&[&ok]).delete(ACL).await.unwrap();
        assert_eq!(ok.num_calls(), 1);
    }
}
