//! Pass `grants`: turns `grants` on roles into the inline policy `cairn-grants` (exact actions on exact ARNs), so the plan shows the policy that will be written.

use super::Compilation;
use crate::diag::Diagnostic;

pub(super) fn run(c: &mut Compilation<'_>) {
    for (address, problems) in crate::grants::expand_all(&mut c.nodes) {
        let span = c.nodes.get(&address).map(|n| n.prop_spans.get("grants").copied().unwrap_or(n.span));
        for p in problems {
            c.diags.push(
                Diagnostic::error("grant", format!("`{address}`: {p}"), span)
                    .help(format!("grants look like [{{ consume: ${{queue.arn}} }}]; verbs: {}", crate::grants::VERBS.join(", "))),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{after, diagnostics};

    #[test]
    fn a_grant_that_cannot_compile_is_reported_at_grants() {
        let stack = "stack: s\nresources:\n  k: { type: fake.key }\n  role:\n    type: aws.iam.role\n    props:\n      grants: [{ fly: \"${k.arn}\" }]\n";
        after(stack, "grants", |c| {
            let grants: Vec<String> = diagnostics(c).into_iter().filter(|d| d.contains(" grant: ")).collect();
            assert_eq!(grants.len(), 1, "{:?}", diagnostics(c));
            assert!(grants[0].starts_with("7:7 grant: `role`: "), "{grants:?}");
            assert!(!c.nodes["role"].props.contains_key("grants"), "grants never reach AWS as such");
        });
    }
}
