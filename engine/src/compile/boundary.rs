//! Pass `boundary`: puts the stack's `policy.permissions_boundary` on every role it creates, component parts included; what it finds per role goes to the `policy` pass.

use std::cell::RefCell;
use std::collections::BTreeSet;

use super::scope::LocalScope;
use super::{eval_tree, Compilation};
use crate::diag::Diagnostic;
use crate::policy_lint;

pub(super) fn run(c: &mut Compilation<'_>) {
    let base = c.resolved.base(c.spec, c.opts);
    let refs = c.table.refs(c.schemas);
    let boundary = c.spec.policy.permissions_boundary.as_ref().and_then(|n| {
        let local = LocalScope { base: &base, refs: &refs, each: None, count_index: None, deps: RefCell::new(BTreeSet::new()), self_name: "" };
        eval_tree(n, &local, c.diags)
    });
    c.boundary_findings = policy_lint::apply_boundary(&mut c.nodes, boundary.as_ref());
    for f in c.boundary_findings.iter().filter(|f| f.prop.is_empty()) {
        c.diags.push(
            Diagnostic::error(f.rule, format!("policy.permissions_boundary: {}", f.message), c.spec.policy.permissions_boundary.as_ref().map(|n| n.span))
                .help(f.hint.clone()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::after;

    #[test]
    fn without_a_boundary_nothing_changes() {
        let stack = "stack: s\nresources:\n  r: { type: aws.iam.role, props: { name: r } }\n";
        let before = after(stack, "typecheck", |c| c.nodes["r"].props.clone());
        after(stack, "boundary", |c| {
            assert_eq!(c.nodes["r"].props, before);
            assert!(c.boundary_findings.is_empty());
        });
    }

    #[test]
    fn the_stack_boundary_goes_on_every_role_and_a_bad_one_is_located() {
        let stack = "stack: s\npolicy: { permissions_boundary: \"arn:aws:iam::${account_id}:policy/b\" }\nenvironments: { dev: { account_id: \"111122223333\" } }\nresources:\n  r: { type: aws.iam.role }\n  other: { type: aws.iam.role, props: { permissions_boundary: \"arn:aws:iam::111122223333:policy/x\" } }\n";
        after(stack, "boundary", |c| {
            assert_eq!(c.nodes["r"].props["permissions_boundary"], serde_json::json!("arn:aws:iam::111122223333:policy/b"));
            assert_eq!(c.boundary_findings.iter().map(|f| f.address.as_str()).collect::<Vec<_>>(), vec!["other"]);
        });
        let bad = "stack: s\npolicy: { permissions_boundary: not-an-arn }\nresources: {}\n";
        after(bad, "boundary", |c| {
            let d = super::super::fixture::diagnostics(c);
            assert_eq!(d, vec!["2:33 iam-role-boundary: policy.permissions_boundary: `not-an-arn` is not a managed policy ARN"]);
        });
    }
}
