//! Unit tests of `aws.rds.instance` on mocked RDS: the schema against the request builder, create and read.

pub(super) use std::sync::{Arc, Mutex};

pub(super) use super::schema::*;
pub(super) use super::spec::*;
pub(super) use super::*;
pub(super) use crate::rds_common::test_support::InstantClock;
pub(super) use crate::rds_common::{rds_tags, tags_from};
pub(super) use aws_sdk_rds::config::retry::RetryConfig;
pub(super) use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region};
pub(super) use aws_sdk_rds::error::ErrorMetadata;
pub(super) use aws_sdk_rds::operation::add_tags_to_resource::{AddTagsToResourceInput, AddTagsToResourceOutput};
pub(super) use aws_sdk_rds::operation::create_db_instance::{CreateDbInstanceInput, CreateDbInstanceOutput};
pub(super) use aws_sdk_rds::operation::delete_db_instance::{DeleteDbInstanceInput, DeleteDbInstanceOutput};
pub(super) use aws_sdk_rds::operation::describe_db_instances::{DescribeDBInstancesError, DescribeDbInstancesOutput};
pub(super) use aws_sdk_rds::operation::modify_db_instance::{ModifyDbInstanceInput, ModifyDbInstanceOutput};
pub(super) use aws_sdk_rds::operation::remove_tags_from_resource::{RemoveTagsFromResourceInput, RemoveTagsFromResourceOutput};
pub(super) use aws_sdk_rds::types::PendingModifiedValues;
pub(super) use aws_sdk_rds::types::{DbParameterGroupStatus, DbSubnetGroup, Endpoint, MasterUserSecret, VpcSecurityGroupMembership};
pub(super) use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
pub(super) use cairn_engine::provider::Owner;
pub(super) use cairn_engine::provider::{Props, Tags};
pub(super) use serde_json::{json, Value};
pub(super) use std::time::Duration;

pub(super) const ID: &str = "shop-dev-db";
pub(super) const ARN: &str = "arn:aws:rds:us-east-1:123456789012:db:shop-dev-db";
pub(super) const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1234";

pub(super) fn kind_with_clock(rules: &[&Rule], clock: &InstantClock) -> RdsInstance {
    let mut mocks = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        mocks = mocks.with_rule(rule);
    }
    let config = aws_sdk_rds::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .http_client(create_mock_http_client())
        .sleep_impl(clock.clone())
        .time_source(clock.clone())
        .interceptor(mocks)
        .build();
    RdsInstance::from_client(Client::from_conf(config))
}

pub(super) fn kind(rules: &[&Rule]) -> RdsInstance {
    kind_with_clock(rules, &InstantClock::default())
}

pub(super) fn owner() -> Owner {
    Owner { stack: "shop".into(), env: "dev".into(), address: "db".into() }
}

pub(super) fn desired(props: Value) -> Desired {
    let mut tags = owner().tags();
    tags.insert("Project".into(), "LegacyPlatform".into());
    Desired { props: props.as_object().unwrap().clone(), tags, owner: owner(), default_name: ID.into(), idempotency_token: "t".into() }
}

pub(super) fn base_props() -> Value {
    json!({
        "engine_version": "16",
        "instance_class": "db.t4g.medium",
        "allocated_storage": 20,
        "db_subnet_group_name": "shop-dev-db-subnets",
        "parameter_group_name": "shop-dev-pg",
        "vpc_security_group_ids": ["sg-b", "sg-a"],
        "backup_retention_period": 7,
        "wait_timeout_minutes": 30
    })
}

pub(super) fn error(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message("mocked").build()
}

