//! Tests of `aws.route53.zone` against aws-smithy-mocks: requests sent, the CallerReference's reuse rules, shapes read, errors classified.

use std::sync::{Arc, Mutex};

use aws_sdk_route53::operation::change_resource_record_sets::{ChangeResourceRecordSetsInput, ChangeResourceRecordSetsOutput};
use aws_sdk_route53::operation::change_tags_for_resource::{ChangeTagsForResourceInput, ChangeTagsForResourceOutput};
use aws_sdk_route53::operation::create_hosted_zone::{CreateHostedZoneError, CreateHostedZoneInput, CreateHostedZoneOutput};
use aws_sdk_route53::operation::delete_hosted_zone::{DeleteHostedZoneError, DeleteHostedZoneOutput};
use aws_sdk_route53::operation::get_change::GetChangeOutput;
use aws_sdk_route53::operation::get_hosted_zone::{GetHostedZoneError, GetHostedZoneOutput};
use aws_sdk_route53::operation::list_hosted_zones_by_name::ListHostedZonesByNameOutput;
use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
use aws_sdk_route53::operation::list_tags_for_resource::{ListTagsForResourceError, ListTagsForResourceOutput};
use aws_sdk_route53::operation::update_hosted_zone_comment::{UpdateHostedZoneCommentInput, UpdateHostedZoneCommentOutput};
use aws_sdk_route53::types::{ChangeInfo, ChangeStatus, DelegationSet, ResourceRecord, ResourceTagSet, Tag};
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_types::error::ErrorMetadata;

use super::*;
use crate::adopt::testing::{desired, foreign_tags, owner};

const ID: &str = "Z0123456789ABCDEFGHIJ";
const NAME: &str = "shop.example.com";

fn kind(rules: &[Rule]) -> Route53Zone {
    Route53Zone::from_client(crate::mocked_client!(aws_sdk_route53, rules))
}

fn meta(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message("from the mock").build()
}

fn zone(id: &str, reference: &str) -> HostedZone {
    HostedZone::builder()
        .id(format!("/hostedzone/{id}"))
        .name(format!("{NAME}."))
        .caller_reference(reference)
        .config(HostedZoneConfig::builder().comment("Managed by cairn").private_zone(false).build())
        .build()
        .unwrap()
}

fn change(status: ChangeStatus) -> ChangeInfo {
    ChangeInfo::builder().id("/change/C1").status(status).submitted_at(aws_smithy_types::DateTime::from_secs(0)).build().unwrap()
}

fn listed(zones: Vec<HostedZone>) -> Rule {
    mock!(Client::list_hosted_zones_by_name)
        .then_output(move || ListHostedZonesByNameOutput::builder().set_hosted_zones(Some(zones.clone())).is_truncated(false).max_items(100).build().unwrap())
}

fn got(z: HostedZone) -> Rule {
    let servers = DelegationSet::builder().name_servers("ns-1.awsdns-01.org").name_servers("ns-2.awsdns-02.com").build().unwrap();
    mock!(Client::get_hosted_zone).then_output(move || GetHostedZoneOutput::builder().hosted_zone(z.clone()).delegation_set(servers.clone()).build())
}

fn tags_rule(tags: Tags) -> Rule {
    mock!(Client::list_tags_for_resource).then_output(move || {
        let set = ResourceTagSet::builder().set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect())).build();
        ListTagsForResourceOutput::builder().resource_tag_set(set).build()
    })
}

fn tag_calls() -> (Rule, Arc<Mutex<Vec<ChangeTagsForResourceInput>>>) {
    let seen: Arc<Mutex<Vec<ChangeTagsForResourceInput>>> = Arc::default();
    let sink = seen.clone();
    let rule = mock!(Client::change_tags_for_resource).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        ChangeTagsForResourceOutput::builder().build()
    });
    (rule, seen)
}

fn want(props: Value) -> Desired {
    let mut props = props;
    props.as_object_mut().unwrap().entry("name").or_insert(json!(NAME));
    desired(props)
}

