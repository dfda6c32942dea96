//! Tests of `aws.route53.record` against aws-smithy-mocks: the change sent, names in any spelling, adoption of a record a lost answer made, errors classified.

use std::sync::{Arc, Mutex};

use aws_sdk_route53::operation::change_resource_record_sets::{ChangeResourceRecordSetsError, ChangeResourceRecordSetsInput, ChangeResourceRecordSetsOutput};
use aws_sdk_route53::operation::get_change::GetChangeOutput;
use aws_sdk_route53::operation::get_hosted_zone::{GetHostedZoneError, GetHostedZoneOutput};
use aws_sdk_route53::operation::list_resource_record_sets::{ListResourceRecordSetsInput, ListResourceRecordSetsOutput};
use aws_sdk_route53::types::{ChangeInfo, ChangeStatus, HostedZone};
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_types::error::ErrorMetadata;
use proptest::strategy::Strategy;

use super::*;
use crate::adopt::testing::desired;

const ZONE: &str = "Z0123456789ABCDEFGHIJ";

fn kind(rules: &[Rule]) -> Route53Record {
    Route53Record::from_client(crate::mocked_client!(aws_sdk_route53, rules))
}

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

fn zone() -> Rule {
    let z = HostedZone::builder().id(format!("/hostedzone/{ZONE}")).name("example.com.").caller_reference("r").build().unwrap();
    mock!(Client::get_hosted_zone).then_output(move || GetHostedZoneOutput::builder().hosted_zone(z.clone()).build())
}

fn info(status: ChangeStatus) -> ChangeInfo {
    ChangeInfo::builder().id("/change/C2").status(status).submitted_at(aws_smithy_types::DateTime::from_secs(0)).build().unwrap()
}

fn rrset(name: &str, ty: RrType, ttl: i64, values: &[&str]) -> ResourceRecordSet {
    let records = values.iter().map(|v| ResourceRecord::builder().value(*v).build().unwrap()).collect();
    ResourceRecordSet::builder().name(name).r#type(ty).ttl(ttl).set_resource_records(Some(records)).build().unwrap()
}

fn listing(sets: Vec<ResourceRecordSet>) -> (Rule, Arc<Mutex<Vec<ListResourceRecordSetsInput>>>) {
    let seen: Arc<Mutex<Vec<ListResourceRecordSetsInput>>> = Arc::default();
    let sink = seen.clone();
    let rule = mock!(Client::list_resource_record_sets).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        ListResourceRecordSetsOutput::builder().set_resource_record_sets(Some(sets.clone())).is_truncated(false).max_items(1).build().unwrap()
    });
    (rule, seen)
}

fn changes(status: ChangeStatus) -> (Rule, Arc<Mutex<Vec<ChangeResourceRecordSetsInput>>>) {
    let seen: Arc<Mutex<Vec<ChangeResourceRecordSetsInput>>> = Arc::default();
    let sink = seen.clone();
    let rule = mock!(Client::change_resource_record_sets).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        ChangeResourceRecordSetsOutput::builder().change_info(info(status.clone())).build()
    });
    (rule, seen)
}

fn a_record(name: &str) -> Desired {
    desired(json!({"zone_id": ZONE, "name": name, "type": "A", "ttl": 300, "records": ["192.0.2.1", "192.0.2.2"]}))
}

/// The one change a ChangeResourceRecordSets call sent.
fn sent(seen: &Arc<Mutex<Vec<ChangeResourceRecordSetsInput>>>) -> (ChangeAction, ResourceRecordSet) {
    let input = seen.lock().unwrap().pop().unwrap();
    let c = input.change_batch().unwrap().changes()[0].clone();
    (c.action().clone(), c.resource_record_set().unwrap().clone())
}

/// The schema refuses what the request builder refuses (the other half of the agreement test).
#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    let base = || json!({"zone_id": ZONE, "name": "www.example.com", "type": "A", "ttl": 300, "records": ["192.0.2.1"]});
    let with = |k: &str, v: Value| {
        let mut p = base();
        p[k] = v;
        p
    };
    let without = |k: &str| {
        let mut p = base();
        p.as_object_mut().unwrap().remove(k);
        p
    };
    for props in [
        with("records", json!(["300.1.1.1"])),
        with("records", json!([])),
        with("type", json!("AAAA")),
        with("type", json!("CNAME")).tap_records(json!(["a.example.com", "b.example.com"])),
        with("type", json!("TXT")).tap_records(json!(["\"v=spf1 -all\""])),
        with("type", json!("TXT")).tap_records(json!(["x".repeat(300)])),
        with("type", json!("MX")).tap_records(json!(["mail.example.com"])),
        with("type", json!("ALIAS")),
        with("zone_id", json!("/hostedzone/Z1")),
        with("name", json!("a*.example.com")),
        with("name", json!("a..example.com")),
        with("alias", json!({"name": "lb.example.com", "zone_id": "Z2", "evaluate_target_health": false})),
        with("set_identifier", json!("blue")),
        with("weighted_routing_policy", json!({"weight": 10})),
        with("weighted_routing_policy", json!({"weight": 300})),
        without("ttl"),
        without("records"),
        without("zone_id"),
        with("skip", json!(true)),
    ] {
        let d = desired(props.clone());
        assert!(Spec::from(&d).is_err(), "builder accepts {props}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
    }
}

