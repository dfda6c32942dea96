//! Secret values through the real binary: a Secrets Manager secret and a SecureString parameter whose values come from an environment variable and a file, and never appear in state, plans, plan files or logs.

use std::path::Path;

use crate::harness::{runtime, sdk_config, unique, Workspace};

const SECRET: &str = "it-Secret-Value-7f3a91c2";
const ROTATED: &str = "it-Rotated-Value-0b8e44d1";
const PARAM_SECRET: &str = "it-Param-Secret-5c2d7e90";

/// Every file under `dir` (the state's SQLite files included), as bytes, searched for `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = vec![];
    let Ok(entries) = std::fs::read_dir(dir) else { return hits };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            hits.extend(files_containing(&p, needle));
        } else if let Ok(bytes) = std::fs::read(&p) {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

#[track_caller]
fn assert_hidden(what: &str, text: &str) {
    for v in [SECRET, ROTATED, PARAM_SECRET] {
        assert!(!text.contains(v), "{what} contains a secret value:\n{text}");
    }
}

#[test]
fn secret_values_never_reach_state_plans_or_logs() {
    let name = unique("sec");
    let stack = format!(
        "stack: {name}\nresources:\n  db_password:\n    type: aws.secretsmanager.secret\n    props: {{ name: {name}-db, recovery_window_in_days: 0, value_from: {{ env: CAIRN_IT_DB_PASSWORD }} }}\n  api_key:\n    type: aws.ssm.parameter\n    props: {{ name: /{name}/api-key, type: SecureString, value_from: {{ file: api-key.txt }} }}\n  api_url:\n    type: aws.ssm.parameter\n    props: {{ name: /{name}/api-url, value: \"https://api.example.com\" }}\n"
    );
    let ws = Workspace::with_stack(&stack, &name, "dev");

    // Without the variable: a located error saying what to set.
    std::fs::write(ws.dir.path().join("api-key.txt"), PARAM_SECRET).unwrap();
    let missing = ws.cairn(&["validate"]);
    assert_ne!(missing.code, 0, "{}", missing.stderr);
    assert!(missing.stderr.contains("CAIRN_IT_DB_PASSWORD") && missing.stderr.contains("not set"), "{}", missing.stderr);
    assert!(missing.stderr.contains("stack.yaml:5:"), "{}", missing.stderr);

    let env = [("CAIRN_IT_DB_PASSWORD", SECRET), ("RUST_LOG", "debug")];
    let plan_file = ws.dir.path().join("secrets.plan");
    let p = plan_file.display().to_string();
    let text = ws.cairn_with(&["plan", "--out", &p], &env);
    text.assert_code(0);
    assert_hidden("plan text", &text.stdout);
    assert_hidden("plan stderr", &text.stderr);
    assert!(text.stdout.contains("= (sensitive)"), "{}", text.stdout);
    let json = ws.cairn_with(&["plan", "--json"], &env);
    json.assert_code(0);
    assert_hidden("plan JSON", &json.stdout);
    assert_hidden("plan file", &std::fs::read_to_string(&plan_file).unwrap());

    let applied = ws.cairn_with(&["apply", &p], &env);
    applied.assert_code(0);
    assert_hidden("apply stdout", &applied.stdout);
    assert_hidden("apply stderr at RUST_LOG=debug", &applied.stderr);
    let clean = ws.cairn_with(&["plan", "--detailed-exitcode"], &env);
    clean.assert_code(0);

    // What AWS holds is the value itself.
    let (secret, param) = runtime().block_on(async {
        let c = sdk_config().await;
        let sm = aws_sdk_secretsmanager::Client::new(&c);
        let ssm = aws_sdk_ssm::Client::new(&c);
        let s = sm.get_secret_value().secret_id(format!("{name}-db")).send().await.expect("GetSecretValue");
        let p = ssm.get_parameter().name(format!("/{name}/api-key")).with_decryption(true).send().await.expect("GetParameter");
        (s.secret_string().unwrap_or_default().to_string(), p.parameter().and_then(|p| p.value()).unwrap_or_default().to_string())
    });
    assert_eq!(secret, SECRET);
    assert_eq!(param, PARAM_SECRET);

    // A new value is an in-place update that still shows only that it changed.
    let env2 = [("CAIRN_IT_DB_PASSWORD", ROTATED), ("RUST_LOG", "debug")];
    let changed = ws.cairn_with(&["plan", "--detailed-exitcode"], &env2);
    changed.assert_code(2);
    assert!(changed.stdout.contains("db_password will be updated in-place"), "{}", changed.stdout);
    assert!(!changed.stdout.contains("api_key will be"), "{}", changed.stdout);
    assert!(changed.stdout.contains("value") && changed.stdout.contains("= (sensitive, changed)"), "{}", changed.stdout);
    assert!(!changed.stdout.contains("hmac-sha256:"), "{}", changed.stdout);
    assert_hidden("changed plan", &changed.stdout);
    let applied = ws.cairn_with(&["apply", "--auto-approve"], &env2);
    applied.assert_code(0);
    assert_hidden("second apply stderr at RUST_LOG=debug", &applied.stderr);
    let rotated = runtime().block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&sdk_config().await);
        sm.get_secret_value().secret_id(format!("{name}-db")).send().await.expect("GetSecretValue").secret_string().unwrap_or_default().to_string()
    });
    assert_eq!(rotated, ROTATED);
    ws.cairn_with(&["plan", "--detailed-exitcode"], &env2).assert_code(0);

    assert!(ws.dir.path().join(".cairn").is_dir(), "the state lives in .cairn/");
    for v in [SECRET, ROTATED, PARAM_SECRET] {
        let hits = files_containing(&ws.dir.path().join(".cairn"), v);
        assert!(hits.is_empty(), "state files hold a secret value: {hits:?}");
    }
    let destroyed = ws.cairn_with(&["destroy", "--auto-approve"], &env2);
    destroyed.assert_code(0);
    assert_hidden("destroy stderr", &destroyed.stderr);
}