/// The schema refuses what the request builder refuses (the other half of the agreement test).
#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    for props in [
        json!({"name": "Shop.example.com"}),
        json!({"name": "shop.example.com."}),
        json!({"name": "shop..com"}),
        json!({"name": format!("{}.com", "a".repeat(64))}),
        json!({"name": "*.example.com"}),
        json!({"name": NAME, "comment": "x".repeat(257)}),
        json!({"name": NAME, "vpc": [{"vpc_id": "vpc-2", "vpc_region": "us-east-1"}, {"vpc_id": "vpc-1", "vpc_region": "us-east-1"}]}),
        json!({"name": NAME, "vpc": [{"vpc_id": "vpc-1"}]}),
        json!({"name": NAME, "vpc": [{"vpc_id": "vpc-1", "vpc_region": "us-east-1"}], "delegation_set_id": "N1"}),
        json!({"name": NAME, "delegation_set_id": "/delegationset/N1"}),
        json!({"comment": "no name"}),
        json!({"name": NAME, "skip": true}),
    ] {
        let d = desired(props.clone());
        assert!(Spec::from(&d).is_err(), "builder accepts {props}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
    }
}

fn domain() -> impl proptest::strategy::Strategy<Value = String> {
    proptest::collection::vec("[a-z0-9][a-z0-9_-]{0,20}", 1..5).prop_map(|labels| labels.join("."))
}

use proptest::strategy::Strategy;

fn zone_props() -> impl Strategy<Value = Props> {
    let vpcs = proptest::collection::btree_set("vpc-[0-9a-f]{8}", 0..3);
    (domain(), proptest::option::of("[ -~]{0,256}"), proptest::option::of(proptest::bool::ANY), vpcs, proptest::option::of("[A-Z0-9]{1,32}")).prop_map(
        |(name, comment, force, vpcs, set)| {
            let mut p = Props::new();
            p.insert("name".into(), json!(name));
            if let Some(c) = comment {
                p.insert("comment".into(), json!(c));
            }
            if let Some(f) = force {
                p.insert("force_destroy".into(), json!(f));
            }
            if !vpcs.is_empty() {
                p.insert("vpc".into(), Value::Array(vpcs.into_iter().map(|v| json!({"vpc_id": v, "vpc_region": "eu-west-1"})).collect()));
            } else if let Some(s) = set {
                p.insert("delegation_set_id".into(), json!(s));
            }
            p
        },
    )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Every props value the schema accepts becomes a CreateHostedZone request.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(props in zone_props().prop_filter("the schema accepts", |p| crate::schema_check::accepts(&SCHEMA, p))) {
        let d = desired(Value::Object(props.clone()));
        let spec = Spec::from(&d);
        proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
        let spec = spec.unwrap();
        proptest::prop_assert_eq!(canonical(&spec.name), spec.name.clone());
        proptest::prop_assert!(spec.vpcs.is_empty() || spec.delegation_set_id.is_none());
    }

    /// Most generated zones are valid: the generator exercises the builder, not the filter.
    #[test]
    fn generated_names_pass_the_name_rule(name in domain()) {
        proptest::prop_assert!(zone_name_rule(&json!(name)).is_empty() || name.len() > 253);
    }
}

#[test]
fn references_share_a_prefix_and_differ_per_attempt() {
    let d = want(json!({}));
    let prefix = reference_prefix(&d);
    let a = caller_reference(&prefix);
    std::thread::sleep(std::time::Duration::from_millis(2));
    let b = caller_reference(&prefix);
    assert_ne!(a, b, "a destroyed zone's reference is never sent again");
    assert!(a.len() <= 128, "{a}");
    assert!(made_by(&zone(ID, &a), &prefix) && made_by(&zone(ID, &b), &prefix));
    assert!(!made_by(&zone(ID, &format!("{prefix}x-1")), &prefix));
    assert!(!made_by(&zone(ID, "terraform-2024"), &prefix));
    let mut other = d.clone();
    other.idempotency_token = "cairn-other".into();
    assert!(!made_by(&zone(ID, &a), &reference_prefix(&other)));
}