/// An instance as DescribeDBInstances reports one created from `base_props`.
pub(super) fn db(status: &str) -> aws_sdk_rds::types::builders::DbInstanceBuilder {
    let mut tags = desired(json!({})).tags;
    tags.insert(ENGINE_VERSION_TAG.into(), "16".into());
    DbInstance::builder()
        .db_instance_identifier(ID)
        .db_instance_arn(ARN)
        .db_instance_status(status)
        .engine("postgres")
        .engine_version("16.4")
        .db_instance_class("db.t4g.medium")
        .allocated_storage(20)
        .storage_type("gp3")
        .storage_encrypted(true)
        .kms_key_id("arn:aws:kms:us-east-1:123456789012:key/aws-rds")
        .master_username("postgres")
        .master_user_secret(MasterUserSecret::builder().secret_arn(SECRET).secret_status("active").build())
        .db_subnet_group(DbSubnetGroup::builder().db_subnet_group_name("shop-dev-db-subnets").build())
        .db_parameter_groups(DbParameterGroupStatus::builder().db_parameter_group_name("shop-dev-pg").parameter_apply_status("in-sync").build())
        .vpc_security_groups(VpcSecurityGroupMembership::builder().vpc_security_group_id("sg-a").status("active").build())
        .vpc_security_groups(VpcSecurityGroupMembership::builder().vpc_security_group_id("sg-b").status("active").build())
        .multi_az(false)
        .backup_retention_period(7)
        .preferred_backup_window("03:00-03:30")
        .deletion_protection(false)
        .iam_database_authentication_enabled(false)
        .performance_insights_enabled(false)
        .publicly_accessible(false)
        .endpoint(Endpoint::builder().address("shop-dev-db.abc.us-east-1.rds.amazonaws.com").port(5432).build())
        .dbi_resource_id("db-ABCDEFG")
        .set_tag_list(Some(rds_tags(&tags)))
}

pub(super) fn describe_output(instance: DbInstance) -> DescribeDbInstancesOutput {
    DescribeDbInstancesOutput::builder().db_instances(instance).build()
}

/// DescribeDBInstances answering with these statuses in turn, then the last one forever.
pub(super) fn describe_sequence(statuses: &[&'static str]) -> Rule {
    let mut seq = mock!(Client::describe_db_instances).match_requests(|r| r.db_instance_identifier() == Some(ID)).sequence();
    for (i, status) in statuses.iter().enumerate() {
        let status = *status;
        seq = seq.output(move || describe_output(db(status).build()));
        if i == statuses.len() - 1 {
            return seq.repeatedly().build();
        }
    }
    unreachable!("at least one status")
}

pub(super) fn not_found() -> DescribeDBInstancesError {
    DescribeDBInstancesError::generic(error("DBInstanceNotFound"))
}

/// Requests a mock saw, shared between the mock and the test.
pub(super) type Seen<T> = Arc<Mutex<Vec<T>>>;

pub(super) fn recorder<T>() -> (Seen<T>, Seen<T>) {
    let seen: Seen<T> = Arc::new(Mutex::new(Vec::new()));
    (seen.clone(), seen)
}

pub(super) fn assert_actions(list: &[&str], operations: &[&str]) {
    for op in operations {
        assert!(list.contains(&format!("rds:{op}").as_str()), "{op} missing from {list:?}");
    }
}

#[test]
fn cairn_settings_are_local_and_the_wait_default_is_the_schemas() {
    for name in ["apply_immediately", "wait_timeout_minutes"] {
        assert!(SCHEMA.prop(name).unwrap().local, "{name}");
    }
    assert_eq!(SCHEMA.prop("wait_timeout_minutes").and_then(|p| p.default_value()), Some(json!(DEFAULT_WAIT_MINUTES)));
    let spec = Spec::from(&desired(json!({"instance_class": "db.t4g.micro", "allocated_storage": 20}))).unwrap();
    assert_eq!((spec.engine.as_str(), spec.storage_type.as_str(), spec.master_username.as_str()), ("postgres", "gp3", "postgres"));
    assert_eq!((spec.storage_encrypted, spec.backup_retention_period, spec.wait_minutes), (true, 7, DEFAULT_WAIT_MINUTES));
}

/// The schema refuses what the request builder refuses (the other half of the agreement test).
#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    let with = |key: &str, value: Value| {
        let mut p = base_props();
        p[key] = value;
        p
    };
    for props in [
        json!({"allocated_storage": 20}),
        json!({"instance_class": "db.t4g.micro"}),
        with("allocated_storage", json!(0)),
        with("allocated_storage", json!(5_000_000_000i64)),
        with("allocated_storage", json!("20")),
        with("manage_master_user_password", json!(false)),
        with("identifier", json!("Shop-DB")),
        with("identifier", json!("shop_db")),
        with("db_subnet_group_name", json!("Subnets")),
        with("parameter_group_name", json!("Params")),
        with("kms_key", json!("alias/aws/rds")),
        with("performance_insights_kms_key", json!("key-id")),
        with("backup_retention_period", json!(40)),
        with("wait_timeout_minutes", json!(0)),
        with("vpc_security_group_ids", json!(["sg-a", 7])),
        with("multi_az", json!("yes")),
        with("storage_type", json!("ssd")),
        with("engine", json!("postgresql")),
        with("instance_clas", json!("db.t4g.micro")),
        with("max_allocated_storage", json!(10)),
        {
            let mut p = with("storage_encrypted", json!(false));
            p["kms_key"] = json!("arn:aws:kms:us-east-1:123456789012:key/abcd1234");
            p
        },
        with("performance_insights_kms_key", json!("arn:aws:kms:us-east-1:123456789012:key/abcd1234")),
        with("monitoring_interval", json!(20)),
        with("monitoring_interval", json!(60)),
        with("monitoring_role_arn", json!("arn:aws:iam::123456789012:role/rds-monitoring")),
        {
            let mut p = with("monitoring_interval", json!(7));
            p["monitoring_role_arn"] = json!("arn:aws:iam::123456789012:role/rds-monitoring");
            p
        },
    ] {
        let d = desired(props.clone());
        assert!(Spec::from(&d).is_err(), "builder accepts {props}");
        assert!(crate::rds_common::test_support::schema_refuses(&SCHEMA, &d.props), "schema accepts {props}");
    }
}

