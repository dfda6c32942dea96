//! `cairn import terraform` end to end for S3, SQS, SNS, KMS and IAM, plus the helpers every family's test shares.
//!
//! `tests/fixtures/tfimport/data_iam.py` creates the resources in the emulator the way the
//! Terraform AWS provider would (boto3, from the emulator's venv) and writes the state the
//! provider (v5) records for them. cairn imports that state without writing to AWS; the plan
//! against the same emulator must then show nothing but the tags cairn adds to what it manages
//! (`cairn:stack`/`cairn:env`/`cairn:address` and `Env`: adding them is a write, which import
//! never makes), and once those are applied the plan is a no-op.
//!
//! Other families' fixtures (a script taking `PREFIX OUT.tfstate`) use [`terraform_state`],
//! [`import`] and [`assert_tag_only_then_no_op`] the same way.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{endpoint, repo_root, unique, Run, Workspace};

/// The emulator's venv Python (boto3 comes with moto), installed by `localstack/moto.sh` if needed.
pub fn python() -> PathBuf {
    let status = Command::new("bash").arg(repo_root().join("localstack/moto.sh")).arg("install").status().expect("run localstack/moto.sh install");
    assert!(status.success(), "localstack/moto.sh install failed");
    let venv = std::env::var_os("CAIRN_MOTO_VENV").map(PathBuf::from).unwrap_or_else(|| {
        let cache =
            std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
        cache.join("cairn/moto-venv-5.2.5")
    });
    venv.join("bin/python")
}

/// Runs `tests/fixtures/tfimport/SCRIPT PREFIX OUT` against the emulator: it creates resources named after `prefix`
/// and writes their Terraform state to `out`.
pub fn terraform_state(script: &str, prefix: &str, out: &Path) {
    let result = Command::new(python())
        .arg(repo_root().join("tests/fixtures/tfimport").join(script))
        .arg(prefix)
        .arg(out)
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run the fixture script");
    assert!(result.status.success(), "{script} failed:\n{}\n{}", String::from_utf8_lossy(&result.stdout), String::from_utf8_lossy(&result.stderr));
}

/// `cairn import terraform --tfstate TFSTATE --env ENV --out STACK [extra]`.
pub fn import(ws: &Workspace, tfstate: &Path, stack: &Path, extra: &[&str]) -> Run {
    let (tfstate, stack) = (tfstate.display().to_string(), stack.display().to_string());
    let mut args = vec!["import", "terraform", "--tfstate", &tfstate, "--env", &ws.env, "--out", &stack];
    args.extend(extra);
    ws.cairn_raw(&args)
}

/// The plan after an import changes nothing but tags cairn adds (ownership tags and `Env`, never
/// another key, never a property); once applied, the plan is a no-op.
pub fn assert_tag_only_then_no_op(ws: &Workspace, stack: &Path) {
    let stack_arg = stack.display().to_string();
    let text = std::fs::read_to_string(stack).expect("the stack was written");
    let plan = ws.cairn_raw(&["plan", "--json", "--stack", &stack_arg, "--env", &ws.env]);
    plan.assert_code(0);
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap_or_else(|e| panic!("plan --json is not JSON ({e}):\n{}", plan.stdout));
    let actions = json["plan"]["actions"].as_array().cloned().unwrap_or_default();
    let mut updates = 0;
    for a in &actions {
        let action = a["action"].as_str().unwrap_or_default();
        if action == "no_op" {
            continue;
        }
        assert_eq!(action, "update", "the plan after import does more than update tags:\n{a:#}\n--- stack\n{text}");
        updates += 1;
        for c in a["changes"].as_array().into_iter().flatten() {
            let path = c["path"].as_str().unwrap_or_default();
            assert!(
                path.starts_with("tags[\"cairn:") || path == "tags[\"Env\"]",
                "the plan after import changes {path} of {}:\n{c:#}\n--- plan\n{:#}\n--- stack\n{text}",
                a["address"],
                json["plan"]["actions"]
            );
            assert!(c["before"].is_null(), "a tag the resource already has is changed: {c:#}");
        }
    }
    assert!(updates > 0, "a taggable resource made by Terraform carries no cairn ownership tags, so the first plan must add them");
    ws.cairn_raw(&["apply", "--auto-approve", "--stack", &stack_arg, "--env", &ws.env]).assert_code(0);
    let plan = ws.cairn_raw(&["plan", "--detailed-exitcode", "--stack", &stack_arg, "--env", &ws.env]);
    assert_eq!(plan.code, 0, "the plan after applying the tag-only changes is not a no-op\n--- stack\n{text}\n--- plan\n{}\n{}", plan.stdout, plan.stderr);
}

