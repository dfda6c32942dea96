//! `aws.wafv2.ip_set`: a WAFv2 IP set (a list of CIDR ranges) that web ACL rules can match on.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_wafv2::types::{IpAddressVersion, IpSet};
use aws_sdk_wafv2::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule};
use serde_json::{json, Value};

use crate::adopt::{adopt, adopt_or};
use crate::error::{found, gone};
use crate::kit::errors::message_of;
use crate::kit::errors::ServiceResultExt;
use crate::kit::iam_actions::IamActions;
use crate::wafv2_common::{
    check_scope_region, description_param, list_tags, retry_on_lock, scope_of, sync_tags, waf_tags, PropReader, WafId, DESCRIPTION, NAMING, SCOPE, WAFV2,
};

const KIND: &str = "aws.wafv2.ip_set";

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: KIND,
    doc: "A WAFv2 IP set: CIDR ranges for web ACL rules to allow or block. The id is `SCOPE/NAME/ID` (WAF needs all three); \
          reference the set from rules by its `arn`.",
    props: &[
        PropSpec::new("name", PropType::String, "IP set name (letters, digits, _ and -). Defaults to a name derived from stack, env and address.")
            .force_new()
            .naming(NAMING),
        PropSpec::new("scope", SCOPE, "REGIONAL (ALB, API Gateway, ...) or CLOUDFRONT (us-east-1 only).").force_new().default("\"REGIONAL\""),
        PropSpec::new("ip_address_version", PropType::Enum(&["IPV4", "IPV6"]), "IPV4 or IPV6.").force_new().default("\"IPV4\""),
        PropSpec::new("addresses", PropType::List(&PropType::Text(TextRule::len(1, 50))), "CIDR ranges, e.g. 203.0.113.0/24 or 198.51.100.7/32.")
            .required()
            .rule(addresses_rule),
        PropSpec::new("description", DESCRIPTION, "What the set holds.").default("\"\""),
    ],
    attrs: &["arn", "ip_set_id"],
    taggable: true,
    rules: &[],
};

/// Each address is a CIDR range (`192.0.2.44/32`, `2001:db8::/32`); WAF takes every prefix but /0.
fn addresses_rule(addresses: &Value) -> Vec<String> {
    let mut out = vec![];
    for a in addresses.as_array().into_iter().flatten().filter_map(Value::as_str) {
        let ok = a.split_once('/').is_some_and(|(ip, len)| match (ip.parse::<std::net::IpAddr>(), len.parse::<u8>()) {
            (Ok(std::net::IpAddr::V4(_)), Ok(n)) => (1..=32).contains(&n),
            (Ok(std::net::IpAddr::V6(_)), Ok(n)) => (1..=128).contains(&n),
            _ => false,
        });
        if ok {
            continue;
        }
        out.push(match a.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(_)) => format!("\"{a}\" is an address, not a CIDR range: write \"{a}/32\""),
            Ok(std::net::IpAddr::V6(_)) => format!("\"{a}\" is an address, not a CIDR range: write \"{a}/128\""),
            Err(_) => format!("\"{a}\" is not a CIDR range like 203.0.113.0/24 (WAF takes every prefix length but /0)"),
        });
    }
    out
}

static IAM: IamActions = IamActions {
    read: &["wafv2:GetIPSet", "wafv2:ListTagsForResource"],
    create: &[
        // find_owned, which the engine runs before repeating a create interrupted by a crash.
        "wafv2:ListIPSets",
        "wafv2:CreateIPSet",
        "wafv2:TagResource",
        "wafv2:GetIPSet",
        "wafv2:ListTagsForResource",
    ],
    update: &["wafv2:GetIPSet", "wafv2:UpdateIPSet", "wafv2:TagResource", "wafv2:UntagResource", "wafv2:ListTagsForResource"],
    delete: &["wafv2:GetIPSet", "wafv2:DeleteIPSet"],
};

crate::kit::client::client_kind!(Wafv2IpSet, Client, wafv2);

