//! `aws.wafv2.web_acl_association`: attaches a regional web ACL to a load balancer, API Gateway stage or similar resource.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_wafv2::error::ProvideErrorMetadata;
use aws_sdk_wafv2::operation::associate_web_acl::AssociateWebACLError;
use aws_sdk_wafv2::Client;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};
use aws_smithy_types::retry::ErrorKind;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, Props, ProviderError, ResourceKind, ResourceSchema, Tags};
use serde_json::json;

use crate::aws::AwsContext;
use crate::error::{found, gone};
use crate::kit::errors::ServiceResultExt;
use crate::kit::iam_actions::IamActions;
use crate::wafv2_common::{arn_rule, PropReader, ARN, WAFV2};

const KIND: &str = "aws.wafv2.web_acl_association";

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: KIND,
    doc: "Attaches a REGIONAL web ACL to one resource (an Application Load Balancer, API Gateway REST API stage, AppSync API, \
          Cognito user pool, ...). A resource has at most one web ACL, so the id is the resource's ARN.",
    props: &[
        PropSpec::new("web_acl_arn", ARN, "The web ACL's ARN (`${my_acl.arn}`).").required().force_new().rule(arn_rule),
        PropSpec::new("resource_arn", ARN, "ARN of the protected resource, e.g. an ALB's ARN.").required().force_new().rule(arn_rule),
    ],
    attrs: &[],
    taggable: false,
    rules: &[],
};

static IAM: IamActions = IamActions {
    read: &["wafv2:GetWebACLForResource"],
    create: &[
        "wafv2:AssociateWebACL",
        // WAF calls the protected service on the caller's behalf.
        "elasticloadbalancing:SetWebACL",
        "apigateway:SetWebACL",
        "wafv2:GetWebACLForResource",
    ],
    update: &["wafv2:GetWebACLForResource"],
    delete: &["wafv2:DisassociateWebACL", "elasticloadbalancing:SetWebACL", "apigateway:SetWebACL"],
};

/// A web ACL is not associable for a short while after it is created
/// (WAFUnavailableEntityException); the SDK's own retries, with backoff, wait that out.
#[derive(Debug, Default)]
struct NewAclNotYetUsable;

impl ClassifyRetry for NewAclNotYetUsable {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let unavailable = ctx
            .output_or_error()
            .and_then(|r| r.err())
            .and_then(|e| e.as_operation_error())
            .and_then(|e| e.downcast_ref::<AssociateWebACLError>())
            .is_some_and(|e| e.code() == Some("WAFUnavailableEntityException"));
        if unavailable {
            RetryAction::retryable_error(ErrorKind::ServerError)
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "CairnNewWebAclNotYetUsable"
    }
}

pub struct Wafv2WebAclAssociation {
    client: Client,
}

impl Wafv2WebAclAssociation {
    pub fn new(ctx: &AwsContext) -> Self {
        Self::from_client(ctx.wafv2())
    }

    pub fn from_client(client: Client) -> Self {
        let config = client.config().to_builder().retry_classifier(NewAclNotYetUsable).build();
        Wafv2WebAclAssociation { client: Client::from_conf(config) }
    }
}

fn observed(resource_arn: &str, web_acl_arn: &str) -> Observed {
    let mut props = Props::new();
    props.insert("web_acl_arn".into(), json!(web_acl_arn));
    props.insert("resource_arn".into(), json!(resource_arn));
    Observed { id: resource_arn.to_string(), props, attrs: Props::new(), tags: Tags::new() }
}

struct Spec {
    web_acl_arn: String,
    resource_arn: String,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        // ARNs are usually references, known only at apply: the schema's checks run here too.
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let r = PropReader::new(KIND, desired);
        let arn = |name: &str| -> Result<String, ProviderError> {
            r.opt_str(name)?.filter(|a| a.starts_with("arn:")).ok_or_else(|| r.invalid(format!("{name} is required and must be an ARN")))
        };
        Ok(Spec { web_acl_arn: arn("web_acl_arn")?, resource_arn: arn("resource_arn")? })
    }
}