#[tokio::test]
async fn create_sends_the_zone_then_its_tags_and_waits_for_insync() {
    let seen: Arc<Mutex<Vec<CreateHostedZoneInput>>> = Arc::default();
    let sink = seen.clone();
    let create = mock!(Client::create_hosted_zone).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        CreateHostedZoneOutput::builder()
            .hosted_zone(zone(ID, input.caller_reference().unwrap()))
            .change_info(change(ChangeStatus::Pending))
            .location(format!("https://route53.amazonaws.com/2013-04-01/hostedzone/{ID}"))
            .build()
            .unwrap()
    });
    let insync = mock!(Client::get_change).then_output(|| GetChangeOutput::builder().change_info(change(ChangeStatus::Insync)).build());
    let (tag, tagged) = tag_calls();
    let d = want(json!({"force_destroy": true}));
    let obs = kind(&[listed(vec![]), create, insync.clone(), tag, got(zone(ID, "r"))]).create(&d).await.unwrap();

    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!(input.name(), Some(NAME));
    assert!(input.caller_reference().unwrap().starts_with(&reference_prefix(&d)));
    assert_eq!(input.hosted_zone_config().and_then(|c| c.comment()), Some("Managed by cairn"));
    assert_eq!(input.vpc(), None);
    assert_eq!(insync.num_calls(), 1);
    let t = tagged.lock().unwrap().pop().unwrap();
    assert_eq!(t.resource_id(), Some(ID));
    let sent: Tags = t.add_tags().iter().map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string())).collect();
    assert_eq!(sent.get(FORCE_DESTROY_TAG).map(String::as_str), Some("true"));
    assert!(owner().matches(&sent));
    assert_eq!(obs.id, ID);
    assert_eq!(obs.attrs["zone_id"], json!(ID));
    assert_eq!(obs.attrs["arn"], json!(format!("arn:aws:route53:::hostedzone/{ID}")));
    assert_eq!(obs.attrs["name_servers"], json!(["ns-1.awsdns-01.org", "ns-2.awsdns-02.com"]));
    assert_eq!(Value::Object(obs.props), json!({"name": NAME, "comment": "Managed by cairn", "force_destroy": true}));
    assert_eq!(obs.tags, d.tags, "the force-destroy tag is a prop, not a tag");
}

#[tokio::test]
async fn create_takes_the_zone_an_earlier_attempt_made() {
    let d = want(json!({}));
    let earlier = zone(ID, &format!("{}-1700000000000", reference_prefix(&d)));
    let create = mock!(Client::create_hosted_zone).then_error(|| CreateHostedZoneError::generic(meta("NotExpected")));
    let (tag, tagged) = tag_calls();
    let obs = kind(&[listed(vec![zone("ZOTHER", "someone-else"), earlier.clone()]), create.clone(), tag, got(earlier)]).create(&d).await.unwrap();
    assert_eq!((obs.id.as_str(), create.num_calls()), (ID, 0));
    assert_eq!(tagged.lock().unwrap().len(), 1, "an untagged zone of a crashed run gets its tags");
}

#[tokio::test]
async fn a_re_sent_create_finds_the_zone_its_lost_answer_named() {
    let d = want(json!({}));
    let made = zone(ID, &format!("{}-1700000000000", reference_prefix(&d)));
    let exists = mock!(Client::create_hosted_zone).then_error(|| CreateHostedZoneError::generic(meta("HostedZoneAlreadyExists")));
    let list = mock!(Client::list_hosted_zones_by_name)
        .sequence()
        .output(|| ListHostedZonesByNameOutput::builder().set_hosted_zones(Some(vec![])).is_truncated(false).max_items(100).build().unwrap())
        .output(move || ListHostedZonesByNameOutput::builder().hosted_zones(made.clone()).is_truncated(false).max_items(100).build().unwrap())
        .build();
    let (tag, _) = tag_calls();
    let obs = kind(&[list, exists, tag, got(zone(ID, "r"))]).create(&d).await.unwrap();
    assert_eq!(obs.id, ID);
}

#[tokio::test]
async fn create_errors_are_classified() {
    let invalid = mock!(Client::create_hosted_zone).then_error(|| CreateHostedZoneError::generic(meta("InvalidDomainName")));
    let err = kind(&[listed(vec![]), invalid]).create(&want(json!({}))).await.unwrap_err();
    assert!(matches!(err, ProviderError::Invalid(_)), "{err:?}");
    let throttled = mock!(Client::create_hosted_zone).then_error(|| CreateHostedZoneError::generic(meta("PriorRequestNotComplete")));
    let err = kind(&[listed(vec![]), throttled]).create(&want(json!({}))).await.unwrap_err();
    assert!(matches!(err, ProviderError::Throttled(_)), "{err:?}");
}

#[tokio::test]
async fn read_gives_the_zone_or_none() {
    let mut tags = owner().tags();
    tags.insert(FORCE_DESTROY_TAG.into(), "true".into());
    let obs = kind(&[got(zone(ID, "r")), tags_rule(tags)]).read(&format!("/hostedzone/{ID}")).await.unwrap().unwrap();
    assert_eq!(obs.props["force_destroy"], json!(true));
    assert_eq!(obs.tags, owner().tags());
    let gone = mock!(Client::get_hosted_zone).then_error(|| GetHostedZoneError::generic(meta("NoSuchHostedZone")));
    assert_eq!(kind(&[gone]).read(ID).await.unwrap(), None);
    let untagged = mock!(Client::list_tags_for_resource).then_error(|| ListTagsForResourceError::generic(meta("NoSuchHostedZone")));
    assert_eq!(kind(&[got(zone(ID, "r")), untagged]).read(ID).await.unwrap(), None, "deleted between the two reads");
}