impl Wafv2IpSet {
    /// The set and its current lock token; `None` when it is gone.
    async fn get(&self, id: &WafId) -> Result<Option<(IpSet, String)>, ProviderError> {
        let out = found(self.client.get_ip_set().name(&id.name).scope(id.scope.clone()).id(&id.id).send().await.op_in(&WAFV2, "GetIPSet"))?;
        Ok(out.and_then(|o| Some((o.ip_set()?.clone(), o.lock_token().unwrap_or_default().to_string()))))
    }

    /// Every set of the desired name and scope, whoever made them (an emulator may hold
    /// several), except the one with WAF id `besides`.
    async fn named(&self, spec: &Spec, besides: Option<&str>) -> Result<Vec<Observed>, ProviderError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self.client.list_ip_sets().scope(spec.scope.clone()).set_next_marker(marker.clone()).send().await.op_in(&WAFV2, "ListIPSets")?;
            for summary in page.ip_sets().iter().filter(|s| s.name() == Some(spec.name.as_str()) && s.id() != besides) {
                let Some(waf_id) = summary.id() else { continue };
                let id = WafId { scope: spec.scope.clone(), name: spec.name.clone(), id: waf_id.to_string() };
                // Deleted between the list and the read: not a candidate.
                if let Some(o) = found(self.observe(&id).await)?.flatten() {
                    out.push(o);
                }
            }
            match page.next_marker().filter(|m| !m.is_empty() && Some(*m) != marker.as_deref()) {
                Some(next) if !page.ip_sets().is_empty() => marker = Some(next.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// Ours if one of `candidates` is, else any (for the refusal to name it).
    fn pick(&self, desired: &Desired, candidates: Vec<Observed>) -> Option<Observed> {
        let ours = candidates.iter().position(|o| desired.owner.matches(&o.tags));
        ours.map(|i| candidates[i].clone()).or_else(|| candidates.into_iter().next())
    }

    async fn observe(&self, id: &WafId) -> Result<Option<Observed>, ProviderError> {
        let Some((set, _)) = self.get(id).await? else { return Ok(None) };
        let tags = list_tags(&self.client, set.arn()).await?;
        let facts =
            SetFacts { version: set.ip_address_version(), addresses: set.addresses(), description: set.description().unwrap_or_default(), arn: set.arn() };
        Ok(Some(facts.observed(id, tags)))
    }
}

/// What a set's props and attrs are made of, from GetIPSet or from what CreateIPSet was sent and answered.
struct SetFacts<'a> {
    version: &'a IpAddressVersion,
    addresses: &'a [String],
    description: &'a str,
    arn: &'a str,
}

impl SetFacts<'_> {
    fn observed(self, id: &WafId, tags: Tags) -> Observed {
        let mut addresses: Vec<&str> = self.addresses.iter().map(String::as_str).collect();
        addresses.sort();
        let mut props = Props::new();
        props.insert("name".into(), json!(id.name));
        props.insert("scope".into(), json!(id.scope.as_str()));
        props.insert("ip_address_version".into(), json!(self.version.as_str()));
        props.insert("addresses".into(), json!(addresses));
        props.insert("description".into(), json!(self.description));
        let mut attrs = Props::new();
        attrs.insert("arn".into(), json!(self.arn));
        attrs.insert("ip_set_id".into(), json!(id.id));
        Observed { id: id.to_string(), props, attrs, tags }
    }
}

