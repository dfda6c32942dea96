//! Tests of `aws.iam.role` against mocked IAM answers: request shapes and the calls each method makes.

use std::sync::{Arc, Mutex};

use aws_sdk_iam::operation::attach_role_policy::{AttachRolePolicyInput, AttachRolePolicyOutput};
use aws_sdk_iam::operation::create_role::{CreateRoleInput, CreateRoleOutput};
use aws_sdk_iam::operation::delete_role::DeleteRoleOutput;
use aws_sdk_iam::operation::delete_role_policy::{DeleteRolePolicyInput, DeleteRolePolicyOutput};
use aws_sdk_iam::operation::detach_role_policy::{DetachRolePolicyInput, DetachRolePolicyOutput};
use aws_sdk_iam::operation::get_role::GetRoleOutput;
use aws_sdk_iam::operation::get_role_policy::GetRolePolicyOutput;
use aws_sdk_iam::operation::list_attached_role_policies::ListAttachedRolePoliciesOutput;
use aws_sdk_iam::operation::list_instance_profiles_for_role::ListInstanceProfilesForRoleOutput;
use aws_sdk_iam::operation::list_role_policies::ListRolePoliciesOutput;
use aws_sdk_iam::operation::put_role_policy::{PutRolePolicyInput, PutRolePolicyOutput};
use aws_sdk_iam::operation::remove_role_from_instance_profile::{RemoveRoleFromInstanceProfileInput, RemoveRoleFromInstanceProfileOutput};
use aws_sdk_iam::operation::tag_role::{TagRoleInput, TagRoleOutput};
use aws_sdk_iam::operation::untag_role::{UntagRoleInput, UntagRoleOutput};
use aws_sdk_iam::primitives::DateTime;
use aws_sdk_iam::types::{AttachedPolicy, InstanceProfile, Role};
use aws_smithy_mocks::{mock, Rule};
use cairn_engine::provider::Owner;

use serde_json::json;

use super::*;
use crate::kit::mock_cases::query_error;

const NAME: &str = "shop-dev-worker";
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:ReceiveMessage","Resource":"*"}]}"#;
const BASIC: &str = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";
const XRAY: &str = "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess";

fn kind(rules: &[Rule]) -> IamRole {
    IamRole::from_client(crate::mocked_client!(aws_sdk_iam, rules))
}

fn owner() -> Owner {
    Owner { stack: "shop".into(), env: "dev".into(), address: "role.worker".into() }
}

fn desired(props: Value) -> Desired {
    Desired { props: props.as_object().unwrap().clone(), tags: owner().tags(), owner: owner(), default_name: NAME.into(), idempotency_token: "token".into() }
}

