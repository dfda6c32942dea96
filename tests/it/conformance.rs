//! The kind conformance suite: every registered kind is created, updated and deleted under each injected fault and crashed at every journal step, and must converge with exactly what its fixture declares.
//!
//! Fixtures live in `tests/fixtures/conformance/<kind>.yaml` (`@STACK@` is the unique stack
//! name, `@ALB_ARN@` a load balancer made with the SDK). What exists is counted through the
//! SDK by ownership tag or name prefix (`inventory`), never through cairn.

mod inventory;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::faults::{FaultProxy, Faults};
use crate::harness::{run_cairn_plain, runtime, unique, Run, Workspace};

/// Where a kind's conformance runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emulator {
    Moto,
    /// moto lacks the API; the same checks run against aws-smithy-mocks in this resources test.
    Mocked(&'static str),
}

pub struct Fixture {
    pub kind: &'static str,
    pub stack: &'static str,
    /// Text replacements that turn the fixture into its update variant.
    pub update: &'static [(&'static str, &'static str)],
    pub emulator: Emulator,
}

macro_rules! fixture {
    ($kind:literal, [$($pair:expr),* $(,)?]) => {
        Fixture { kind: $kind, stack: include_str!(concat!("../fixtures/conformance/", $kind, ".yaml")), update: &[$($pair),*], emulator: Emulator::Moto }
    };
}

const TAG_ONE: (&str, &str) = ("Conformance: one", "Conformance: two");

pub static FIXTURES: &[Fixture] = &[
    fixture!("aws.kms.key", [("enable_key_rotation: false", "enable_key_rotation: true")]),
    fixture!("aws.s3.bucket", [("target_prefix: one/", "target_prefix: two/"), ("storage_class: STANDARD }", "storage_class: STANDARD_IA }")]),
    fixture!("aws.sqs.queue", [("visibility_timeout_seconds: 30", "visibility_timeout_seconds: 60")]),
    fixture!("aws.sns.topic", [("conformance one", "conformance two")]),
    fixture!("aws.sns.subscription", [("raw_message_delivery: false", "raw_message_delivery: true")]),
    fixture!("aws.iam.role", [("description: conformance one", "description: conformance two")]),
    fixture!("aws.iam.policy", [("@STACK@-one", "@STACK@-two")]),
    fixture!("aws.iam.oidc_provider", [("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")]),
    fixture!("aws.ec2.vpc", [("enable_dns_hostnames: true", "enable_dns_hostnames: false")]),
    fixture!("aws.ec2.subnet", [("availability_zone: us-east-1b }", "availability_zone: us-east-1b, map_public_ip_on_launch: true }")]),
    fixture!("aws.ec2.internet_gateway", [TAG_ONE]),
    fixture!("aws.ec2.eip", [TAG_ONE]),
    fixture!("aws.ec2.nat_gateway", [TAG_ONE]),
    fixture!("aws.ec2.route_table", [("routes: []", "routes: [{ destination_cidr_block: 0.0.0.0/0, gateway_id: \"${igw.id}\" }]")]),
    fixture!(
        "aws.ec2.security_group",
        [("ingress:\n", "ingress:\n        - { protocol: tcp, from_port: 80, to_port: 80, cidr_blocks: [10.0.0.0/8], description: http }\n")]
    ),
    fixture!("aws.eks.cluster", [("enabled_log_types: [audit]", "enabled_log_types: [audit, api]")]),
    fixture!("aws.eks.nodegroup", [("desired_size: 1", "desired_size: 2"), ("max_unavailable_percentage: 33", "max_unavailable: 2")]),
    Fixture { kind: "aws.eks.access_entry", stack: "", update: &[], emulator: Emulator::Mocked("cairn-resources eks_access_entry::tests") },
    Fixture { kind: "aws.eks.addon", stack: "", update: &[], emulator: Emulator::Mocked("cairn-resources eks_addon::tests") },
    Fixture { kind: "aws.eks.pod_identity_association", stack: "", update: &[], emulator: Emulator::Mocked("cairn-resources eks_pod_identity::tests") },
    fixture!("aws.rds.subnet_group", [TAG_ONE]),
    fixture!("aws.rds.parameter_group", [("value: \"500\"", "value: \"1000\"")]),
    fixture!("aws.rds.instance", [("instance_class: db.t4g.micro", "instance_class: db.t4g.small")]),
    fixture!("aws.wafv2.ip_set", [("[\"203.0.113.0/24\"]", "[\"203.0.113.0/24\", \"198.51.100.7/32\"]")]),
    fixture!("aws.wafv2.web_acl", [("limit: 2000", "limit: 1000")]),
    fixture!("aws.wafv2.web_acl_association", [("web_acl_arn: \"${acl.arn}\"", "web_acl_arn: \"${acl_two.arn}\"")]),
    fixture!("aws.wafv2.logging_configuration", [("[{ single_header: authorization }]", "[{ single_header: authorization }, { single_header: cookie }]")]),
    fixture!("aws.logs.log_group", [("retention_in_days: 7", "retention_in_days: 14")]),
    fixture!("aws.ecr.repository", [("scan_on_push: false", "scan_on_push: true"), ("countNumber: 14", "countNumber: 30")]),
    fixture!("aws.secretsmanager.secret", [("conformance one", "conformance two")]),
    fixture!("aws.ssm.parameter", [("https://one.example.com", "https://two.example.com")]),
    fixture!("aws.backup.vault", [("force_destroy: false", "force_destroy: true")]),
    // moto has no UpdateBackupPlan: the update here is a tag change; the rule changes are tested with mocks.
    fixture!("aws.backup.plan", [TAG_ONE]),
    Fixture { kind: "aws.backup.selection", stack: "", update: &[], emulator: Emulator::Mocked("cairn-resources backup_selection::tests") },
    fixture!("aws.cloudtrail.trail", [("enable_log_file_validation: false", "enable_log_file_validation: true")]),
    // The CloudWatch SDK speaks RPC v2 CBOR: localstack/cloudwatch_cbor.py answers it from moto's backend.
    fixture!("aws.cloudwatch.metric_alarm", [("threshold: \"0\"", "threshold: \"5\""), TAG_ONE]),
    // moto has no UpdateCertificateOptions, and the options cannot change anyway: the update is a tag change.
    fixture!("aws.acm.certificate", [TAG_ONE]),
    fixture!("aws.acm.certificate_validation", [TAG_ONE]),
    fixture!("aws.route53.zone", [("comment: conformance one", "comment: conformance two")]),
    fixture!("aws.route53.record", [("records: [\"192.0.2.1\"]", "records: [\"192.0.2.1\", \"192.0.2.2\"]")]),
];