#[test]
fn the_deploy_policy_covers_both_kinds_on_their_exact_arns() {
    let name = unique("secp");
    let stack = format!(
        "stack: {name}\nresources:\n  db_password:\n    type: aws.secretsmanager.secret\n    props: {{ name: {name}-db, value_from: {{ env: HOME }} }}\n  api_key:\n    type: aws.ssm.parameter\n    props: {{ name: /{name}/api-key, type: SecureString, value_from: {{ env: HOME }} }}\n"
    );
    let ws = Workspace::with_stack(&stack, &name, "dev");
    let r = ws.cairn(&["iam-policy", "--for", "apply", "--account-id", "123456789012"]);
    r.assert_code(0);
    let policy: serde_json::Value = serde_json::from_str(&r.stdout).expect("policy JSON");
    let text = policy.to_string();
    assert!(text.contains(&format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-db-??????")), "{text}");
    assert!(text.contains(&format!("arn:aws:ssm:us-east-1:123456789012:parameter/{name}/api-key")), "{text}");
    let problems = cairn_engine::iam_policy::audit(&policy, &name, "dev");
    assert!(problems.is_empty(), "{problems:#?}");

    let actions = crate::harness::run_cairn_plain(&["iam-actions", "--json"]);
    actions.assert_code(0);
    let all: serde_json::Value = serde_json::from_str(&actions.stdout).expect("iam-actions JSON");
    let mut called = std::collections::BTreeSet::new();
    collect_actions(&all, &mut called);
    let ours: Vec<&String> = called.iter().filter(|a| a.starts_with("secretsmanager:") || a.starts_with("ssm:")).collect();
    assert!(ours.len() >= 15, "{ours:?}");
    for a in ours {
        assert!(text.contains(&format!("\"{a}\"")), "the deploy policy lacks {a}: {text}");
    }
}

fn collect_actions(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        serde_json::Value::String(s) if s.contains(':') && !s.contains(' ') => {
            out.insert(s.clone());
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_actions(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| collect_actions(x, out)),
        _ => {}
    }
}