fn doc(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Requests a mock received, for asserting on their shape.
type Seen<I> = Arc<Mutex<Vec<I>>>;

/// One handle to assert on and one to move into the mock.
fn capture<I>() -> (Seen<I>, Seen<I>) {
    let seen: Seen<I> = Arc::default();
    (seen.clone(), seen)
}

/// CreateRole's answer: the role as IAM made it from the request (document URL-encoded).
fn created_role(input: &CreateRoleInput) -> CreateRoleOutput {
    let boundary = input.permissions_boundary().map(|arn| {
        aws_sdk_iam::types::AttachedPermissionsBoundary::builder()
            .permissions_boundary_arn(arn)
            .permissions_boundary_type(aws_sdk_iam::types::PermissionsBoundaryAttachmentType::Policy)
            .build()
    });
    let role = Role::builder()
        .path(input.path().unwrap_or("/"))
        .role_name(input.role_name().unwrap())
        .role_id("AROA0000")
        .arn(format!("arn:aws:iam::123456789012:role/{}", input.role_name().unwrap()))
        .create_date(DateTime::from_secs(0))
        .assume_role_policy_document(urlencoding::encode(input.assume_role_policy_document().unwrap()).into_owned())
        .set_max_session_duration(input.max_session_duration())
        .set_description(input.description().map(str::to_string))
        .set_permissions_boundary(boundary)
        .set_tags(Some(input.tags().to_vec()))
        .build()
        .unwrap();
    CreateRoleOutput::builder().role(role).build()
}

/// GetRole and the listings as IAM returns them: documents URL-encoded, managed policies unsorted.
fn read_rules(tags: Tags, inline: &[(&str, &str)], managed: &[&str]) -> Vec<Rule> {
    let get = mock!(Client::get_role).then_output(move || {
        let role = Role::builder()
            .path("/")
            .role_name(NAME)
            .role_id("AROA0000")
            .arn(format!("arn:aws:iam::123456789012:role/{NAME}"))
            .create_date(DateTime::from_secs(0))
            .assume_role_policy_document(urlencoding::encode(TRUST).into_owned())
            .max_session_duration(7200)
            .set_tags(Some(iam_tags(&tags).unwrap()))
            .build()
            .unwrap();
        GetRoleOutput::builder().role(role).build()
    });
    let inline: Vec<(String, String)> = inline.iter().map(|(n, d)| (n.to_string(), d.to_string())).collect();
    let names: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
    let list_inline =
        mock!(Client::list_role_policies).then_output(move || ListRolePoliciesOutput::builder().set_policy_names(Some(names.clone())).build().unwrap());
    let get_inline = mock!(Client::get_role_policy).then_compute_output(move |input| {
        let name = input.policy_name().unwrap();
        let text = &inline.iter().find(|(n, _)| n == name).unwrap().1;
        GetRolePolicyOutput::builder().role_name(NAME).policy_name(name).policy_document(urlencoding::encode(text).into_owned()).build().unwrap()
    });
    let managed: Vec<String> = managed.iter().map(|s| s.to_string()).collect();
    let list_managed = mock!(Client::list_attached_role_policies).then_output(move || {
        let attached = managed.iter().map(|arn| AttachedPolicy::builder().policy_arn(arn).build()).collect();
        ListAttachedRolePoliciesOutput::builder().set_attached_policies(Some(attached)).build()
    });
    vec![get, list_inline, get_inline, list_managed]
}

/// The schema refuses what the request builder refuses (the other half of the agreement test).
#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    let trust = doc(TRUST);
    for props in [
        json!({}),
        json!({"assume_role_policy": trust, "max_session_duration": 600}),
        json!({"assume_role_policy": trust, "max_session_duration": "3600"}),
        json!({"assume_role_policy": trust, "inline_policies": [doc(READ)]}),
        json!({"assume_role_policy": trust, "inline_policies": {"read orders": doc(READ)}}),
        json!({"assume_role_policy": trust, "inline_policies": {"read": 7}}),
        json!({"assume_role_policy": trust, "managed_policy_arns": XRAY}),
        json!({"assume_role_policy": trust, "managed_policy_arns": ["arn:short"]}),
        json!({"assume_role_policy": trust, "path": "service"}),
        json!({"assume_role_policy": trust, "permissions_boundary": 7}),
        json!({"assume_role_policy": trust, "description": "d".repeat(1_001)}),
    ] {
        let d = desired(props.clone());
        assert!(create_request(&d).is_err(), "builder accepts {props}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Every props value the schema accepts becomes a CreateRole request with a name IAM accepts.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
        let req = create_request(&desired(Value::Object(props)));
        proptest::prop_assert!(req.is_ok(), "{:?}", req.err());
        let req = req.unwrap();
        proptest::prop_assert!(NAMING.rule.violation(&req.name).is_none(), "{}", req.name);
        proptest::prop_assert!((3_600..=43_200).contains(&req.max_session_duration));
    }
}

#[test]
fn derived_names_fit_iam_limit() {
    let mut d = desired(json!({}));
    d.default_name = "a-very-long-stack-name-production-eu-west-1-module-worker-role-extra".into();
    assert!(role_name(&d).len() <= 64);
    d.props.insert("name".into(), json!("explicit"));
    assert_eq!(role_name(&d), "explicit");
}

#[tokio::test]
async fn create_sends_trust_policy_tags_and_policies() {
    let (created, sink) = capture::<CreateRoleInput>();
    let create = mock!(Client::create_role).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        created_role(input)
    });
    let (put, sink) = capture::<PutRolePolicyInput>();
    let put_rule = mock!(Client::put_role_policy).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        PutRolePolicyOutput::builder().build()
    });
    let (attached, sink) = capture::<AttachRolePolicyInput>();
    let attach_rule = mock!(Client::attach_role_policy).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        AttachRolePolicyOutput::builder().build()
    });
    let want = desired(json!({
        "assume_role_policy": doc(TRUST),
        "max_session_duration": 7200,
        "inline_policies": {"read": doc(READ)},
        "managed_policy_arns": [XRAY, BASIC],
    }));
    let reads = read_rules(want.tags.clone(), &[("read", READ)], &[XRAY, BASIC]);
    let mut rules = vec![create, put_rule, attach_rule];
    rules.extend(reads.iter().cloned());
    let obs = kind(&rules).create(&want).await.unwrap();
    // Create makes no read: it answers what was sent and what CreateRole answered, which is
    // what a later read returns.
    assert_eq!(reads.iter().map(Rule::num_calls).sum::<usize>(), 0);
    assert_eq!(Some(&obs), kind(&reads).read(NAME).await.unwrap().as_ref());

    let input = created.lock().unwrap().pop().unwrap();
    assert_eq!(input.role_name(), Some(NAME));
    assert_eq!(input.path(), Some("/"));
    assert_eq!(input.max_session_duration(), Some(7200));
    assert_eq!(input.description(), None);
    assert_eq!(doc(input.assume_role_policy_document().unwrap()), doc(TRUST));
    let sent: Tags = input.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
    assert_eq!(sent, want.tags);

    let put = put.lock().unwrap();
    assert_eq!(put.len(), 1);
    assert_eq!((put[0].policy_name(), doc(put[0].policy_document().unwrap())), (Some("read"), doc(READ)));
    let mut arns: Vec<String> = attached.lock().unwrap().iter().map(|i| i.policy_arn().unwrap().to_string()).collect();
    arns.sort();
    assert_eq!(arns, [XRAY, BASIC]);

    assert_eq!(obs.id, NAME);
    assert_eq!(obs.tags, want.tags);
}