fn fixture(kind: &str) -> &'static Fixture {
    FIXTURES.iter().find(|f| f.kind == kind).unwrap_or_else(|| panic!("no conformance fixture for {kind}"))
}

/// The IAM actions each kind calls per operation (`cairn iam-actions --json`), as API operation names.
fn kind_operations() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let r = run_cairn_plain(&["iam-actions", "--json"]);
    r.assert_code(0);
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("iam-actions --json is not JSON ({e}):\n{}", r.stdout));
    parse_kind_operations(&v)
}

/// Accepts `{kind: {operation: [actions]}}` or a list of `{kind|type, operations|actions}` objects.
fn parse_kind_operations(v: &Value) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let entries: Vec<(String, Value)> = match v {
        Value::Object(m) if m.contains_key("kinds") => return parse_kind_operations(&m["kinds"]),
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(|e| {
                let kind = e.get("kind").or_else(|| e.get("type")).and_then(Value::as_str)?;
                let ops = e.get("operations").or_else(|| e.get("actions")).cloned().unwrap_or(Value::Null);
                Some((kind.to_string(), ops))
            })
            .collect(),
        _ => vec![],
    };
    entries
        .into_iter()
        .map(|(kind, ops)| {
            let ops = ops
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(op, actions)| {
                            let names = actions
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(Value::as_str)
                                .map(|a| a.split_once(':').map(|(_, n)| n).unwrap_or(a).to_string())
                                .collect();
                            (op.clone(), names)
                        })
                        .collect()
                })
                .unwrap_or_default();
            (kind, ops)
        })
        .collect()
}