trait TapRecords {
    fn tap_records(self, v: Value) -> Value;
}

impl TapRecords for Value {
    fn tap_records(mut self, v: Value) -> Value {
        self["records"] = v;
        self
    }
}

fn values_for(ty: &'static str) -> proptest::strategy::BoxedStrategy<Vec<String>> {
    let one = match ty {
        "A" => proptest::arbitrary::any::<[u8; 4]>().prop_map(|o| std::net::Ipv4Addr::from(o).to_string()).boxed(),
        "AAAA" => proptest::arbitrary::any::<[u16; 8]>().prop_map(|s| std::net::Ipv6Addr::from(s).to_string()).boxed(),
        "MX" => (0u16..100, "[a-z]{1,10}\\.example\\.com").prop_map(|(p, h)| format!("{p} {h}")).boxed(),
        "TXT" => "[a-zA-Z0-9=; -]{1,255}".boxed(),
        _ => "[a-z]{1,10}\\.example\\.com".boxed(),
    };
    let max = if ty == "CNAME" { 2 } else { 4 };
    proptest::collection::vec(one, 1..max).boxed()
}

fn record_props() -> impl Strategy<Value = Props> {
    let ty = proptest::sample::select(&["A", "AAAA", "MX", "TXT", "CNAME", "NS"][..]);
    let name = proptest::collection::vec("[a-z0-9_-]{1,12}", 1..4).prop_map(|l| l.join("."));
    let alias = proptest::option::of(("[a-z0-9-]{1,20}\\.elb\\.amazonaws\\.com", "[A-Z0-9]{1,14}", proptest::bool::ANY));
    let routing = proptest::option::of(("[a-zA-Z0-9_ -]{1,20}", 0i64..=255));
    (ty, name, alias, routing, 0i64..=86_400, proptest::bool::ANY).prop_flat_map(move |(ty, name, alias, routing, ttl, overwrite)| {
        values_for(ty).prop_map(move |records| {
            let mut p = Props::new();
            p.insert("zone_id".into(), json!(ZONE));
            p.insert("name".into(), json!(name));
            p.insert("type".into(), json!(ty));
            match &alias {
                Some((n, z, h)) => {
                    p.insert("alias".into(), json!({"name": n, "zone_id": z, "evaluate_target_health": h}));
                }
                None => {
                    p.insert("ttl".into(), json!(ttl));
                    p.insert("records".into(), json!(records));
                }
            }
            if let Some((id, w)) = &routing {
                p.insert("set_identifier".into(), json!(id));
                p.insert("weighted_routing_policy".into(), json!({"weight": w}));
            }
            p.insert("allow_overwrite".into(), json!(overwrite));
            p
        })
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Every props value the schema accepts becomes a record set, and its id parses back.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(props in record_props()) {
        proptest::prop_assert!(crate::schema_check::accepts(&SCHEMA, &props), "{props:?}");
        let d = desired(Value::Object(props));
        let spec = Spec::from(&d);
        proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
        let spec = spec.unwrap();
        let rr = spec.rrset(&qualify(&spec.name, "example.com"));
        proptest::prop_assert!(rr.is_ok(), "{:?}", rr.err());
        let rr = rr.unwrap();
        proptest::prop_assert_eq!(rr.alias_target().is_some(), rr.ttl().is_none());
        let parsed = parse_id(&spec.id());
        proptest::prop_assert_eq!(parsed, Some((spec.zone_id.clone(), spec.name.clone(), spec.ty.clone(), spec.set_identifier.clone())));
    }
}

#[test]
fn ids_parse_like_terraforms() {
    let p = |id: &str| parse_id(id).map(|(z, n, t, s)| (z, n, t, s.unwrap_or_default()));
    let s = |a: &str, b: &str, c: &str, d: &str| Some((a.to_string(), b.to_string(), c.to_string(), d.to_string()));
    assert_eq!(p("Z1_www.example.com_A"), s("Z1", "www.example.com", "A", ""));
    assert_eq!(p("Z1__acme-challenge.example.com._CNAME"), s("Z1", "_acme-challenge.example.com.", "CNAME", ""));
    assert_eq!(p("Z1_a_b.example.com_TXT_blue_1"), s("Z1", "a_b.example.com", "TXT", "blue_1"));
    assert_eq!(p("Z1_*.example.com_AAAA_x"), s("Z1", "*.example.com", "AAAA", "x"));
    assert_eq!(p("Z1_www.example.com"), None);
    assert_eq!(p("nothing"), None);
}

#[tokio::test]
async fn create_sends_create_with_the_qualified_name_and_waits() {
    let (change, seen) = changes(ChangeStatus::Pending);
    let insync = mock!(Client::get_change).then_output(|| GetChangeOutput::builder().change_info(info(ChangeStatus::Insync)).build());
    let d = desired(json!({"zone_id": ZONE, "name": "WWW", "type": "TXT", "ttl": 60, "records": ["v=spf1 -all", "a\" \"b"]}));
    let obs = kind(&[zone(), change, insync.clone()]).create(&d).await.unwrap();
    let (action, rr) = sent(&seen);
    assert_eq!(action, ChangeAction::Create);
    assert_eq!(rr.name(), "www.example.com");
    let values: Vec<&str> = rr.resource_records().iter().map(|r| r.value()).collect();
    assert_eq!(values, ["\"v=spf1 -all\"", "\"a\" \"b\""]);
    assert_eq!(insync.num_calls(), 1);
    assert_eq!(obs.id, format!("{ZONE}_WWW_TXT"));
    assert_eq!(obs.attrs["fqdn"], json!("www.example.com"));
    assert_eq!(Value::Object(obs.props), json!({"zone_id": ZONE, "name": "WWW", "type": "TXT", "ttl": 60, "records": ["v=spf1 -all", "a\" \"b"]}));
}

#[tokio::test]
async fn allow_overwrite_upserts_and_an_alias_sends_no_ttl() {
    let (change, seen) = changes(ChangeStatus::Insync);
    let d = desired(json!({
        "zone_id": ZONE, "name": "example.com.", "type": "A", "allow_overwrite": true,
        "alias": {"name": "My-LB-1.us-east-1.elb.amazonaws.com.", "zone_id": "Z35SXDOTRQ7X7K", "evaluate_target_health": true}
    }));
    let obs = kind(&[zone(), change]).create(&d).await.unwrap();
    let (action, rr) = sent(&seen);
    assert_eq!(action, ChangeAction::Upsert);
    assert_eq!(rr.ttl(), None);
    assert_eq!(rr.alias_target().unwrap().dns_name(), "my-lb-1.us-east-1.elb.amazonaws.com");
    assert_eq!(obs.props["name"], json!("example.com."), "the name reads back as written");
    assert!(!obs.props.contains_key("allow_overwrite"), "a cairn-only setting");
}

#[tokio::test]
async fn an_existing_record_is_adopted_only_with_exactly_our_values() {
    let exists = || {
        mock!(Client::change_resource_record_sets).then_error(|| {
            ChangeResourceRecordSetsError::generic(meta(
                "InvalidChangeBatch",
                "[Tried to create resource record set [name='www.example.com.', type='A'] but it already exists]",
            ))
        })
    };
    let same = rrset("www.example.com.", RrType::A, 300, &["192.0.2.2", "192.0.2.1"]);
    let (list, _) = listing(vec![same]);
    let adopted = kind(&[zone(), exists(), list]).create(&a_record("www.example.com")).await.unwrap();
    assert_eq!(adopted.id, format!("{ZONE}_www.example.com_A"));

    let other = rrset("www.example.com.", RrType::A, 300, &["198.51.100.9"]);
    let (list, _) = listing(vec![other]);
    let err = kind(&[zone(), exists(), list]).create(&a_record("www.example.com")).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Conflict(m) if m.contains("allow_overwrite")), "{err:?}");
}