#[tokio::test]
async fn read_decodes_documents_and_sorts_managed_arns() {
    let obs = kind(&read_rules(owner().tags(), &[("read", READ)], &[BASIC, XRAY])).read(NAME).await.unwrap().unwrap();
    assert_eq!(
        Value::Object(obs.props),
        json!({
            "name": NAME,
            "path": "/",
            "description": "",
            "assume_role_policy": doc(TRUST),
            "max_session_duration": 7200,
            "inline_policies": {"read": doc(READ)},
            "managed_policy_arns": [XRAY, BASIC],
        })
    );
    assert_eq!(obs.attrs["unique_id"], json!("AROA0000"));
    assert_eq!(obs.tags, owner().tags());
}

#[tokio::test]
async fn read_of_missing_role_is_none() {
    let get = mock!(Client::get_role).then_http_response(query_error(404, "NoSuchEntity"));
    assert_eq!(kind(&[get]).read(NAME).await.unwrap(), None);
}

#[tokio::test]
async fn delete_of_missing_role_is_ok() {
    let list = mock!(Client::list_attached_role_policies).then_http_response(query_error(404, "NoSuchEntity"));
    kind(&[list]).delete(NAME).await.unwrap();
}

#[tokio::test]
async fn delete_empties_the_role_first() {
    let (detached, sink) = capture::<DetachRolePolicyInput>();
    let detach = mock!(Client::detach_role_policy).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        DetachRolePolicyOutput::builder().build()
    });
    let (deleted, sink) = capture::<DeleteRolePolicyInput>();
    let delete_inline = mock!(Client::delete_role_policy).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        DeleteRolePolicyOutput::builder().build()
    });
    let profiles = mock!(Client::list_instance_profiles_for_role).then_output(|| {
        let profile = InstanceProfile::builder()
            .path("/")
            .instance_profile_name("worker-profile")
            .instance_profile_id("AIPA0000")
            .arn("arn:aws:iam::123456789012:instance-profile/worker-profile")
            .create_date(DateTime::from_secs(0))
            .set_roles(Some(vec![]))
            .build()
            .unwrap();
        ListInstanceProfilesForRoleOutput::builder().instance_profiles(profile).build().unwrap()
    });
    let (removed, sink) = capture::<RemoveRoleFromInstanceProfileInput>();
    let remove = mock!(Client::remove_role_from_instance_profile).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        RemoveRoleFromInstanceProfileOutput::builder().build()
    });
    let delete = mock!(Client::delete_role).then_output(|| DeleteRoleOutput::builder().build());
    let mut rules = read_rules(owner().tags(), &[("read", READ)], &[BASIC]);
    rules.extend([detach, delete_inline, profiles, remove, delete.clone()]);
    kind(&rules).delete(NAME).await.unwrap();

    assert_eq!(detached.lock().unwrap()[0].policy_arn(), Some(BASIC));
    assert_eq!(deleted.lock().unwrap()[0].policy_name(), Some("read"));
    assert_eq!(removed.lock().unwrap()[0].instance_profile_name(), Some("worker-profile"));
    assert_eq!(delete.num_calls(), 1);
}