#[test]
fn every_registered_kind_has_a_conformance_fixture() {
    let registered: BTreeSet<String> = kind_operations().into_keys().collect();
    assert!(registered.len() >= 25, "cairn iam-actions --json lists {} kinds: {registered:?}", registered.len());
    let covered: BTreeSet<String> = FIXTURES.iter().map(|f| f.kind.to_string()).collect();
    let missing: Vec<&String> = registered.difference(&covered).collect();
    assert!(missing.is_empty(), "registered kinds without a conformance fixture in tests/it/conformance.rs: {missing:?}");
    let stale: Vec<&String> = covered.difference(&registered).collect();
    assert!(stale.is_empty(), "conformance fixtures for kinds that are not registered: {stale:?}");
    for f in FIXTURES.iter().filter(|f| f.emulator == Emulator::Moto) {
        assert!(f.stack.contains(&format!("type: {}", f.kind)), "the fixture of {} does not create one", f.kind);
        assert!(!f.update.is_empty(), "the fixture of {} has no update variant", f.kind);
        for (from, _) in f.update {
            assert!(f.stack.contains(from), "the update of {} replaces {from:?}, which its fixture does not contain", f.kind);
        }
    }
}

/// A kind moto cannot run (`Emulator::Mocked`) is exempt from the suite only because its
/// resources test module drives each operation of the kind contract against aws-smithy-mocks.
#[test]
fn every_mocked_kind_has_mock_tests_for_each_operation() {
    for f in FIXTURES {
        let Emulator::Mocked(module) = f.emulator else { continue };
        let path = module.strip_prefix("cairn-resources ").and_then(|m| m.strip_suffix("::tests")).unwrap_or_else(|| panic!("{}: {module:?}", f.kind));
        let dir = crate::harness::repo_root().join("resources/src");
        let own = std::fs::read_to_string(dir.join(format!("{path}.rs"))).unwrap_or_else(|e| panic!("{}: {path}.rs: {e}", f.kind));
        // The tests: a `_tests.rs` file of their own, else the module's `mod tests`.
        let tests = std::fs::read_to_string(dir.join(format!("{path}_tests.rs")))
            .unwrap_or_else(|_| own.split_once("mod tests").map(|(_, t)| t.to_string()).unwrap_or_default());
        assert!(tests.contains("mock!("), "{}: {module} has no aws-smithy-mocks tests", f.kind);
        for call in [".create(", ".read(", ".update(", ".delete(", ".find_owned("] {
            assert!(tests.contains(call), "{}: {module} never calls {call}..) against mocks, and moto cannot run it", f.kind);
        }
    }
}

/// The kinds a stack text declares, with how many of each.
pub fn declared(text: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(kind) = line.trim().strip_prefix("type: ") {
            *out.entry(kind.trim().to_string()).or_insert(0) += 1;
        }
    }
    out
}

/// Runs cairn through `proxy` until it succeeds, at most twice; panics with both runs' output otherwise.
pub fn converge(ws: &Workspace, proxy: &FaultProxy, args: &[&str], what: &str) -> u32 {
    let ep = proxy.endpoint();
    let mut runs: Vec<Run> = vec![];
    for attempt in 1..=2 {
        let r = ws.cairn_with(args, &[("AWS_ENDPOINT_URL", ep.as_str())]);
        if r.code == 0 {
            return attempt;
        }
        runs.push(r);
    }
    let text: String = runs.iter().enumerate().map(|(i, r)| format!("--- run {} exited {}\n{}\n{}\n", i + 1, r.code, r.stdout, r.stderr)).collect();
    panic!("{what}: did not converge within two runs ({:?})\n{text}", proxy.stats().by_operation.iter().filter(|(_, s)| s.faulted() > 0).collect::<Vec<_>>());
}

/// Re-plan with no faults must show no changes.
pub fn assert_no_op(ws: &Workspace, extra: &[&str], what: &str) {
    let mut args = vec!["plan", "--detailed-exitcode"];
    args.extend(extra);
    let r = ws.cairn(&args);
    assert_eq!(r.code, 0, "{what}: re-plan is not a no-op\n{}\n{}", r.stdout, r.stderr);
}