/// `validate` refuses at their place what an apply would have failed on halfway, in the
/// instance and in the postgres component's parts alike.
#[test]
fn validate_refuses_bad_values_with_their_location() {
    use cairn_engine::compile::{compile_source, CompileOptions};
    use cairn_engine::source::SourceFile;
    let text = "stack: shop\nresources:\n  db:\n    type: aws.rds.instance\n    props:\n      identifier: Shop-DB\n      instance_class: db.t4g.micro\n      allocated_storage: 20\n      backup_retention_period: 40\n      kms_key: alias/aws/rds\n      manage_master_user_password: false\n";
    let file = SourceFile::new("stack.yaml", text.to_string());
    let rendered = match compile_source(&file, &CompileOptions { env: "dev".into(), ..Default::default() }, &crate::Schemas) {
        Ok(_) => panic!("validate accepted the stack"),
        Err(d) => d.render(&file),
    };
    for want in [
        "stack.yaml:6:",
        "`identifier` \"Shop-DB\"",
        "stack.yaml:9:",
        "`backup_retention_period` must be from 0 to 35, found 40",
        "stack.yaml:10:",
        "must be a KMS key ARN",
        "stack.yaml:11:",
        "cairn keeps no passwords",
    ] {
        assert!(rendered.contains(want), "{want:?} missing from:\n{rendered}");
    }
}

#[test]
fn backup_windows_are_checked_for_form_and_length() {
    assert!(backup_window(&json!("03:00-03:30")).is_empty());
    assert!(backup_window(&json!("23:45-00:15")).is_empty(), "across midnight");
    for bad in ["03:00-03:10", "3:00-04:00x", "25:00-01:00", "03:00/04:00"] {
        assert!(!backup_window(&json!(bad)).is_empty(), "{bad}");
    }
}