#[tokio::test]
async fn update_syncs_policies_and_only_touches_what_changed() {
    let (put, sink) = capture::<PutRolePolicyInput>();
    let put_rule = mock!(Client::put_role_policy).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        PutRolePolicyOutput::builder().build()
    });
    let (deleted, sink) = capture::<DeleteRolePolicyInput>();
    let delete_inline = mock!(Client::delete_role_policy).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        DeleteRolePolicyOutput::builder().build()
    });
    let (attached, sink) = capture::<AttachRolePolicyInput>();
    let attach = mock!(Client::attach_role_policy).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        AttachRolePolicyOutput::builder().build()
    });
    let (detached, sink) = capture::<DetachRolePolicyInput>();
    let detach = mock!(Client::detach_role_policy).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        DetachRolePolicyOutput::builder().build()
    });
    let mut rules = read_rules(owner().tags(), &[("read", READ), ("old", READ)], &[BASIC]);
    rules.extend([put_rule, delete_inline, attach, detach]);
    let want = desired(json!({
        "assume_role_policy": doc(TRUST),
        // "read" is unchanged (given as text this time), "new" is added, "old" goes.
        "inline_policies": {"read": READ, "new": doc(READ)},
        "managed_policy_arns": [XRAY],
    }));
    kind(&rules).update(NAME, &want, &["inline_policies".into(), "managed_policy_arns".into()]).await.unwrap();

    assert_eq!(put.lock().unwrap().iter().map(|i| i.policy_name().unwrap()).collect::<Vec<_>>(), ["new"]);
    assert_eq!(deleted.lock().unwrap().iter().map(|i| i.policy_name().unwrap()).collect::<Vec<_>>(), ["old"]);
    assert_eq!(attached.lock().unwrap().iter().map(|i| i.policy_arn().unwrap()).collect::<Vec<_>>(), [XRAY]);
    assert_eq!(detached.lock().unwrap().iter().map(|i| i.policy_arn().unwrap()).collect::<Vec<_>>(), [BASIC]);
}

#[tokio::test]
async fn update_of_tags_adds_and_removes_the_difference() {
    let mut current = owner().tags();
    current.insert("old".into(), "1".into());
    let (tagged, sink) = capture::<TagRoleInput>();
    let tag = mock!(Client::tag_role).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        TagRoleOutput::builder().build()
    });
    let (untagged, sink) = capture::<UntagRoleInput>();
    let untag = mock!(Client::untag_role).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        UntagRoleOutput::builder().build()
    });
    let mut rules = read_rules(current, &[], &[]);
    rules.extend([tag, untag]);
    let mut want = desired(json!({"assume_role_policy": doc(TRUST)}));
    want.tags.insert("team".into(), "payments".into());
    kind(&rules).update(NAME, &want, &["tags".into()]).await.unwrap();

    let tagged = tagged.lock().unwrap();
    let sent: Vec<(&str, &str)> = tagged[0].tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(sent, [("team", "payments")]);
    assert_eq!(untagged.lock().unwrap()[0].tag_keys(), ["old".to_string()]);
}

#[tokio::test]
async fn find_owned_requires_the_ownership_tags() {
    let want = desired(json!({"assume_role_policy": doc(TRUST)}));
    assert!(kind(&read_rules(owner().tags(), &[], &[])).find_owned(&want).await.unwrap().is_some());
    assert!(kind(&read_rules(Tags::new(), &[], &[])).find_owned(&want).await.unwrap().is_none());
}

const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/workload-boundary";

#[tokio::test]
async fn create_sends_the_permissions_boundary_and_read_returns_it() {
    let (created, sink) = capture::<CreateRoleInput>();
    let create = mock!(Client::create_role).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        created_role(input)
    });
    let get = mock!(Client::get_role).then_output(|| {
        let boundary = aws_sdk_iam::types::AttachedPermissionsBoundary::builder()
            .permissions_boundary_arn(BOUNDARY)
            .permissions_boundary_type(aws_sdk_iam::types::PermissionsBoundaryAttachmentType::Policy)
            .build();
        let role = Role::builder()
            .path("/")
            .role_name(NAME)
            .role_id("AROA0000")
            .arn(format!("arn:aws:iam::123456789012:role/{NAME}"))
            .create_date(DateTime::from_secs(0))
            .assume_role_policy_document(urlencoding::encode(TRUST).into_owned())
            .permissions_boundary(boundary)
            .build()
            .unwrap();
        GetRoleOutput::builder().role(role).build()
    });
    let mut rules = vec![create, get];
    rules.extend(read_rules(owner().tags(), &[], &[]).into_iter().skip(1));
    let want = desired(json!({ "assume_role_policy": doc(TRUST), "permissions_boundary": BOUNDARY }));
    let obs = kind(&rules).create(&want).await.unwrap();
    assert_eq!(created.lock().unwrap()[0].permissions_boundary(), Some(BOUNDARY));
    assert_eq!(obs.props["permissions_boundary"], json!(BOUNDARY));
    assert_eq!(rules[1].num_calls(), 0, "create reads nothing back");
    let read = kind(&rules[1..]).read(NAME).await.unwrap().unwrap();
    assert_eq!(obs.props, read.props);
}

