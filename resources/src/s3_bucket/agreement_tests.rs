//! The agreement tests of `aws.s3.bucket`: every value the schema accepts builds a request, and the schema refuses what the builder refuses.

use cairn_engine::provider::PropType;
use proptest::prelude::*;

use super::tests::{desired, KMS_ARN};
use super::*;

const ROLE: &str = "arn:aws:iam::111122223333:role/replication";

#[test]
fn schema_defaults_are_json_and_valid() {
    for prop in SCHEMA.props {
        if let Some(default) = prop.default {
            serde_json::from_str::<Value>(default).unwrap_or_else(|e| panic!("{}: {e}", prop.name));
        }
    }
    let defaults: Props = SCHEMA.props.iter().filter_map(|p| Some((p.name.to_string(), serde_json::from_str(p.default?).unwrap()))).collect();
    Spec::from(&desired(Value::Object(defaults))).expect("the defaults are accepted");
}

/// The schema refuses what the request builder refuses (the other half of the agreement test).
#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    for props in [
        json!({"sse": {"algorithm": "AES256", "kms_key": KMS_ARN, "bucket_key": false}}),
        json!({"sse": {"algorithm": "aws:kms"}}),
        json!({"sse": {"algorithm": "DES", "bucket_key": false}}),
        json!({"sse": {"algorithm": "AES256", "bucket_kye": false}}),
        json!({"lifecycle_rules": [{"id": "a", "prefix": "", "enabled": true, "transitions": []}]}),
        json!({"lifecycle_rules": [{"id": "a", "enabled": true, "transitions": [{"days": 90, "storage_class": "GLACIER"}, {"days": 30, "storage_class": "STANDARD_IA"}]}]}),
        json!({"lifecycle_rules": [{"id": "a", "enabled": true, "transitions": [{"days": 3_000_000_000i64, "storage_class": "GLACIER"}]}]}),
        json!({"lifecycle_rules": [{"id": "a", "enabled": true, "transitions": [], "expires": 3}]}),
        json!({"versioning": "yes"}),
        json!({"bucket": 7}),
    ] {
        let d = desired(props.clone());
        assert!(Spec::from(&d).is_err(), "builder accepts {props}");
        assert!(!cairn_engine::typecheck::check_props(&SCHEMA, &d.props, true).is_empty(), "schema accepts {props}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Every props value the schema accepts becomes a request the SDK builds, naming
    /// only values the SDK knows.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(props in agreeing_props()) {
        let spec = Spec::from(&desired(Value::Object(props.clone())));
        proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
        let spec = spec.unwrap();
        let sse = spec.sse.to_sdk();
        proptest::prop_assert!(sse.is_ok(), "{:?}", sse.err());
        let algorithm = sse.unwrap().rules()[0].apply_server_side_encryption_by_default().map(|d| d.sse_algorithm().as_str().to_string());
        proptest::prop_assert!(algorithm.is_some_and(|a| ServerSideEncryption::values().contains(&a.as_str())));
        let logging = logging::Logging::to_sdk(spec.logging.as_ref());
        proptest::prop_assert!(logging.is_ok(), "{:?}", logging.err());
        if let Some(r) = &spec.replication {
            let sdk = r.to_sdk();
            proptest::prop_assert!(sdk.is_ok(), "{:?}", sdk.err());
            for rule in sdk.unwrap().rules() {
                let class = rule.destination().and_then(|d| d.storage_class());
                proptest::prop_assert!(class.is_none_or(|c| aws_sdk_s3::types::StorageClass::values().contains(&c.as_str())));
            }
        }
        for rule in &spec.lifecycle {
            let sdk = rule.to_sdk();
            proptest::prop_assert!(sdk.is_ok(), "{:?}", sdk.err());
            for t in sdk.unwrap().transitions() {
                proptest::prop_assert!(t.storage_class().is_some_and(|c| TransitionStorageClass::values().contains(&c.as_str())));
            }
        }
    }
}

/// One replication configuration PutBucketReplication accepts: 1 to 3 rules, all with a filter
/// (distinct priorities) or none.
fn replication() -> BoxedStrategy<Value> {
    let classes = prop_oneof![Just(None), proptest::sample::select(vec!["STANDARD", "STANDARD_IA", "GLACIER", "GLACIER_IR"]).prop_map(Some)];
    let rule = ("[a-z0-9-]{1,20}", any::<bool>(), proptest::option::of("[a-z0-9/]{1,12}"), classes, any::<bool>());
    (proptest::collection::vec(rule, 1..4), any::<bool>())
        .prop_map(|(rules, v2)| {
            let rules: Vec<Value> = rules
                .into_iter()
                .enumerate()
                .map(|(i, (id, on, prefix, class, markers))| {
                    let status = |b: bool| if b { "Enabled" } else { "Disabled" };
                    let mut r = json!({ "id": format!("{i}-{id}"), "status": status(on), "destination": { "bucket": format!("arn:aws:s3:::replica-{i}") } });
                    if let Some(c) = class {
                        r["destination"]["storage_class"] = c.into();
                    }
                    if v2 {
                        r["priority"] = i.into();
                        r["filter"] = prefix.map(|p| json!({ "prefix": p })).unwrap_or_else(|| json!({}));
                        r["delete_marker_replication"] = json!({ "status": status(markers) });
                    }
                    r
                })
                .collect();
            json!({ "role": ROLE, "rules": rules })
        })
        .boxed()
}

/// Props the schema accepts, replication drawn from `replication()` (a draw from the type alone
/// almost never names a role ARN), the physical name left to the default.
fn agreeing_props() -> BoxedStrategy<Props> {
    (crate::schema_gen::value(PropType::Struct(SCHEMA.props)), proptest::option::of(replication()))
        .prop_map(|(v, replication)| {
            let mut props = v.as_object().cloned().unwrap_or_default();
            props.remove("bucket");
            props.remove("replication_configuration");
            if let Some(r) = replication {
                props.insert("replication_configuration".into(), r);
                props.insert("versioning".into(), json!(true));
            }
            props
        })
        .prop_filter("the schema accepts it", |p| cairn_engine::typecheck::check_props(&SCHEMA, p, true).is_empty())
        .boxed()
}