#[tokio::test]
async fn read_gives_the_record_in_the_ids_spelling() {
    let (list, seen) = listing(vec![rrset("\\052.example.com.", RrType::A, 300, &["192.0.2.1"])]);
    let id = format!("{ZONE}_*.Example.com._A");
    let obs = kind(&[zone(), list]).read(&id).await.unwrap().unwrap();
    assert_eq!(obs.props["name"], json!("*.Example.com."));
    assert_eq!(obs.attrs["fqdn"], json!("*.example.com"));
    let asked = seen.lock().unwrap().pop().unwrap();
    assert_eq!((asked.start_record_name(), asked.start_record_type()), (Some("*.example.com"), Some(&RrType::A)));

    // The next record in the zone is another one: this one is gone.
    let (list, _) = listing(vec![rrset("www.example.com.", RrType::Cname, 300, &["x.example.com"])]);
    assert_eq!(kind(&[zone(), list]).read(&format!("{ZONE}_www.example.com_A")).await.unwrap(), None);
    let gone = mock!(Client::get_hosted_zone).then_error(|| GetHostedZoneError::generic(meta("NoSuchHostedZone", "gone")));
    assert_eq!(kind(&[gone]).read(&format!("{ZONE}_www.example.com_A")).await.unwrap(), None);
    assert!(matches!(kind(&[]).read("garbage").await, Err(ProviderError::Invalid(_))));
}