/// The workspace's emulator holds exactly `want` of each kind owned by its stack.
pub fn assert_holds(ws: &Workspace, want: &BTreeMap<String, usize>, what: &str) {
    let stack = &ws.stack_name;
    let got = runtime().block_on(inventory::count_all(&ws.endpoint(), stack, want.keys().map(String::as_str)));
    assert_eq!(&got, want, "{what}: the emulator holds {got:?} for stack {stack}, the stack declares {want:?}");
}

pub fn empty(want: &BTreeMap<String, usize>) -> BTreeMap<String, usize> {
    want.keys().map(|k| (k.clone(), 0)).collect()
}

fn modes() -> [(&'static str, Faults); 4] {
    [("lost", Faults::lost(0.3, 11)), ("throttle", Faults::throttle(0.3, 12)), ("5xx", Faults::server_error(0.3, 13)), ("reset", Faults::reset(0.3, 14))]
}

/// Everything a fixture needs that is not a cairn kind (a load balancer to associate with).
struct Extras {
    alb: Option<(String, inventory::Scratch)>,
}

impl Extras {
    fn for_fixture(f: &Fixture) -> Extras {
        let alb = f.stack.contains("@ALB_ARN@").then(|| runtime().block_on(inventory::scratch_alb()));
        Extras { alb }
    }

    fn render(&self, template: &str, stack: &str) -> String {
        let mut t = template.replace("@STACK@", stack);
        if let Some((arn, _)) = &self.alb {
            t = t.replace("@ALB_ARN@", arn);
        }
        t
    }
}

impl Drop for Extras {
    fn drop(&mut self) {
        if let Some((_, scratch)) = self.alb.take() {
            runtime().block_on(scratch.delete());
        }
    }
}

fn update_of(f: &Fixture) -> String {
    f.update.iter().fold(f.stack.to_string(), |t, (from, to)| t.replace(from, to))
}

/// Operation names the kind calls for `phase` ("create", "update", "delete").
fn phase_ops(ops: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>, kind: &str, phase: &str) -> BTreeSet<String> {
    ops.get(kind).and_then(|m| m.get(phase)).cloned().unwrap_or_default()
}

/// Create, update and delete `f` under one fault mode, each converging within two runs.
fn lifecycle_under_fault(f: &Fixture, extras: &Extras, ops: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>, mode: &str, faults: Faults) {
    let stack = unique("cf");
    let ws = Workspace::with_stack(&extras.render(f.stack, &stack), &stack, "dev");
    let want = declared(f.stack);
    let proxy = FaultProxy::start(&ws.endpoint(), faults.clone());
    let kind = f.kind;
    let mut unhit = vec![];
    for phase in ["create", "update", "delete"] {
        let names = phase_ops(ops, kind, phase);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        proxy.force_first(&names);
        let before = proxy.stats();
        let what = format!("{kind} {phase} under {mode}");
        proxy.set_faults(faults.clone());
        match phase {
            "create" => {
                converge(&ws, &proxy, &["apply", "--auto-approve"], &what);
            }
            "update" => {
                ws.edit(|_| extras.render(&update_of(f), &stack));
                converge(&ws, &proxy, &["apply", "--auto-approve"], &what);
            }
            _ => {
                converge(&ws, &proxy, &["destroy", "--auto-approve"], &what);
            }
        }
        proxy.set_faults(Faults::none());
        let after = proxy.stats();
        let hit = names.iter().any(|n| after.op(n).faulted() > before.op(n).faulted());
        if !hit && !names.is_empty() {
            unhit.push(format!("{phase} ({names:?}; seen: {:?})", after.by_operation.keys().collect::<Vec<_>>()));
        }
        let faulted: Vec<_> =
            after.by_operation.iter().filter(|(op, s)| s.faulted() > before.op(op).faulted()).map(|(op, s)| (op.clone(), s.clone())).collect();
        eprintln!("{what}: faults met by {faulted:?}");
        if phase == "delete" {
            assert_holds(&ws, &empty(&want), &what);
            let list = ws.cairn(&["state", "list"]);
            assert!(list.stdout.trim().is_empty(), "{what}: state still lists\n{}", list.stdout);
        } else {
            assert_holds(&ws, &want, &what);
            assert_no_op(&ws, &[], &what);
        }
    }
    assert!(unhit.is_empty(), "{kind} under {mode}: the fault never hit the kind's own calls in {unhit:?}");
}

/// Crashes the create at journal write N = 1, 2, ... until a run completes; each crash is followed by a clean re-apply, checks, and destroy.
fn crash_at_every_journal_step(f: &Fixture, extras: &Extras) {
    let stack = unique("cc");
    let ws = Workspace::with_stack(&extras.render(f.stack, &stack), &stack, "dev");
    let want = declared(f.stack);
    let proxy = FaultProxy::start(&ws.endpoint(), Faults::none());
    for n in 1..=64u32 {
        let what = format!("{} crashed after journal write {n}", f.kind);
        let n_text = n.to_string();
        let crashed = ws.cairn_with(&["apply", "--auto-approve"], &[("CAIRN_TEST_CRASH_AFTER_JOURNAL_WRITES", n_text.as_str())]);
        let completed = crashed.code == 0;
        if !completed {
            // The hook aborts the process, so there is no exit code, only the signal.
            assert_eq!(crashed.code, -1, "{what}: the run failed instead of crashing\n{}\n{}", crashed.stdout, crashed.stderr);
            converge(&ws, &proxy, &["apply", "--auto-approve"], &what);
        }
        assert_holds(&ws, &want, &what);
        assert_no_op(&ws, &[], &what);
        converge(&ws, &proxy, &["destroy", "--auto-approve"], &format!("{what}, destroy"));
        assert_holds(&ws, &empty(&want), &format!("{what}, destroy"));
        if completed {
            return;
        }
    }
    panic!("{}: the apply still crashed after 64 journal writes", f.kind);
}

fn conform(kind: &str) {
    let f = fixture(kind);
    let ops = kind_operations();
    let extras = Extras::for_fixture(f);
    for (mode, faults) in modes() {
        lifecycle_under_fault(f, &extras, &ops, mode, faults);
    }
    crash_at_every_journal_step(f, &extras);
}

macro_rules! conformance_tests {
    ($($name:ident => $kind:literal),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                conform($kind);
            }
        )*
    };
}

