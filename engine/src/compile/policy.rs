//! Pass `policy`: the IAM policy lint over every node's policies and the `boundary` pass's findings, minus the exceptions the stack records.

use super::Compilation;
use crate::diag::Diagnostic;
use crate::policy_lint;

pub(super) fn run(c: &mut Compilation<'_>) {
    for node in c.nodes.values() {
        for f in policy_lint::check_node(node).into_iter().chain(c.boundary_findings.iter().filter(|f| f.address == node.address).cloned()) {
            let excepted = c.spec.policy.exceptions.iter().any(|e| e.rule.value == f.rule && (e.address.value == node.address || e.address.value == node.name));
            if excepted {
                continue;
            }
            let span = node.prop_spans.get(&f.prop).copied().unwrap_or(node.span);
            c.diags.push(
                Diagnostic::error(f.rule, format!("`{}` {}: {}", f.address, f.location, f.message), span)
                    .help(format!("{}; or record an exception: policy.exceptions: [{{ rule: {}, address: {}, reason: \"...\" }}]", f.hint, f.rule, node.name)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{after, diagnostics};

    const ROLE: &str = "  admin:
    type: aws.iam.role
    props:
      managed_policy_arns: [\"arn:aws:iam::aws:policy/AdministratorAccess\"]
";

    #[test]
    fn lint_findings_are_located_at_the_property() {
        let stack = format!("stack: s\nresources:\n{ROLE}");
        after(&stack, "policy", |c| {
            let lint: Vec<String> = diagnostics(c).into_iter().filter(|d| d.contains("iam-admin-policy")).collect();
            assert_eq!(lint, vec!["6:7 iam-admin-policy: `admin` managed_policy_arns: attaches arn:aws:iam::aws:policy/AdministratorAccess"]);
        });
    }

    #[test]
    fn a_recorded_exception_silences_the_rule() {
        let stack = format!("stack: s\npolicy:\n  exceptions: [{{ rule: iam-admin-policy, address: admin, reason: break-glass }}]\nresources:\n{ROLE}");
        after(&stack, "policy", |c| assert!(!diagnostics(c).iter().any(|d| d.contains("iam-admin-policy")), "{:?}", diagnostics(c)));
    }
}