#[async_trait]
impl ResourceKind for Wafv2WebAclAssociation {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    /// The ACL the resource has now. With only the resource in the id there is no telling
    /// which ACL was meant, so another ACL shows as a change of `web_acl_arn`.
    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let out = found(self.client.get_web_acl_for_resource().resource_arn(id).send().await.op_in(&WAFV2, "GetWebACLForResource"))?;
        Ok(out.and_then(|o| o.web_acl().map(|acl| observed(id, acl.arn()))))
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        // One resource per read call: the reads run side by side.
        let client = self.client.clone();
        crate::read_each::read_each(ids, || Wafv2WebAclAssociation::from_client(client.clone())).await
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let mut last = None;
        // What is recorded must be what the resource carries: a repeat after a lost answer, or
        // an association that has not taken yet, is checked by reading it back.
        for _ in 0..2 {
            self.client.associate_web_acl().web_acl_arn(&spec.web_acl_arn).resource_arn(&spec.resource_arn).send().await.op_in(&WAFV2, "AssociateWebACL")?;
            let now = self.read(&spec.resource_arn).await?;
            if let Some(o) = now.as_ref().filter(|o| o.props.get("web_acl_arn").and_then(|v| v.as_str()) == Some(spec.web_acl_arn.as_str())) {
                return Ok(o.clone());
            }
            last = now.and_then(|o| o.props.get("web_acl_arn").and_then(|v| v.as_str()).map(str::to_string));
        }
        Err(ProviderError::Retryable(format!(
            "AssociateWebACL: {} still shows {} instead of {} after associating it twice; re-run apply",
            spec.resource_arn,
            last.as_deref().unwrap_or("no web ACL"),
            spec.web_acl_arn
        )))
    }

    async fn update(&self, id: &str, _desired: &Desired, _changed: &[String]) -> Result<Observed, ProviderError> {
        // Both props force replacement and there are no tags: nothing changes in place.
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{KIND} {id} disappeared")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        gone(self.client.disassociate_web_acl().resource_arn(id).send().await.map(|_| ()).op_in(&WAFV2, "DisassociateWebACL"))
    }

    /// Not taggable: the association is ours when the resource carries the very ACL asked for.
    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let spec = Spec::from(desired)?;
        Ok(self.read(&spec.resource_arn).await?.filter(|o| o.props.get("web_acl_arn").and_then(|v| v.as_str()) == Some(spec.web_acl_arn.as_str())))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        IAM.of(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rds_common::test_support::InstantClock;
    use aws_sdk_wafv2::config::retry::RetryConfig;
    use aws_sdk_wafv2::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_wafv2::error::ErrorMetadata;
    use aws_sdk_wafv2::operation::associate_web_acl::AssociateWebAclOutput;
    use aws_sdk_wafv2::operation::disassociate_web_acl::{DisassociateWebACLError, DisassociateWebAclOutput};
    use aws_sdk_wafv2::operation::get_web_acl_for_resource::{GetWebACLForResourceError, GetWebAclForResourceOutput};
    use aws_sdk_wafv2::types::{VisibilityConfig, WebAcl};
    use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
    use cairn_engine::provider::Owner;

    const ALB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/50dc6c495c0c9188";
    const ACL: &str = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/shop-dev-edge/abc";
    const OTHER_ACL: &str = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/someone-else/def";

    fn kind_with(retry: RetryConfig, rules: &[&Rule]) -> Wafv2WebAclAssociation {
        let mut mocks = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            mocks = mocks.with_rule(rule);
        }
        let clock = InstantClock::default();
        let config = aws_sdk_wafv2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .retry_config(retry)
            .sleep_impl(clock.clone())
            .time_source(clock)
            .http_client(create_mock_http_client())
            .interceptor(mocks)
            .build();
        Wafv2WebAclAssociation::from_client(Client::from_conf(config))
    }

    fn kind(rules: &[&Rule]) -> Wafv2WebAclAssociation {
        kind_with(RetryConfig::disabled(), rules)
    }

    fn desired() -> Desired {
        let owner = Owner { stack: "shop".into(), env: "dev".into(), address: "edge_alb".into() };
        let props = json!({"web_acl_arn": ACL, "resource_arn": ALB});
        Desired {
            props: props.as_object().unwrap().clone(),
            tags: owner.tags(),
            owner,
            default_name: "shop-dev-edge-alb".into(),
            idempotency_token: "t".into(),
        }
    }

    fn error(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message("mocked").build()
    }

    fn acl(arn: &str) -> WebAcl {
        let vis = VisibilityConfig::builder().cloud_watch_metrics_enabled(false).metric_name("m").sampled_requests_enabled(false).build().unwrap();
        WebAcl::builder().name("acl").id("abc").arn(arn).visibility_config(vis).capacity(1).build().unwrap()
    }

    fn get_rule(arn: Option<&'static str>) -> Rule {
        mock!(Client::get_web_acl_for_resource)
            .match_requests(|r| r.resource_arn() == Some(ALB))
            .then_output(move || GetWebAclForResourceOutput::builder().set_web_acl(arn.map(acl)).build())
    }

    #[test]
    fn schema_is_untaggable() {
        assert!(!SCHEMA.taggable);
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        let mut d = desired();
        for props in [
            json!({}),
            json!({"web_acl_arn": ACL}),
            json!({"web_acl_arn": "edge-acl-name-not-an-arn", "resource_arn": ALB}),
            json!({"web_acl_arn": ACL, "resource_arn": 7}),
            json!({"web_acl_arn": ACL, "resource_arn": ALB, "priority": 1}),
        ] {
            d.props = props.as_object().unwrap().clone();
            assert!(Spec::from(&d).is_err(), "builder accepts {props}");
            assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every pair of ARNs the schema accepts becomes an AssociateWebACL request (ARNs drawn
        /// as such: random text would almost never start with `arn:`).
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(acl in "arn:aws:wafv2:[a-z0-9:/_-]{12,80}", resource in "arn:aws:[a-z0-9:/_.-]{16,200}") {
            let mut d = desired();
            d.props = json!({"web_acl_arn": acl, "resource_arn": resource}).as_object().unwrap().clone();
            proptest::prop_assert!(crate::schema_check::accepts(&SCHEMA, &d.props));
            let spec = Spec::from(&d);
            proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
        }
    }

    #[tokio::test]
    async fn create_associates_and_reads_back_by_resource_arn() {
        let associate = mock!(Client::associate_web_acl)
            .match_requests(|r| r.web_acl_arn() == Some(ACL) && r.resource_arn() == Some(ALB))
            .then_output(|| AssociateWebAclOutput::builder().build());
        let get = get_rule(Some(ACL));
        let observed = kind(&[&associate, &get]).create(&desired()).await.unwrap();
        assert_eq!(associate.num_calls(), 1);
        assert_eq!(observed.id, ALB);
        assert_eq!(observed.props, desired().props, "reads back as written");
        assert!(observed.tags.is_empty());
        for op in ["wafv2:AssociateWebACL", "elasticloadbalancing:SetWebACL", "wafv2:GetWebACLForResource"] {
            assert!(IAM.create.contains(&op), "{op}");
        }
    }

    #[tokio::test]
    async fn create_is_done_only_when_the_resource_carries_the_desired_acl() {
        let associate = mock!(Client::associate_web_acl).then_output(|| AssociateWebAclOutput::builder().build());
        let result = kind(&[&associate, &get_rule(Some(OTHER_ACL))]).create(&desired()).await;
        assert!(matches!(&result, Err(ProviderError::Retryable(m)) if m.contains(OTHER_ACL) && m.contains("instead of")), "{result:?}");
        assert_eq!(associate.num_calls(), 2);
    }

    #[tokio::test]
    async fn a_web_acl_not_yet_usable_is_retried_by_the_sdk() {
        let associate = mock!(Client::associate_web_acl)
            .sequence()
            .error(|| AssociateWebACLError::generic(error("WAFUnavailableEntityException")))
            .times(2)
            .output(|| AssociateWebAclOutput::builder().build())
            .build();
        let get = get_rule(Some(ACL));
        kind_with(RetryConfig::standard().with_max_attempts(4), &[&associate, &get]).create(&desired()).await.unwrap();
        assert_eq!(associate.num_calls(), 3);
    }

    #[tokio::test]
    async fn read_without_an_acl_is_none_and_another_acl_shows_as_a_difference() {
        assert_eq!(kind(&[&get_rule(None)]).read(ALB).await.unwrap(), None);
        let other = kind(&[&get_rule(Some(OTHER_ACL))]).read(ALB).await.unwrap().unwrap();
        assert_eq!(other.props["web_acl_arn"], json!(OTHER_ACL));
        let gone_resource = mock!(Client::get_web_acl_for_resource).then_error(|| GetWebACLForResourceError::generic(error("WAFNonexistentItemException")));
        assert_eq!(kind(&[&gone_resource]).read(ALB).await.unwrap(), None);
    }

    #[tokio::test]
    async fn find_owned_only_adopts_the_acl_asked_for() {
        assert!(kind(&[&get_rule(Some(ACL))]).find_owned(&desired()).await.unwrap().is_some());
        assert_eq!(kind(&[&get_rule(Some(OTHER_ACL))]).find_owned(&desired()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn delete_disassociates_and_a_missing_resource_is_ok() {
        let disassociate =
            mock!(Client::disassociate_web_acl).match_requests(|r| r.resource_arn() == Some(ALB)).then_output(|| DisassociateWebAclOutput::builder().build());
        kind(&[&disassociate]).delete(ALB).await.unwrap();
        assert_eq!(disassociate.num_calls(), 1);
        let missing = mock!(Client::disassociate_web_acl).then_error(|| DisassociateWebACLError::generic(error("WAFNonexistentItemException")));
        kind(&[&missing]).delete(ALB).await.unwrap();
        assert!(IAM.delete.contains(&"wafv2:DisassociateWebACL"));
    }
}