#[test]
fn s3_sqs_sns_kms_and_iam_import_from_terraform_and_plan_only_ownership_tags() {
    let prefix = unique("tfd");
    let ws = Workspace::with_stack("", &prefix, "dev");
    let tfstate = ws.dir.path().join("terraform.tfstate");
    terraform_state("data_iam.py", &prefix, &tfstate);
    let stack = ws.dir.path().join("imported.yaml");

    // A dry run prints the stack and the table, and writes nothing.
    let dry = import(&ws, &tfstate, &stack, &["--dry-run"]);
    dry.assert_code(0);
    assert!(dry.stdout.contains("resources:") && dry.stdout.contains("Terraform → cairn"), "{}", dry.stdout);
    assert!(!stack.exists(), "--dry-run wrote the stack");
    assert!(!ws.dir.path().join(".cairn").exists(), "--dry-run wrote state");

    let run = import(&ws, &tfstate, &stack, &[]);
    run.assert_code(0);
    let report = &run.stdout;
    assert!(report.contains("aws_cloudwatch_log_group: aws_cloudwatch_log_group.app"), "the log group is not reported as left out:\n{report}");
    assert!(report.contains("Skipped data sources: data.aws_caller_identity.current"), "{report}");
    assert!(report.contains("terraform state rm") && report.contains("module.storage.aws_s3_bucket_versioning.logs"), "{report}");

    let text = std::fs::read_to_string(&stack).expect("the stack was written");
    for kind in
        ["aws.s3.bucket", "aws.kms.key", "aws.sqs.queue", "aws.sns.topic", "aws.sns.subscription", "aws.iam.role", "aws.iam.policy", "aws.iam.oidc_provider"]
    {
        assert!(text.contains(&format!("type: {kind}")), "no {kind} in the stack:\n{text}");
    }
    // Split resources are folded into their parent; ARNs of imported resources are references.
    assert!(text.contains("alias: alias/") && text.contains("versioning: true") && text.contains("read-logs:"), "{text}");
    // (A resource's own ARN in its own policy stays literal: a reference to itself would be a cycle.)
    assert!(!text.contains("arn:aws:sns:") && !text.contains("arn:aws:kms:"), "an ARN was copied instead of referenced:\n{text}");
    for reference in
        ["${jobs_dlq.arn}", "${events.arn}", "${storage_data.arn}", "${storage_data.id}", "${consume.arn}", "${jobs_queue.arn}", "${storage_logs.arn}/*"]
    {
        assert!(text.contains(reference), "no {reference} in the stack:\n{text}");
    }
    assert!(text.contains("for_each:"), "the for_each queues are not one block:\n{text}");
    // default_tags (Project, Owner) are the stack's tags; the provider's default max_session_duration is left out.
    assert!(text.contains("tags:\n  Owner: platform-team\n  Project: LegacyPlatform\n"), "{text}");

    // `terraform show -json` output of the same state gives the same stack.
    let show = ws.dir.path().join("show.json");
    std::fs::write(&show, show_json(&std::fs::read_to_string(&tfstate).expect("read the state")).to_string()).expect("write show.json");
    let from_show = import(&ws, &show, &stack, &["--dry-run"]);
    from_show.assert_code(0);
    let body = |t: &str| t.lines().skip(1).map(|l| format!("{l}\n")).collect::<String>();
    assert!(body(&from_show.stdout).starts_with(&body(&text)), "show -json gives another stack:\n{}\n--- from the state file\n{text}", from_show.stdout);

    // Imported resources are in state; importing again is refused rather than duplicated.
    let again = ws.dir.path().join("again.yaml");
    let refused = import(&ws, &tfstate, &again, &["--stack-name", "imported"]);
    refused.assert_code(1);
    assert!(refused.stderr.contains("already manages") && !again.exists(), "{}", refused.stderr);

    assert_tag_only_then_no_op(&ws, &stack);
}

/// What `terraform show -json` prints for a state file: resources with full addresses under
/// `values.root_module`, modules as `child_modules`.
fn show_json(state: &str) -> serde_json::Value {
    use serde_json::{json, Value};
    let state: Value = serde_json::from_str(state).expect("state JSON");
    let mut root: Vec<Value> = vec![];
    let mut modules: std::collections::BTreeMap<String, Vec<Value>> = std::collections::BTreeMap::new();
    for r in state["resources"].as_array().into_iter().flatten() {
        let module = r["module"].as_str().unwrap_or_default().to_string();
        let data = if r["mode"] == "data" { "data." } else { "" };
        for i in r["instances"].as_array().into_iter().flatten() {
            let index = match &i["index_key"] {
                Value::Null => String::new(),
                Value::String(k) => format!("[{}]", Value::String(k.clone())),
                other => format!("[{other}]"),
            };
            let prefix = if module.is_empty() { String::new() } else { format!("{module}.") };
            let mut res = json!({
                "address": format!("{prefix}{data}{}.{}{index}", r["type"].as_str().unwrap_or_default(), r["name"].as_str().unwrap_or_default()),
                "mode": r["mode"], "type": r["type"], "name": r["name"], "provider_name": "registry.terraform.io/hashicorp/aws",
                "schema_version": i["schema_version"], "values": i["attributes"], "sensitive_values": {}
            });
            if !i["index_key"].is_null() {
                res["index"] = i["index_key"].clone();
            }
            if module.is_empty() {
                root.push(res);
            } else {
                modules.entry(module.clone()).or_default().push(res);
            }
        }
    }
    let children: Vec<Value> = modules.into_iter().map(|(address, resources)| json!({"address": address, "resources": resources})).collect();
    json!({"format_version": "1.0", "terraform_version": "1.7.5", "values": {"outputs": {}, "root_module": {"resources": root, "child_modules": children}}})
}