/// Props the generator can draw, plus the ones it cannot (key ARNs and backup windows
/// follow a form no character rule states; the schema's rule refuses random text).
fn accepted_props() -> impl proptest::strategy::Strategy<Value = Props> {
    use proptest::prelude::*;
    let key = proptest::option::of("[0-9a-f]{8}").prop_map(|k| k.map(|k| json!(format!("arn:aws:kms:us-east-1:123456789012:key/{k}"))));
    let window = proptest::option::of((0u32..24, 0u32..60, 30u32..600)).prop_map(|w| {
        w.map(|(h, m, len)| {
            let end = (h * 60 + m + len) % (24 * 60);
            json!(format!("{h:02}:{m:02}-{:02}:{:02}", end / 60, end % 60))
        })
    });
    let monitoring = proptest::option::of(proptest::sample::select(MONITORING_INTERVALS));
    (crate::schema_gen::props(&SCHEMA), key.clone(), key, window, monitoring).prop_map(|(mut props, kms, pi, window, monitoring)| {
        for (name, v) in [("kms_key", kms), ("performance_insights_kms_key", pi), ("preferred_backup_window", window)] {
            if let Some(v) = v {
                props.insert(name.into(), v);
            }
        }
        // An interval from AWS's list, with a role exactly when it is above 0.
        props.remove("monitoring_role_arn");
        match monitoring {
            Some(n) => {
                props.insert("monitoring_interval".into(), json!(n));
                if n > 0 {
                    props.insert("monitoring_role_arn".into(), json!("arn:aws:iam::123456789012:role/rds-monitoring"));
                }
            }
            None => {
                props.remove("monitoring_interval");
            }
        }
        props
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Every props value the schema accepts (its rules across props included) becomes a CreateDBInstance request.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(props in accepted_props()) {
        proptest::prop_assume!(crate::schema_check::accepts(&SCHEMA, &props));
        let spec = Spec::from(&desired(Value::Object(props)));
        proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
        let spec = spec.unwrap();
        proptest::prop_assert!(NAMING.rule.violation(&spec.identifier).is_none(), "{}", spec.identifier);
        proptest::prop_assert!(spec.allocated_storage > 0 && spec.wait_minutes >= 1);
    }
}

#[tokio::test]
async fn create_sends_one_call_with_tags_and_managed_password_then_waits_until_available() {
    let (created, sink) = recorder::<CreateDbInstanceInput>();
    let create = mock!(Client::create_db_instance).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        CreateDbInstanceOutput::builder().db_instance(db("creating").build()).build()
    });
    let describe = describe_sequence(&["creating", "backing-up", "available"]);
    let d = desired(base_props());
    let clock = InstantClock::default();

    let observed = kind_with_clock(&[&create, &describe], &clock).create(&d).await.unwrap();

    let input = created.lock().unwrap().pop().unwrap();
    assert_eq!(input.db_instance_identifier(), Some(ID), "the derived default identifier");
    assert_eq!((input.engine(), input.engine_version(), input.db_instance_class()), (Some("postgres"), Some("16"), Some("db.t4g.medium")));
    assert_eq!((input.allocated_storage(), input.storage_type(), input.storage_encrypted()), (Some(20), Some("gp3"), Some(true)));
    assert_eq!(input.manage_master_user_password(), Some(true));
    assert_eq!(input.master_user_password(), None, "cairn never sends a password");
    assert_eq!(input.max_allocated_storage(), None, "no autoscaling unless asked");
    assert_eq!((input.db_subnet_group_name(), input.db_parameter_group_name()), (Some("shop-dev-db-subnets"), Some("shop-dev-pg")));
    assert_eq!((input.backup_retention_period(), input.deletion_protection(), input.publicly_accessible()), (Some(7), Some(false), Some(false)));
    let tags = tags_from(input.tags());
    assert_eq!(tags.get("cairn:address").map(String::as_str), Some("db"), "ownership tags in the creating call");
    assert_eq!(tags.get(ENGINE_VERSION_TAG).map(String::as_str), Some("16"));
    assert!(describe.num_calls() >= 3, "polled until available");
    assert!(clock.elapsed_since_start() > Duration::ZERO, "the waiter slept between polls");

    assert_eq!(observed.id, ID);
    for (name, want) in d.props.iter().filter(|(n, _)| !SCHEMA.prop(n).unwrap().local) {
        let have = observed.props.get(name);
        let same = match want {
            Value::Array(w) => {
                let mut w = w.clone();
                w.sort_by_key(|v| v.to_string());
                have == Some(&Value::Array(w))
            }
            w => have == Some(w),
        };
        assert!(same, "{name}: asked {want}, read {have:?}");
    }
    assert_eq!(observed.props["engine_version"], json!("16"), "the major version the stack gave, though RDS runs 16.4");
    assert_eq!(observed.props["manage_master_user_password"], json!(true));
    assert_eq!(observed.props["skip_final_snapshot"], json!(false));
    assert!(!observed.props.contains_key("apply_immediately") && !observed.props.contains_key("wait_timeout_minutes"), "local props are never read");
    assert_eq!(observed.attrs["master_user_secret_arn"], json!(SECRET));
    assert_eq!(observed.attrs["endpoint"], json!("shop-dev-db.abc.us-east-1.rds.amazonaws.com"));
    assert_eq!(observed.attrs["port"], json!(5432));
    assert_eq!(observed.attrs["pending_modifications"], json!({}));
    assert_eq!(observed.tags, d.tags, "cairn's bookkeeping tags are not the stack's tags");
    assert_actions(CREATE_ACTIONS, &["CreateDBInstance", "AddTagsToResource", "DescribeDBInstances"]);
}

#[tokio::test]
async fn create_that_outlasts_the_timeout_is_retryable_and_says_how_to_continue() {
    let create = mock!(Client::create_db_instance).then_output(|| CreateDbInstanceOutput::builder().build());
    let describe = describe_sequence(&["creating"]);
    let clock = InstantClock::default();
    let mut props = base_props();
    props["wait_timeout_minutes"] = json!(2);

    let result = kind_with_clock(&[&create, &describe], &clock).create(&desired(props)).await;

    match result {
        Err(ProviderError::Retryable(m)) => {
            assert!(m.contains("still creating after 2 minutes") && m.contains("raise wait_timeout_minutes or re-run apply"), "{m}")
        }
        other => panic!("expected a retryable timeout, got {other:?}"),
    }
    assert!(clock.elapsed_since_start() >= Duration::from_secs(120), "waited the whole timeout: {:?}", clock.elapsed_since_start());
}