#[tokio::test]
async fn update_changes_the_comment_and_tags_ten_at_a_time() {
    let seen: Arc<Mutex<Vec<UpdateHostedZoneCommentInput>>> = Arc::default();
    let sink = seen.clone();
    let comment = mock!(Client::update_hosted_zone_comment).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        UpdateHostedZoneCommentOutput::builder().build()
    });
    let (tag, tagged) = tag_calls();
    let mut d = want(json!({"comment": "edge", "force_destroy": true}));
    for i in 0..12 {
        d.tags.insert(format!("k{i:02}"), "v".into());
    }
    let mut current = owner().tags();
    current.insert("old".into(), "x".into());
    let k = kind(&[comment, tag, tags_rule(current), got(zone(ID, "r"))]);
    k.update(ID, &d, &["comment".into(), "force_destroy".into(), "tags".into()]).await.unwrap();
    assert_eq!(seen.lock().unwrap()[0].comment(), Some("edge"));
    let calls = tagged.lock().unwrap();
    assert_eq!(calls.len(), 2, "13 tags to add: two calls");
    let added: usize = calls.iter().map(|c| c.add_tags().len()).sum();
    assert_eq!(added, 13);
    assert!(calls.iter().all(|c| c.add_tags().len() <= 10));
    assert_eq!(calls[0].remove_tag_keys(), ["old".to_string()]);
}

#[tokio::test]
async fn delete_empties_a_force_destroy_zone_first() {
    let mut tags = owner().tags();
    tags.insert(FORCE_DESTROY_TAG.into(), "true".into());
    let rr = |name: &str, ty: RrType| {
        ResourceRecordSet::builder().name(name).r#type(ty).ttl(300).resource_records(ResourceRecord::builder().value("x").build().unwrap()).build().unwrap()
    };
    let records = vec![
        rr("shop.example.com.", RrType::Ns),
        rr("shop.example.com.", RrType::Soa),
        rr("www.shop.example.com.", RrType::A),
        rr("sub.shop.example.com.", RrType::Ns),
    ];
    let list = mock!(Client::list_resource_record_sets).then_output(move || {
        ListResourceRecordSetsOutput::builder().set_resource_record_sets(Some(records.clone())).is_truncated(false).max_items(300).build().unwrap()
    });
    let seen: Arc<Mutex<Vec<ChangeResourceRecordSetsInput>>> = Arc::default();
    let sink = seen.clone();
    let changed = mock!(Client::change_resource_record_sets).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        ChangeResourceRecordSetsOutput::builder().change_info(change(ChangeStatus::Insync)).build()
    });
    let deleted = mock!(Client::delete_hosted_zone).then_output(|| DeleteHostedZoneOutput::builder().change_info(change(ChangeStatus::Pending)).build());
    kind(&[tags_rule(tags), got(zone(ID, "r")), list, changed, deleted.clone()]).delete(ID).await.unwrap();
    let batch = seen.lock().unwrap().pop().unwrap();
    let names: Vec<(String, String)> = batch
        .change_batch()
        .unwrap()
        .changes()
        .iter()
        .map(|c| (c.resource_record_set().unwrap().name().to_string(), c.resource_record_set().unwrap().r#type().as_str().to_string()))
        .collect();
    assert_eq!(names, [("www.shop.example.com.".to_string(), "A".to_string()), ("sub.shop.example.com.".to_string(), "NS".to_string())]);
    assert_eq!(deleted.num_calls(), 1);
}

#[tokio::test]
async fn delete_refuses_a_zone_with_records_and_accepts_one_already_gone() {
    let not_empty = mock!(Client::delete_hosted_zone).then_error(|| DeleteHostedZoneError::generic(meta("HostedZoneNotEmpty")));
    let err = kind(&[tags_rule(owner().tags()), not_empty]).delete(ID).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Conflict(m) if m.contains("force_destroy")), "{err:?}");
    let untagged = mock!(Client::list_tags_for_resource).then_error(|| ListTagsForResourceError::generic(meta("NoSuchHostedZone")));
    kind(&[untagged]).delete(ID).await.unwrap();
    let gone = mock!(Client::delete_hosted_zone).then_error(|| DeleteHostedZoneError::generic(meta("NoSuchHostedZone")));
    kind(&[tags_rule(owner().tags()), gone]).delete(ID).await.unwrap();
}