#[tokio::test]
async fn update_sets_the_boundary_before_the_policies_and_removes_it_when_dropped() {
    use aws_sdk_iam::operation::delete_role_permissions_boundary::DeleteRolePermissionsBoundaryOutput;
    use aws_sdk_iam::operation::put_role_permissions_boundary::PutRolePermissionsBoundaryOutput;
    let order: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let (o1, o2, o3) = (order.clone(), order.clone(), order.clone());
    let put_boundary = mock!(Client::put_role_permissions_boundary).then_compute_output(move |input| {
        assert_eq!(input.permissions_boundary(), Some(BOUNDARY));
        o1.lock().unwrap().push("boundary");
        PutRolePermissionsBoundaryOutput::builder().build()
    });
    let put_policy = mock!(Client::put_role_policy).then_compute_output(move |_| {
        o2.lock().unwrap().push("policy");
        PutRolePolicyOutput::builder().build()
    });
    let delete_boundary = mock!(Client::delete_role_permissions_boundary).then_compute_output(move |_| {
        o3.lock().unwrap().push("removed");
        DeleteRolePermissionsBoundaryOutput::builder().build()
    });
    let mut rules = read_rules(owner().tags(), &[], &[]);
    rules.extend([put_boundary, put_policy, delete_boundary]);
    let k = kind(&rules);
    let want = desired(json!({ "assume_role_policy": doc(TRUST), "permissions_boundary": BOUNDARY, "inline_policies": { "read": doc(READ) } }));
    k.update(NAME, &want, &["inline_policies".into(), "permissions_boundary".into()]).await.unwrap();
    let dropped = desired(json!({ "assume_role_policy": doc(TRUST) }));
    k.update(NAME, &dropped, &["permissions_boundary".into()]).await.unwrap();
    assert_eq!(*order.lock().unwrap(), ["boundary", "policy", "removed"]);
}

fn already_exists() -> Rule {
    let meta = aws_smithy_types::error::ErrorMetadata::builder().code("EntityAlreadyExists").message("Role with name exists.").build();
    mock!(Client::create_role).then_error(move || aws_sdk_iam::operation::create_role::CreateRoleError::generic(meta.clone()))
}