#[tokio::test]
async fn create_that_ends_failed_is_fatal() {
    let create = mock!(Client::create_db_instance).then_output(|| CreateDbInstanceOutput::builder().build());
    let describe = describe_sequence(&["creating", "incompatible-parameters"]);
    let result = kind(&[&create, &describe]).create(&desired(base_props())).await;
    assert!(matches!(&result, Err(ProviderError::Fatal(m)) if m.contains("incompatible-parameters")), "{result:?}");
}

#[tokio::test]
async fn settings_that_cannot_work_are_refused_before_any_call() {
    let k = kind(&[]);
    let with = |key: &str, value: Value| {
        let mut p = base_props();
        p[key] = value;
        desired(p)
    };
    for (d, needle) in [
        (with("manage_master_user_password", json!(false)), "cairn keeps no passwords"),
        (with("identifier", json!("Shop-DB")), "\"shop-db\""),
        (with("db_subnet_group_name", json!("Subnets")), "lowercase"),
        (with("kms_key", json!("alias/aws/rds")), "KMS key ARN"),
        (with("max_allocated_storage", json!(10)), "max_allocated_storage"),
        (with("backup_retention_period", json!(40)), "must be from 0 to 35"),
        (with("performance_insights_kms_key", json!("arn:aws:kms:us-east-1:123456789012:key/k")), "performance_insights_enabled"),
        (with("wait_timeout_minutes", json!(0)), "wait_timeout_minutes"),
        (desired(json!({"allocated_storage": 20})), "instance_class"),
    ] {
        let result = k.create(&d).await;
        assert!(matches!(&result, Err(ProviderError::Invalid(m)) if m.contains(needle)), "{needle}: {result:?}");
    }
}

#[tokio::test]
async fn read_of_missing_or_deleting_instance_is_none() {
    let missing = mock!(Client::describe_db_instances).then_error(not_found);
    assert_eq!(kind(&[&missing]).read(ID).await.unwrap(), None);
    let deleting = describe_sequence(&["deleting"]);
    assert_eq!(kind(&[&deleting]).read(ID).await.unwrap(), None);
}

#[tokio::test]
async fn read_hides_autoscaled_growth_but_not_a_manual_resize() {
    let mut tags = owner().tags();
    tags.insert(ALLOCATED_STORAGE_TAG.into(), "100".into());
    let grown = mock!(Client::describe_db_instances)
        .then_output(move || describe_output(db("available").allocated_storage(150).max_allocated_storage(1000).set_tag_list(Some(rds_tags(&tags))).build()));
    let o = kind(&[&grown]).read(ID).await.unwrap().unwrap();
    assert_eq!((o.props["allocated_storage"].clone(), o.props["max_allocated_storage"].clone()), (json!(100), json!(1000)));
    assert!(!o.tags.contains_key(ALLOCATED_STORAGE_TAG));

    let manual = mock!(Client::describe_db_instances).then_output(|| describe_output(db("available").allocated_storage(150).build()));
    let o = kind(&[&manual]).read(ID).await.unwrap().unwrap();
    assert_eq!((o.props["allocated_storage"].clone(), o.props["max_allocated_storage"].clone()), (json!(150), json!(0)));
}

#[tokio::test]
async fn read_reports_a_pinned_version_that_differs_as_the_running_one() {
    let describe = mock!(Client::describe_db_instances).then_output(|| describe_output(db("available").engine_version("16.10").build()));
    let mut tags = owner().tags();
    tags.insert(ENGINE_VERSION_TAG.into(), "16.1".into());
    let pinned = mock!(Client::describe_db_instances)
        .then_output(move || describe_output(db("available").engine_version("16.10").set_tag_list(Some(rds_tags(&tags))).build()));
    assert_eq!(kind(&[&describe]).read(ID).await.unwrap().unwrap().props["engine_version"], json!("16"));
    assert_eq!(kind(&[&pinned]).read(ID).await.unwrap().unwrap().props["engine_version"], json!("16.10"), "16.1 is not a prefix of 16.10");
}