#[tokio::test]
async fn find_owned_matches_the_reference_then_the_tags() {
    let d = want(json!({}));
    let ours = zone(ID, &format!("{}-1", reference_prefix(&d)));
    let found = kind(&[listed(vec![zone("ZA", "x"), ours.clone()]), got(ours), tags_rule(Tags::new())]).find_owned(&d).await.unwrap();
    assert_eq!(found.unwrap().id, ID, "found by its reference before its tags were written");
    let tagged = kind(&[listed(vec![zone(ID, "x")]), tags_rule(owner().tags()), got(zone(ID, "x"))]).find_owned(&d).await.unwrap();
    assert_eq!(tagged.unwrap().id, ID);
    assert_eq!(kind(&[listed(vec![zone(ID, "x")]), tags_rule(foreign_tags())]).find_owned(&d).await.unwrap(), None);
    assert_eq!(kind(&[listed(vec![])]).find_owned(&d).await.unwrap(), None);
}

/// The fault proxy's throttling answer (restXml's wrapped error, status 400) reaches cairn as
/// Throttling (a code aws-runtime's retry classifier counts as throttling too, as it does
/// PriorRequestNotComplete).
#[tokio::test]
async fn a_wrapped_xml_throttling_answer_is_classified_as_throttling() {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault-proxy-0000</RequestId></ErrorResponse>";
    let answer = move || {
        let mut resp = aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
            aws_smithy_types::body::SdkBody::from(body),
        );
        resp.headers_mut().insert("content-type", "text/xml");
        resp
    };
    let throttled = mock!(Client::get_hosted_zone).then_http_response(answer);
    let err = kind(&[throttled]).read(ID).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Throttled(m) if m.contains("Throttling")), "{err:?}");
}

#[tokio::test]
async fn a_private_zone_is_created_in_its_first_vpc_and_associated_with_the_rest() {
    let seen: Arc<Mutex<Vec<CreateHostedZoneInput>>> = Arc::default();
    let sink = seen.clone();
    let create = mock!(Client::create_hosted_zone).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        CreateHostedZoneOutput::builder()
            .hosted_zone(zone(ID, input.caller_reference().unwrap()))
            .change_info(change(ChangeStatus::Insync))
            .location("https://route53.amazonaws.com/2013-04-01/hostedzone/Z")
            .build()
            .unwrap()
    });
    let private = HostedZone::builder()
        .id(format!("/hostedzone/{ID}"))
        .name(format!("{NAME}."))
        .caller_reference("r")
        .config(HostedZoneConfig::builder().comment("Managed by cairn").private_zone(true).build())
        .build()
        .unwrap();
    let first = Vpc::builder().vpc_id("vpc-a").vpc_region(VpcRegion::EuWest1).build();
    let get = mock!(Client::get_hosted_zone).then_output(move || GetHostedZoneOutput::builder().hosted_zone(private.clone()).vpcs(first.clone()).build());
    let associated: Arc<Mutex<Vec<String>>> = Arc::default();
    let asink = associated.clone();
    let associate = mock!(Client::associate_vpc_with_hosted_zone).then_compute_output(move |input| {
        asink.lock().unwrap().push(input.vpc().and_then(|v| v.vpc_id()).unwrap_or_default().to_string());
        aws_sdk_route53::operation::associate_vpc_with_hosted_zone::AssociateVpcWithHostedZoneOutput::builder()
            .change_info(change(ChangeStatus::Insync))
            .build()
    });
    let (tag, _) = tag_calls();
    let vpcs = json!([{"vpc_id": "vpc-a", "vpc_region": "eu-west-1"}, {"vpc_id": "vpc-b", "vpc_region": "eu-west-1"}]);
    let obs = kind(&[listed(vec![]), create, get, associate, tag]).create(&want(json!({"vpc": vpcs.clone()}))).await.unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!(input.hosted_zone_config().map(|c| c.private_zone()), Some(true));
    assert_eq!(input.vpc().and_then(|v| v.vpc_id()), Some("vpc-a"));
    assert_eq!(*associated.lock().unwrap(), ["vpc-b".to_string()]);
    assert_eq!(obs.props["vpc"], vpcs);
}