conformance_tests! {
    kms_key => "aws.kms.key",
    s3_bucket => "aws.s3.bucket",
    sqs_queue => "aws.sqs.queue",
    sns_topic => "aws.sns.topic",
    sns_subscription => "aws.sns.subscription",
    iam_role => "aws.iam.role",
    iam_policy => "aws.iam.policy",
    iam_oidc_provider => "aws.iam.oidc_provider",
    ec2_vpc => "aws.ec2.vpc",
    ec2_subnet => "aws.ec2.subnet",
    ec2_internet_gateway => "aws.ec2.internet_gateway",
    ec2_eip => "aws.ec2.eip",
    ec2_nat_gateway => "aws.ec2.nat_gateway",
    ec2_route_table => "aws.ec2.route_table",
    ec2_security_group => "aws.ec2.security_group",
    eks_cluster => "aws.eks.cluster",
    eks_nodegroup => "aws.eks.nodegroup",
    rds_subnet_group => "aws.rds.subnet_group",
    rds_parameter_group => "aws.rds.parameter_group",
    rds_instance => "aws.rds.instance",
    wafv2_ip_set => "aws.wafv2.ip_set",
    wafv2_web_acl => "aws.wafv2.web_acl",
    wafv2_web_acl_association => "aws.wafv2.web_acl_association",
    wafv2_logging_configuration => "aws.wafv2.logging_configuration",
    logs_log_group => "aws.logs.log_group",
    ecr_repository => "aws.ecr.repository",
    secretsmanager_secret => "aws.secretsmanager.secret",
    ssm_parameter => "aws.ssm.parameter",
    backup_vault => "aws.backup.vault",
    backup_plan => "aws.backup.plan",
    cloudtrail_trail => "aws.cloudtrail.trail",
    cloudwatch_metric_alarm => "aws.cloudwatch.metric_alarm",
    acm_certificate => "aws.acm.certificate",
    acm_certificate_validation => "aws.acm.certificate_validation",
    route53_zone => "aws.route53.zone",
    route53_record => "aws.route53.record",
}