#[tokio::test]
async fn update_upserts_the_new_values() {
    let (change, seen) = changes(ChangeStatus::Insync);
    let id = format!("{ZONE}_www.example.com_A");
    let obs = kind(&[zone(), change]).update(&id, &a_record("www.example.com"), &["records".into()]).await.unwrap();
    let (action, rr) = sent(&seen);
    assert_eq!((action, rr.resource_records().len()), (ChangeAction::Upsert, 2));
    assert_eq!(obs.id, id);
}

#[tokio::test]
async fn delete_names_the_current_values_and_accepts_a_missing_record() {
    let current = rrset("www.example.com.", RrType::A, 60, &["203.0.113.5"]);
    let (list, _) = listing(vec![current.clone()]);
    let (change, seen) = changes(ChangeStatus::Insync);
    kind(&[zone(), list, change]).delete(&format!("{ZONE}_www.example.com_A")).await.unwrap();
    let (action, rr) = sent(&seen);
    assert_eq!((action, rr), (ChangeAction::Delete, current.clone()));

    let (list, _) = listing(vec![]);
    kind(&[zone(), list]).delete(&format!("{ZONE}_www.example.com_A")).await.unwrap();
    let (list, _) = listing(vec![current]);
    let missing = mock!(Client::change_resource_record_sets).then_error(|| {
        ChangeResourceRecordSetsError::generic(meta(
            "InvalidChangeBatch",
            "Tried to delete resource record set [name='www.example.com.', type='A'] but it was not found",
        ))
    });
    kind(&[zone(), list, missing]).delete(&format!("{ZONE}_www.example.com_A")).await.unwrap();
    let throttled = mock!(Client::change_resource_record_sets).then_error(|| ChangeResourceRecordSetsError::generic(meta("Throttling", "Rate exceeded")));
    let (list, _) = listing(vec![rrset("www.example.com.", RrType::A, 60, &["203.0.113.5"])]);
    let err = kind(&[zone(), list, throttled]).delete(&format!("{ZONE}_www.example.com_A")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Throttled(_)), "{err:?}");
}

#[tokio::test]
async fn find_owned_takes_only_a_record_with_the_desired_values() {
    let (list, _) = listing(vec![rrset("www.example.com.", RrType::A, 300, &["192.0.2.1", "192.0.2.2"])]);
    assert!(kind(&[zone(), list]).find_owned(&a_record("www")).await.unwrap().is_some());
    let (list, _) = listing(vec![rrset("www.example.com.", RrType::A, 301, &["192.0.2.1", "192.0.2.2"])]);
    assert_eq!(kind(&[zone(), list]).find_owned(&a_record("www")).await.unwrap(), None);
    let gone = mock!(Client::get_hosted_zone).then_error(|| GetHostedZoneError::generic(meta("NoSuchHostedZone", "gone")));
    assert_eq!(kind(&[gone]).find_owned(&a_record("www")).await.unwrap(), None);
}

#[tokio::test]
async fn a_change_pending_past_the_limit_is_retryable() {
    let pending = mock!(Client::get_change).then_output(|| GetChangeOutput::builder().change_info(info(ChangeStatus::Pending)).build());
    let client = crate::mocked_client!(aws_sdk_route53, std::slice::from_ref(&pending));
    let err = crate::route53_common::wait_insync(&client, "/change/C2", Some(&ChangeStatus::Pending), std::time::Duration::ZERO).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Retryable(m) if m.contains("PENDING")), "{err:?}");
    assert_eq!(pending.num_calls(), 1);
    // An answer that is INSYNC already needs no GetChange.
    crate::route53_common::wait_insync(&client, "/change/C2", Some(&ChangeStatus::Insync), std::time::Duration::ZERO).await.unwrap();
    assert_eq!(pending.num_calls(), 1);
}
