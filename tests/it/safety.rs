//! Guard rails through the real binary: located errors, protected resources, account guard, confirmation, exit codes.

use crate::harness::{unique, Workspace};

#[test]
fn malformed_stack_errors_point_at_file_line_column() {
    let ws = Workspace::with_stack(
        "stack: broken\nresources:\n  q:\n    type: aws.sqs.queue\n    props:\n      visibility_timeout_seconds: ${var.nope}\n      delay_secs: 3\n",
        "broken",
        "dev",
    );
    let r = ws.cairn_raw(&["validate", "--stack", &ws.stack_path().display().to_string()]);
    r.assert_code(1);
    let path = ws.stack_path().display().to_string();
    assert!(r.stderr.contains(&format!("{path}:6:37")), "reference located:\n{}", r.stderr);
    assert!(r.stderr.contains("no var named `nope`"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("{path}:7:7")), "unknown property located:\n{}", r.stderr);
    assert!(r.stderr.contains("did you mean `delay_seconds`?"), "{}", r.stderr);
    assert!(r.stderr.contains("^^^^^^^^^^"), "underlined:\n{}", r.stderr);
    assert!(r.stderr.contains("2 error(s)"), "{}", r.stderr);
}

#[test]
fn example_stack_validates_for_every_environment() {
    let root = crate::harness::repo_root();
    let ws = Workspace::with_stack("", "unused", "dev");
    let r = ws.cairn_raw(&["validate", "--stack", &root.join("examples/quickstart/stack.yaml").display().to_string()]);
    r.assert_code(0);
    assert!(r.stdout.contains("dev, staging, prod"), "{}", r.stdout);
}

#[test]
fn protected_resources_are_not_destroyed_without_an_explicit_flag() {
    let name = unique("prot");
    let stack = format!("stack: {name}\nresources:\n  keep:\n    type: aws.sqs.queue\n    lifecycle: {{ protect: true }}\n  other:\n    type: aws.sqs.queue\n");
    let ws = Workspace::with_stack(&stack, &name, "dev");
    ws.apply();
    let r = ws.cairn(&["destroy", "--auto-approve"]);
    r.assert_code(1);
    assert!(r.stderr.contains("`keep` is protected") && r.stderr.contains("--allow-destroy keep"), "{}", r.stderr);
    assert_eq!(ws.cairn(&["state", "list"]).stdout.lines().count(), 2, "nothing was deleted");
    ws.cairn(&["destroy", "--auto-approve", "--allow-destroy", "keep"]).assert_code(0);
}

#[test]
fn apply_refuses_an_account_other_than_the_environments() {
    let name = unique("acct");
    let stack = format!("stack: {name}\nenvironments:\n  prod: {{ account_id: \"999999999999\" }}\nresources:\n  q:\n    type: aws.sqs.queue\n");
    let ws = Workspace::with_stack(&stack, &name, "prod");
    let r = ws.cairn(&["apply", "--auto-approve"]);
    r.assert_code(1);
    assert!(r.stderr.contains("999999999999") && r.stderr.contains("credentials in use are for account"), "{}", r.stderr);
}

#[test]
fn apply_without_a_terminal_needs_auto_approve() {
    let name = unique("conf");
    let ws = Workspace::with_stack(&format!("stack: {name}\nresources:\n  q:\n    type: aws.sqs.queue\n"), &name, "dev");
    let r = ws.cairn(&["apply"]);
    r.assert_code(1);
    assert!(r.stderr.contains("--auto-approve"), "{}", r.stderr);
    ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(2);
}

#[test]
fn unknown_environment_is_an_error_naming_the_choices() {
    let root = crate::harness::repo_root();
    let ws = Workspace::with_stack("", "unused", "dev");
    let r = ws.cairn_raw(&["plan", "--stack", &root.join("examples/quickstart/stack.yaml").display().to_string(), "--env", "stagin"]);
    r.assert_code(1);
    assert!(r.stderr.contains("unknown environment `stagin`") && r.stderr.contains("did you mean `staging`?"), "{}", r.stderr);
}