/// The stack's props, checked before any call.
struct Spec {
    name: String,
    scope: aws_sdk_wafv2::types::Scope,
    version: IpAddressVersion,
    addresses: Vec<String>,
    description: String,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        // The enums and the CIDR form are the schema's; values known only at apply were not
        // checked at validate, so the same checks run here.
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let r = PropReader::new(KIND, desired);
        let version = match r.str_or("ip_address_version", "IPV4")?.as_str() {
            "IPV4" => IpAddressVersion::Ipv4,
            "IPV6" => IpAddressVersion::Ipv6,
            other => return Err(r.invalid(format!("ip_address_version must be \"IPV4\" or \"IPV6\", not {other:?}"))),
        };
        let addresses = r.opt_list("addresses")?.ok_or_else(|| r.invalid("addresses is required (a list of CIDR ranges; may be empty)".into()))?;
        Ok(Spec {
            name: r.opt_str("name")?.unwrap_or_else(|| desired.default_name.clone()),
            scope: scope_of(KIND, &r.str_or("scope", "REGIONAL")?)?,
            version,
            addresses,
            description: r.str_or("description", "")?,
        })
    }
}

#[async_trait]
impl ResourceKind for Wafv2IpSet {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let id = WafId::parse(KIND, id)?;
        Ok(found(self.observe(&id).await)?.flatten())
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        // WAF has no call that reads several sets with their addresses: one at a time, side by side.
        let client = self.client.clone();
        crate::read_each::read_each(ids, || Wafv2IpSet::from_client(client.clone())).await
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        check_scope_region(KIND, &spec.scope, &self.client)?;
        // Names are unique per scope; an emulator may not enforce that, so look first rather
        // than make a second set when an earlier attempt's answer was lost.
        let what = format!("IP set {} ({})", spec.name, spec.scope.as_str());
        if let Some(existing) = self.pick(desired, self.named(&spec, None).await?) {
            return adopt(self, desired, &what, existing).await;
        }
        let out = self
            .client
            .create_ip_set()
            .name(&spec.name)
            .scope(spec.scope.clone())
            .ip_address_version(spec.version.clone())
            .set_addresses(Some(spec.addresses.clone()))
            .set_description(description_param(&spec.description))
            .set_tags(Some(waf_tags(&desired.tags)?))
            .send()
            .await
            .op_in(&WAFV2, "CreateIPSet");
        let out = match out {
            Err(e) if message_of(e.clone()).contains("WAFDuplicateItemException") => {
                let existing = self.pick(desired, self.named(&spec, None).await?);
                return adopt_or(self, desired, &what, existing, e).await;
            }
            other => other?,
        };
        let summary = out.summary().ok_or_else(|| ProviderError::Fatal("CreateIPSet: no summary in the response".into()))?;
        let (Some(waf_id), Some(arn)) = (summary.id(), summary.arn()) else {
            return Err(ProviderError::Fatal("CreateIPSet: no id or ARN in the response".into()));
        };
        let id = WafId { scope: spec.scope.clone(), name: spec.name.clone(), id: waf_id.to_string() };
        // The set holds what was sent and the answer names it: no need to read it back.
        let facts = SetFacts { version: &spec.version, addresses: &spec.addresses, description: &spec.description, arn };
        let created = facts.observed(&id, desired.tags.clone());
        // An emulator that does not enforce unique names makes a second one when the SDK
        // repeats a create whose answer was lost; ours of the same name besides this one are
        // such strays (best effort: the create itself has succeeded).
        if let Ok(named) = self.named(&spec, Some(waf_id)).await {
            for stray in named.iter().filter(|o| desired.owner.matches(&o.tags)) {
                let _ = self.delete(&stray.id).await;
            }
        }
        Ok(created)
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let waf_id = WafId::parse(KIND, id)?;
        let has = |name: &str| changed.iter().any(|c| c == name);
        if has("addresses") || has("description") {
            // UpdateIPSet replaces the whole set, so both are always sent.
            retry_on_lock(&format!("{KIND} {id}"), || async {
                let (_, token) = self.get(&waf_id).await?.ok_or_else(|| ProviderError::NotFound(format!("{KIND} {id} disappeared during update")))?;
                self.client
                    .update_ip_set()
                    .name(&waf_id.name)
                    .scope(waf_id.scope.clone())
                    .id(&waf_id.id)
                    .set_addresses(Some(spec.addresses.clone()))
                    .set_description(description_param(&spec.description))
                    .lock_token(token)
                    .send()
                    .await
                    .op_in(&WAFV2, "UpdateIPSet")
            })
            .await?;
        }
        if has("tags") {
            let (set, _) = self.get(&waf_id).await?.ok_or_else(|| ProviderError::NotFound(format!("{KIND} {id} disappeared during update")))?;
            sync_tags(&self.client, set.arn(), &desired.tags).await?;
        }
        self.observe(&waf_id).await?.ok_or_else(|| ProviderError::NotFound(format!("{KIND} {id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let waf_id = WafId::parse(KIND, id)?;
        retry_on_lock(&format!("{KIND} {id}"), || async {
            let Some((_, token)) = self.get(&waf_id).await? else { return Ok(()) };
            gone(
                self.client
                    .delete_ip_set()
                    .name(&waf_id.name)
                    .scope(waf_id.scope.clone())
                    .id(&waf_id.id)
                    .lock_token(token)
                    .send()
                    .await
                    .map(|_| ())
                    .op_in(&WAFV2, "DeleteIPSet"),
            )
        })
        .await
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let spec = Spec::from(desired)?;
        Ok(self.named(&spec, None).await?.into_iter().find(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        IAM.of(op)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use aws_sdk_wafv2::config::retry::RetryConfig;
    use aws_sdk_wafv2::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_wafv2::error::ErrorMetadata;
    use aws_sdk_wafv2::operation::create_ip_set::{CreateIPSetError, CreateIpSetInput, CreateIpSetOutput};
    use aws_sdk_wafv2::operation::delete_ip_set::{DeleteIPSetError, DeleteIpSetOutput};
    use aws_sdk_wafv2::operation::get_ip_set::{GetIPSetError, GetIpSetOutput};
    use aws_sdk_wafv2::operation::list_ip_sets::ListIpSetsOutput;
    use aws_sdk_wafv2::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_wafv2::operation::update_ip_set::{UpdateIPSetError, UpdateIpSetInput, UpdateIpSetOutput};
    use aws_sdk_wafv2::types::{IpSetSummary, Scope, TagInfoForResource};
    use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
    use cairn_engine::provider::{Owner, Tags};
    use serde_json::Value;

    const NAME: &str = "shop-dev-blocklist";
    const WAF_ID: &str = "a1b2c3d4-0000-1111-2222-333344445555";
    const ID: &str = "REGIONAL/shop-dev-blocklist/a1b2c3d4-0000-1111-2222-333344445555";
    const ARN: &str = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/shop-dev-blocklist/a1b2c3d4-0000-1111-2222-333344445555";

    fn kind_in(region: &'static str, rules: &[&Rule]) -> Wafv2IpSet {
        let mut mocks = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            mocks = mocks.with_rule(rule);
        }
        let config = aws_sdk_wafv2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .http_client(create_mock_http_client())
            .interceptor(mocks)
            .build();
        Wafv2IpSet::from_client(Client::from_conf(config))
    }

    fn kind(rules: &[&Rule]) -> Wafv2IpSet {
        kind_in("us-east-1", rules)
    }

    fn owner() -> Owner {
        Owner { stack: "shop".into(), env: "dev".into(), address: "blocklist".into() }
    }

    fn desired(props: Value) -> Desired {
        Desired { props: props.as_object().unwrap().clone(), tags: owner().tags(), owner: owner(), default_name: NAME.into(), idempotency_token: "t".into() }
    }

    fn error(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message("mocked").build()
    }

    fn ip_set(addresses: &[&str], description: Option<&str>) -> IpSet {
        IpSet::builder()
            .name(NAME)
            .id(WAF_ID)
            .arn(ARN)
            .ip_address_version(IpAddressVersion::Ipv4)
            .set_addresses(Some(addresses.iter().map(|a| a.to_string()).collect()))
            .set_description(description.map(str::to_string))
            .build()
            .unwrap()
    }

    fn get_rule(addresses: &'static [&'static str]) -> Rule {
        mock!(Client::get_ip_set)
            .match_requests(|r| r.name() == Some(NAME) && r.id() == Some(WAF_ID) && r.scope() == Some(&Scope::Regional))
            .then_output(move || GetIpSetOutput::builder().ip_set(ip_set(addresses, None)).lock_token("token-1").build())
    }

    fn tags_rule(tags: Tags) -> Rule {
        mock!(Client::list_tags_for_resource).match_requests(|r| r.resource_arn() == Some(ARN)).then_output(move || {
            let list = waf_tags(&tags).unwrap();
            ListTagsForResourceOutput::builder().tag_info_for_resource(TagInfoForResource::builder().resource_arn(ARN).set_tag_list(Some(list)).build()).build()
        })
    }

    fn lock_error() -> UpdateIPSetError {
        UpdateIPSetError::generic(error("WAFOptimisticLockException"))
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        for props in [
            json!({}),
            json!({"addresses": ["10.0.0.1"]}),
            json!({"addresses": ["10.0.0.0/0"]}),
            json!({"addresses": ["10.0.0.0/33"]}),
            json!({"addresses": "10.0.0.0/8"}),
            json!({"addresses": [], "scope": "GLOBAL"}),
            json!({"addresses": [], "ip_address_version": "IPV5"}),
            json!({"addresses": [], "description": "no <html>"}),
            json!({"addresses": [], "description": "d".repeat(257)}),
        ] {
            let d = desired(props.clone());
            assert!(Spec::from(&d).is_err(), "builder accepts {props}");
            assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every props value the schema accepts becomes a CreateIPSet request. The addresses are
        /// drawn as CIDR ranges: random text would almost never be one.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(
            mut props in crate::schema_gen::props(&SCHEMA),
            v4 in proptest::collection::vec((proptest::prelude::any::<[u8; 4]>(), 1u8..=32), 0..3),
            v6 in proptest::collection::vec((proptest::prelude::any::<[u16; 8]>(), 1u8..=128), 0..3),
        ) {
            let mut cidrs: Vec<String> = v4.iter().map(|(a, n)| format!("{}/{n}", std::net::Ipv4Addr::from(*a))).collect();
            cidrs.extend(v6.iter().map(|(a, n)| format!("{}/{n}", std::net::Ipv6Addr::from(*a))));
            props.insert("addresses".into(), json!(cidrs));
            proptest::prop_assert!(crate::schema_check::accepts(&SCHEMA, &props));
            let spec = Spec::from(&desired(Value::Object(props)));
            proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
            proptest::prop_assert!(NAMING.rule.violation(&spec.unwrap().name).is_none());
        }
    }

    #[tokio::test]
    async fn create_sends_tags_and_omits_an_empty_description_and_reads_nothing_back() {
        let seen: Arc<Mutex<Option<CreateIpSetInput>>> = Arc::default();
        let sink = seen.clone();
        let create = mock!(Client::create_ip_set).then_compute_output(move |input| {
            *sink.lock().unwrap() = Some(input.clone());
            CreateIpSetOutput::builder().summary(IpSetSummary::builder().name(NAME).id(WAF_ID).arn(ARN).lock_token("t0").build()).build()
        });
        let get = get_rule(&["203.0.113.0/24", "198.51.100.7/32"]);
        let d = desired(json!({"addresses": ["203.0.113.0/24", "198.51.100.7/32"]}));
        let tags = tags_rule(d.tags.clone());
        let none = mock!(Client::list_ip_sets).then_output(|| ListIpSetsOutput::builder().build());

        let observed = kind(&[&none, &create, &get, &tags]).create(&d).await.unwrap();

        let input = seen.lock().unwrap().take().unwrap();
        assert_eq!((input.name(), input.scope(), input.ip_address_version()), (Some(NAME), Some(&Scope::Regional), Some(&IpAddressVersion::Ipv4)));
        assert_eq!(input.description(), None, "WAF refuses an empty description");
        let sent: Tags = input.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        assert_eq!(sent, d.tags, "tags go in the creating call");
        assert_eq!(observed.id, ID, "SCOPE/NAME/ID");
        assert_eq!(observed.props["addresses"], json!(["198.51.100.7/32", "203.0.113.0/24"]));
        assert_eq!(observed.props["description"], json!(""));
        assert_eq!((observed.props["scope"].clone(), observed.props["ip_address_version"].clone()), (json!("REGIONAL"), json!("IPV4")));
        assert_eq!(observed.attrs["arn"], json!(ARN));
        assert_eq!(observed.attrs["ip_set_id"], json!(WAF_ID));
        assert!(!observed.attrs.contains_key("lock_token"), "lock tokens change on every write");
        // Create reads nothing back: what it answers is what a later read returns.
        assert_eq!((get.num_calls(), tags.num_calls()), (0, 0));
        assert_eq!(none.num_calls(), 2, "a look for a set of the name before, and for strays after");
        assert_eq!(Some(observed), kind(&[&get, &tags]).read(ID).await.unwrap());
        for op in ["CreateIPSet", "GetIPSet", "ListTagsForResource", "TagResource"] {
            assert!(IAM.create.contains(&format!("wafv2:{op}").as_str()), "{op}");
        }
    }

    #[tokio::test]
    async fn bad_settings_are_refused_before_any_call() {
        let k = kind(&[]);
        for (props, needle) in [
            (json!({"addresses": ["10.0.0.1"]}), "10.0.0.1/32"),
            (json!({"addresses": [], "scope": "GLOBAL"}), "scope"),
            (json!({"addresses": [], "ip_address_version": "IPV5"}), "ip_address_version"),
            (json!({}), "`addresses` is required"),
        ] {
            let result = k.create(&desired(props)).await;
            assert!(matches!(&result, Err(ProviderError::Invalid(m)) if m.contains(needle)), "{needle}: {result:?}");
        }
        let result = kind_in("eu-west-1", &[]).create(&desired(json!({"addresses": [], "scope": "CLOUDFRONT"}))).await;
        assert!(matches!(&result, Err(ProviderError::Invalid(m)) if m.contains("us-east-1")), "{result:?}");
    }

    #[tokio::test]
    async fn update_rereads_the_lock_token_and_retries_when_someone_else_wrote_first() {
        let get = get_rule(&["10.0.0.0/8"]);
        let tags = tags_rule(owner().tags());
        let seen: Arc<Mutex<Vec<UpdateIpSetInput>>> = Arc::default();
        let sink = seen.clone();
        let update = mock!(Client::update_ip_set)
            .sequence()
            .error(lock_error)
            .times(2)
            .output(move || UpdateIpSetOutput::builder().next_lock_token("token-2").build())
            .build();
        let record = mock!(Client::update_ip_set).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            UpdateIpSetOutput::builder().build()
        });
        let d = desired(json!({"addresses": ["10.0.0.0/8", "192.0.2.0/24"], "description": "blocked"}));

        kind(&[&update, &record, &get, &tags]).update(ID, &d, &["addresses".into()]).await.unwrap();

        assert_eq!(update.num_calls(), 3, "two lock conflicts, then success");
        assert!(get.num_calls() >= 4, "a fresh lock token before each attempt, then the final read");
        assert_eq!(record.num_calls(), 0);
        for op in ["GetIPSet", "UpdateIPSet"] {
            assert!(IAM.update.contains(&format!("wafv2:{op}").as_str()), "{op}");
        }
    }

    #[tokio::test]
    async fn update_sends_the_whole_set_with_the_token_it_read() {
        let get = get_rule(&["10.0.0.0/8"]);
        let tags = tags_rule(owner().tags());
        let seen: Arc<Mutex<Vec<UpdateIpSetInput>>> = Arc::default();
        let sink = seen.clone();
        let update = mock!(Client::update_ip_set).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            UpdateIpSetOutput::builder().next_lock_token("token-2").build()
        });
        let d = desired(json!({"addresses": ["10.0.0.0/8", "192.0.2.0/24"], "description": "blocked"}));
        kind(&[&update, &get, &tags]).update(ID, &d, &["description".into()]).await.unwrap();
        let input = seen.lock().unwrap().pop().unwrap();
        assert_eq!((input.name(), input.id(), input.lock_token()), (Some(NAME), Some(WAF_ID), Some("token-1")));
        assert_eq!(input.addresses(), ["10.0.0.0/8", "192.0.2.0/24"], "addresses are always sent: WAF replaces the whole set");
        assert_eq!(input.description(), Some("blocked"));
    }

    #[tokio::test]
    async fn update_gives_up_after_repeated_lock_conflicts() {
        let get = get_rule(&["10.0.0.0/8"]);
        let update = mock!(Client::update_ip_set).then_error(lock_error);
        let result = kind(&[&update, &get]).update(ID, &desired(json!({"addresses": []})), &["addresses".into()]).await;
        assert!(matches!(&result, Err(ProviderError::Conflict(m)) if m.contains("5 times in a row")), "{result:?}");
        assert_eq!(update.num_calls(), crate::wafv2_common::LOCK_ATTEMPTS);
    }

    #[tokio::test]
    async fn read_of_missing_set_is_none_and_delete_of_missing_is_ok() {
        let get = mock!(Client::get_ip_set).then_error(|| GetIPSetError::generic(error("WAFNonexistentItemException")));
        assert_eq!(kind(&[&get]).read(ID).await.unwrap(), None);
        kind(&[&get]).delete(ID).await.unwrap();
    }

    #[tokio::test]
    async fn delete_uses_the_lock_token_and_an_ip_set_in_use_is_a_conflict() {
        let get = get_rule(&["10.0.0.0/8"]);
        let delete = mock!(Client::delete_ip_set)
            .match_requests(|r| r.lock_token() == Some("token-1") && r.id() == Some(WAF_ID) && r.name() == Some(NAME))
            .then_output(|| DeleteIpSetOutput::builder().build());
        kind(&[&get, &delete]).delete(ID).await.unwrap();
        assert_eq!(delete.num_calls(), 1);
        let in_use = mock!(Client::delete_ip_set).then_error(|| DeleteIPSetError::generic(error("WAFAssociatedItemException")));
        assert!(matches!(kind(&[&get, &in_use]).delete(ID).await, Err(ProviderError::Conflict(_))));
    }

    #[tokio::test]
    async fn find_owned_looks_the_name_up_and_checks_the_owner_tags() {
        let list = mock!(Client::list_ip_sets)
            .match_requests(|r| r.scope() == Some(&Scope::Regional))
            .then_output(|| ListIpSetsOutput::builder().ip_sets(IpSetSummary::builder().name(NAME).id(WAF_ID).arn(ARN).build()).build());
        let get = get_rule(&["10.0.0.0/8"]);
        let foreign = tags_rule(Tags::from([("cairn:stack".to_string(), "other".to_string())]));
        assert_eq!(kind(&[&list, &get, &foreign]).find_owned(&desired(json!({"addresses": []}))).await.unwrap(), None);
        let ours = tags_rule(owner().tags());
        let found = kind(&[&list, &get, &ours]).find_owned(&desired(json!({"addresses": []}))).await.unwrap();
        assert_eq!(found.map(|o| o.id), Some(ID.to_string()));
    }

    fn listed() -> ListIpSetsOutput {
        ListIpSetsOutput::builder().ip_sets(IpSetSummary::builder().name(NAME).id(WAF_ID).arn(ARN).build()).build()
    }

    #[tokio::test]
    async fn a_duplicate_answer_for_our_own_set_adopts_it() {
        let list = mock!(Client::list_ip_sets).sequence().output(|| ListIpSetsOutput::builder().build()).output(listed).repeatedly().build();
        let create = mock!(Client::create_ip_set).then_error(|| CreateIPSetError::generic(error("WAFDuplicateItemException")));
        let get = get_rule(&["10.0.0.0/8"]);
        let tags = tags_rule(owner().tags());
        let adopted = kind(&[&list, &create, &get, &tags]).create(&desired(json!({"addresses": ["10.0.0.0/8"]}))).await.unwrap();
        assert_eq!(adopted.id, ID);
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_existing_set_of_ours_is_adopted_without_a_second_create() {
        let list = mock!(Client::list_ip_sets).then_output(listed);
        let create = mock!(Client::create_ip_set).then_error(|| CreateIPSetError::generic(error("WAFDuplicateItemException")));
        let get = get_rule(&["10.0.0.0/8"]);
        let tags = tags_rule(owner().tags());
        kind(&[&list, &create, &get, &tags]).create(&desired(json!({"addresses": ["10.0.0.0/8"]}))).await.unwrap();
        assert_eq!(create.num_calls(), 0, "three sets where the stack declares one was the bug");
    }

    #[tokio::test]
    async fn a_same_named_set_of_someone_else_is_refused_by_name() {
        let list = mock!(Client::list_ip_sets).then_output(listed);
        let get = get_rule(&["10.0.0.0/8"]);
        let tags = tags_rule(crate::adopt::testing::foreign_tags());
        let err = kind(&[&list, &get, &tags]).create(&desired(json!({"addresses": ["10.0.0.0/8"]}))).await.unwrap_err();
        assert!(matches!(&err, ProviderError::Conflict(m) if m.contains(NAME) && m.contains(WAF_ID) && m.contains("cairn:stack=other")), "{err:?}");
    }

    #[tokio::test]
    async fn a_second_set_made_by_a_repeated_create_is_deleted() {
        const STRAY: &str = "ffffffff-0000-1111-2222-333344445555";
        const STRAY_ARN: &str = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/shop-dev-blocklist/ffffffff-0000-1111-2222-333344445555";
        let both = || {
            ListIpSetsOutput::builder()
                .ip_sets(IpSetSummary::builder().name(NAME).id(WAF_ID).arn(ARN).build())
                .ip_sets(IpSetSummary::builder().name(NAME).id(STRAY).arn(STRAY_ARN).build())
                .build()
        };
        let list = mock!(Client::list_ip_sets).sequence().output(|| ListIpSetsOutput::builder().build()).output(both).repeatedly().build();
        let create = mock!(Client::create_ip_set)
            .then_output(|| CreateIpSetOutput::builder().summary(IpSetSummary::builder().name(NAME).id(WAF_ID).arn(ARN).build()).build());
        let get = get_rule(&["10.0.0.0/8"]);
        let get_stray = mock!(Client::get_ip_set).match_requests(|r| r.id() == Some(STRAY)).then_output(|| {
            let mut set = ip_set(&["10.0.0.0/8"], None);
            set.id = STRAY.into();
            set.arn = STRAY_ARN.into();
            GetIpSetOutput::builder().ip_set(set).lock_token("token-9").build()
        });
        let tags = tags_rule(owner().tags());
        let stray_tags = mock!(Client::list_tags_for_resource).match_requests(|r| r.resource_arn() == Some(STRAY_ARN)).then_output(|| {
            ListTagsForResourceOutput::builder()
                .tag_info_for_resource(TagInfoForResource::builder().resource_arn(STRAY_ARN).set_tag_list(Some(waf_tags(&owner().tags()).unwrap())).build())
                .build()
        });
        let delete = mock!(Client::delete_ip_set).match_requests(|r| r.id() == Some(STRAY)).then_output(|| DeleteIpSetOutput::builder().build());
        let created = kind(&[&list, &create, &get, &get_stray, &tags, &stray_tags, &delete]).create(&desired(json!({"addresses": ["10.0.0.0/8"]}))).await;
        assert_eq!(created.map(|o| o.id), Ok(ID.to_string()));
        assert_eq!(delete.num_calls(), 1);
    }
}