#[tokio::test]
async fn create_answered_already_exists_adopts_our_role() {
    let create = already_exists();
    let mut rules = read_rules(owner().tags(), &[], &[]);
    rules.push(create.clone());
    let want = desired(json!({"assume_role_policy": doc(TRUST), "max_session_duration": 7200}));
    assert_eq!(kind(&rules).create(&want).await.unwrap().id, NAME);
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn create_answered_already_exists_refuses_a_role_that_is_not_ours() {
    let mut rules = read_rules(Tags::new(), &[], &[]);
    rules.push(already_exists());
    let want = desired(json!({"assume_role_policy": doc(TRUST), "max_session_duration": 7200}));
    crate::adopt::testing::assert_refused(kind(&rules).create(&want).await, &format!("IAM role {NAME}"));
}

/// The two account-wide listings for `names`: `NAME` with the inline policy `read`, both
/// managed policies and the ownership tags, the others bare. One page each.
fn listing_rules(names: &[&str]) -> Vec<Rule> {
    use aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput;
    use aws_sdk_iam::operation::list_roles::ListRolesOutput;
    use aws_sdk_iam::types::{PolicyDetail, RoleDetail};
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let listed = names.clone();
    let details = mock!(Client::get_account_authorization_details).then_output(move || {
        let roles = names
            .iter()
            .map(|name| {
                let ours = name == NAME;
                let inline = ours.then(|| vec![PolicyDetail::builder().policy_name("read").policy_document(urlencoding::encode(READ).into_owned()).build()]);
                let managed = ours.then(|| [XRAY, BASIC].iter().map(|arn| AttachedPolicy::builder().policy_arn(*arn).build()).collect());
                RoleDetail::builder()
                    .path("/")
                    .role_name(name)
                    .role_id("AROA0000")
                    .arn(format!("arn:aws:iam::123456789012:role/{name}"))
                    .assume_role_policy_document(urlencoding::encode(TRUST).into_owned())
                    .set_role_policy_list(inline)
                    .set_attached_managed_policies(managed)
                    .set_tags(ours.then(|| iam_tags(&owner().tags()).unwrap()))
                    .build()
            })
            .collect();
        GetAccountAuthorizationDetailsOutput::builder().set_role_detail_list(Some(roles)).is_truncated(false).build()
    });
    let list = mock!(Client::list_roles).then_output(move || {
        let roles = listed
            .iter()
            .map(|name| {
                Role::builder()
                    .path("/")
                    .role_name(name)
                    .role_id("AROA0000")
                    .arn(format!("arn:aws:iam::123456789012:role/{name}"))
                    .create_date(DateTime::from_secs(0))
                    .assume_role_policy_document(urlencoding::encode(TRUST).into_owned())
                    .max_session_duration(7200)
                    .build()
                    .unwrap()
            })
            .collect();
        ListRolesOutput::builder().set_roles(Some(roles)).is_truncated(false).build().unwrap()
    });
    vec![details, list]
}

#[tokio::test]
async fn read_many_of_five_roles_is_two_calls_and_reads_what_read_reads() {
    let others = ["shop-dev-a", "shop-dev-b", "shop-dev-c", "shop-dev-d"];
    let mut names = vec![NAME];
    names.extend(others);
    let listings = listing_rules(&names);
    let singles = read_rules(owner().tags(), &[("read", READ)], &[BASIC, XRAY]);
    let mut rules = listings.clone();
    rules.extend(singles.iter().cloned());
    let mut ids: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    ids.push("shop-dev-gone".into());

    let got = kind(&rules).read_many(&ids).await.unwrap();

    assert_eq!(listings.iter().map(Rule::num_calls).collect::<Vec<_>>(), [1, 1]);
    assert_eq!(singles.iter().map(Rule::num_calls).sum::<usize>(), 0, "no role is read on its own");
    assert_eq!(got.len(), 6);
    assert_eq!(got["shop-dev-gone"], None);
    for other in others {
        let obs = got[other].as_ref().unwrap();
        assert_eq!(obs.props["inline_policies"], json!({}));
        assert_eq!(obs.props["max_session_duration"], json!(7200));
        assert!(obs.tags.is_empty());
    }
    // Every prop, attr and tag the single read has, from the listings.
    let single = kind(&singles).read(NAME).await.unwrap();
    assert_eq!(got[NAME], single);
}

#[tokio::test]
async fn read_many_of_a_small_batch_reads_each_role() {
    let listings = listing_rules(&[NAME]);
    let mut rules = listings.clone();
    rules.extend(read_rules(owner().tags(), &[("read", READ)], &[BASIC]));
    let ids = [NAME.to_string()];
    let got = kind(&rules).read_many(&ids).await.unwrap();
    assert_eq!(listings.iter().map(Rule::num_calls).sum::<usize>(), 0, "the account-wide listings are not worth it for one role");
    assert_eq!(got[NAME].as_ref().unwrap().props["managed_policy_arns"], json!([BASIC]));
}

#[tokio::test]
async fn read_many_reads_alone_a_role_only_one_listing_shows() {
    // Made between the two listings: ListRoles has it, the authorization details do not.
    let others = ["shop-dev-a", "shop-dev-b", "shop-dev-c"];
    let details = listing_rules(&others).swap_remove(0);
    let list = listing_rules(&[NAME, others[0], others[1], others[2]]).swap_remove(1);
    let mut rules = vec![details, list];
    let singles = read_rules(owner().tags(), &[], &[]);
    rules.extend(singles.iter().cloned());
    let ids: Vec<String> = [NAME, "shop-dev-a", "shop-dev-b"].iter().map(|n| n.to_string()).collect();
    let got = kind(&rules).read_many(&ids).await.unwrap();
    assert_eq!(singles[0].num_calls(), 1);
    assert_eq!(got[NAME].as_ref().unwrap().tags, owner().tags());
}
