//! Checks mapped resources against what AWS holds, and writes the import report (mapping table, what was left out, next steps).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::writer::Row;
use super::{Input, Mapped, Output, TfInstance};
use crate::provider::{Observed, ResourceSchema, Tags};

/// Brings a mapped resource in line with what its kind read from AWS: the kind's own id, and
/// settings Terraform's state does not record (taken from AWS when they differ from cairn's
/// default, so that the plan does not change them). Where Terraform recorded one value and
/// AWS holds another, Terraform's value is kept (it is what the configuration declares) and a
/// note says that the plan will set it.
pub fn reconcile(m: &mut Mapped, observed: &Observed, schema: &ResourceSchema) {
    m.id = observed.id.clone();
    m.attrs.insert("id".into(), observed.id.clone());
    for (k, v) in &observed.attrs {
        if let Some(s) = v.as_str().filter(|s| !s.is_empty()) {
            m.attrs.entry(k.clone()).or_insert_with(|| s.to_string());
        }
    }
    for p in schema.props.iter().filter(|p| !p.local) {
        let have = observed.props.get(p.name);
        let default = p.default.and_then(|d| serde_json::from_str::<Value>(d).ok());
        match (m.props.get(p.name), have) {
            (Some(want), have) => {
                if !crate::diff::same(p.ty, want, have) {
                    let note = format!(
                        "{}: Terraform's state records {} but AWS holds {}; the stack keeps Terraform's value, so the plan sets it",
                        p.name,
                        short(want),
                        have.map(short).unwrap_or_else(|| "nothing".into())
                    );
                    m.notes.push(note);
                }
            }
            (None, Some(have)) => {
                if default.is_some_and(|d| !crate::diff::same(p.ty, &d, Some(have))) {
                    m.props.insert(p.name.to_string(), have.clone());
                    m.notes.push(format!("{}: not in Terraform's state; written as AWS holds it ({})", p.name, short(have)));
                }
            }
            (None, None) => {}
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!("{}…", &s[..s.char_indices().nth(77).map(|(i, _)| i).unwrap_or(s.len())])
    } else {
        s
    }
}

/// One resource's tag difference between the stack (compiled) and AWS.
#[derive(Debug, Clone, PartialEq)]
pub struct TagGap {
    pub address: String,
    /// Keys the first apply adds or changes.
    pub set: Vec<String>,
    /// Keys the first apply removes.
    pub remove: Vec<String>,
}

/// The tag keys that differ between the compiled stack's tags and the tags AWS holds.
pub fn tag_gap(address: &str, desired: &Tags, observed: &Tags) -> Option<TagGap> {
    let set: Vec<String> = desired.iter().filter(|(k, v)| observed.get(*k) != Some(v)).map(|(k, _)| k.clone()).collect();
    let remove: Vec<String> = observed.keys().filter(|k| !k.starts_with("aws:") && !desired.contains_key(*k)).cloned().collect();
    (!set.is_empty() || !remove.is_empty()).then(|| TagGap { address: address.to_string(), set, remove })
}

/// Property changes the first plan will show for one resource, worked out from the compiled
/// stack (which may add what cairn wires itself, e.g. a key policy statement) and what AWS holds.
/// Properties that reference other resources are resolved only by the plan and are skipped here.
pub fn prop_changes(schema: &ResourceSchema, desired: &crate::provider::Props, observed: &Observed, ignore: &[String]) -> Vec<String> {
    crate::plan::diff_resource(schema.props, false, desired, &Tags::new(), observed, ignore)
        .into_iter()
        .filter(|c| !c.after.as_ref().is_some_and(|a| crate::expr::contains_unknown(a) || a.to_string().contains("${")))
        .map(|c| format!("{}{}", c.path, if c.forces_replacement { " (forces replacement)" } else { "" }))
        .collect()
}

/// Everything the report says.
pub struct ReportInput<'a> {
    pub input: &'a Input,
    pub out: &'a Output,
    pub rows: &'a [Row],
    /// Mapped resources that AWS does not hold (Terraform addresses, kind, id).
    pub missing: &'a [(Vec<String>, String, String)],
    pub tag_gaps: &'a [TagGap],
    /// Property changes the first plan will show: (address, changed properties).
    pub prop_changes: &'a [(String, Vec<String>)],
    pub stack_path: &'a str,
    pub env: &'a str,
    pub dry_run: bool,
}

/// The report as text: mapping table, notes, what was left out, the expected plan, next steps.
pub fn render(r: &ReportInput) -> String {
    let mut s = String::new();
    let unmapped: Vec<&TfInstance> = super::unmapped(r.input, r.out);
    let _ = writeln!(s, "Terraform → cairn ({} resources from {} Terraform resources):", r.rows.len(), r.rows.iter().map(|row| row.tf.len()).sum::<usize>());
    let width = r.rows.iter().map(|row| row.address.len()).max().unwrap_or(0);
    for row in r.rows {
        let _ = writeln!(s, "  {:width$}  {:22}  {}  ← {}", row.address, row.kind, row.id, row.tf.join(", "));
    }
    let mapped_types: std::collections::BTreeSet<&str> =
        r.input.instances.iter().filter(|i| r.out.consumed.contains(&i.address)).map(|i| i.ty.as_str()).collect();
    if !mapped_types.is_empty() {
        let _ = writeln!(s, "\nTerraform types mapped: {}", mapped_types.into_iter().collect::<Vec<_>>().join(", "));
    }
    let notes: Vec<String> = r
        .rows
        .iter()
        .flat_map(|row| row.notes.iter().map(move |n| format!("{}: {n}", row.address)))
        .chain(r.out.notes.iter().map(|(a, n)| format!("{a}: {n}")))
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(s, "\nNotes:");
        for n in notes {
            let _ = writeln!(s, "  - {n}");
        }
    }
    if !r.missing.is_empty() {
        let _ = writeln!(s, "\nIn Terraform's state but not in AWS (left out of the stack; Terraform would re-create them):");
        for (tf, kind, id) in r.missing {
            let _ = writeln!(s, "  - {} ({kind} {id})", tf.join(", "));
        }
    }
    if !unmapped.is_empty() {
        let mut by_type: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for i in &unmapped {
            by_type.entry(i.ty.as_str()).or_default().push(i.address.as_str());
        }
        let _ = writeln!(s, "\nLeft out, by Terraform type (cairn has no kind for it, or a note above says why); they stay managed by Terraform:");
        for (ty, addrs) in by_type {
            let _ = writeln!(s, "  - {ty}: {}", addrs.join(", "));
        }
    }
    if !r.input.data_sources.is_empty() {
        let _ = writeln!(s, "\nSkipped data sources: {}", r.input.data_sources.join(", "));
    }
    if !r.prop_changes.is_empty() {
        let _ = writeln!(s, "\nExpected plan: property changes (see the notes above for why; review them before applying):");
        for (address, props) in r.prop_changes {
            let _ = writeln!(s, "  - {address}: {}", props.join(", "));
        }
    }
    if !r.tag_gaps.is_empty() {
        let _ = writeln!(
            s,
            "\nExpected plan: tag-only updates on {} resource(s). cairn marks what it manages with the `cairn:stack`, `cairn:env` and \
             `cairn:address` tags (and `Env`), which resources made by Terraform do not carry yet; they cannot be added without \
             writing to AWS, which import never does:",
            r.tag_gaps.len()
        );
        for g in r.tag_gaps {
            let mut parts = vec![];
            if !g.set.is_empty() {
                parts.push(format!("adds {}", g.set.join(", ")));
            }
            if !g.remove.is_empty() {
                parts.push(format!("removes {}", g.remove.join(", ")));
            }
            let _ = writeln!(s, "  - {}: {}", g.address, parts.join("; "));
        }
    } else if r.prop_changes.is_empty() {
        let _ = writeln!(s, "\nExpected plan: no changes.");
    }
    let stack = r.stack_path;
    let env = r.env;
    let _ = writeln!(s, "\nNext steps:");
    if r.dry_run {
        let _ = writeln!(s, "  0. This was a dry run: nothing was written. Run again without --dry-run to write {stack} and record state.");
    }
    let _ = writeln!(s, "  1. Review the plan: cairn plan --stack {stack} --env {env} --detailed-exitcode");
    if r.prop_changes.is_empty() {
        let _ = writeln!(s, "  2. Apply the tag-only changes it shows (nothing else should change): cairn apply --stack {stack} --env {env}");
    } else {
        let _ = writeln!(
            s,
            "  2. Edit {stack} until the plan shows only tag changes (or accept the property changes listed above), then apply: cairn apply --stack {stack} --env {env}"
        );
    }
    let moved: Vec<String> = r.rows.iter().flat_map(|row| row.tf.iter()).map(|a| shell_quote(a)).collect();
    if !moved.is_empty() {
        let _ = writeln!(s, "  3. Make Terraform forget what moved (it stays in AWS, now managed by cairn):");
        let _ = writeln!(s, "     terraform state rm {}", moved.join(" "));
    }
    if !unmapped.is_empty() {
        let _ = writeln!(s, "  4. Keep the {} left-out resource(s) in Terraform, or manage them by hand.", unmapped.len());
    }
    s
}

/// Quotes a Terraform address for a POSIX shell when it contains `"` or brackets.
fn shell_quote(a: &str) -> String {
    if a.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::input;
    use super::*;
    use crate::provider::{PropSpec, PropType};
    use serde_json::json;

    static Q: ResourceSchema = ResourceSchema {
        kind: "aws.sqs.queue",
        doc: "",
        props: &[
            PropSpec::new("name", PropType::String, ""),
            PropSpec::new("delay_seconds", PropType::Int, "").default("0"),
            PropSpec::new("max_message_size", PropType::Int, "").default("1048576"),
            PropSpec::new("policy", PropType::Policy, ""),
        ],
        attrs: &["arn"],
        taggable: true,
        rules: &[],
    };

    #[test]
    fn reconcile_fills_what_terraform_did_not_record_and_names_drift() {
        let input = input(json!([{"type": "aws_sqs_queue", "name": "q", "attributes": {}}]));
        let mut m = Mapped::new(&input.instances[0], "aws.sqs.queue", "q");
        m.prop("name", json!("q")).prop("delay_seconds", json!(5));
        let observed = Observed {
            id: "https://sqs/q".into(),
            props: json!({"name": "q", "delay_seconds": 0, "max_message_size": 262144, "policy": {"Statement": []}}).as_object().cloned().unwrap(),
            attrs: json!({"arn": "arn:aws:sqs:us-east-1:1:q"}).as_object().cloned().unwrap(),
            tags: Tags::new(),
        };
        reconcile(&mut m, &observed, &Q);
        assert_eq!(m.id, "https://sqs/q");
        assert_eq!(m.props["max_message_size"], json!(262144));
        // A setting without a default stays unmanaged when Terraform did not record it.
        assert!(!m.props.contains_key("policy"));
        assert_eq!(m.attrs["arn"], "arn:aws:sqs:us-east-1:1:q");
        assert_eq!(m.notes.len(), 2, "{:?}", m.notes);
        assert!(m.notes[0].starts_with("delay_seconds: Terraform's state records 5 but AWS holds 0"), "{:?}", m.notes);
    }

    #[test]
    fn predicted_changes_skip_references() {
        let observed = Observed {
            id: "q".into(),
            props: json!({"name": "q", "delay_seconds": 0, "max_message_size": 1048576}).as_object().cloned().unwrap(),
            ..Observed::default()
        };
        let desired = json!({"name": "q", "delay_seconds": 5, "policy": {"Statement": [{"Resource": "${other.arn}"}]}}).as_object().cloned().unwrap();
        assert_eq!(prop_changes(&Q, &desired, &observed, &[]), ["delay_seconds"]);
        assert!(prop_changes(&Q, &desired, &observed, &["delay_seconds".to_string()]).is_empty());
    }

    #[test]
    fn report_lists_mapping_left_out_types_and_next_steps() {
        let input = input(json!([
            {"type": "aws_sqs_queue", "name": "q", "attributes": {}},
            {"type": "aws_lambda_function", "name": "f", "attributes": {}},
            {"type": "aws_sqs_queue_policy", "name": "q", "index": "x", "attributes": {}}
        ]));
        let out = Output { consumed: ["aws_sqs_queue.q".to_string(), "aws_sqs_queue_policy.q[\"x\"]".to_string()].into(), ..Output::default() };
        let rows = vec![Row {
            address: "q".into(),
            kind: "aws.sqs.queue".into(),
            id: "https://sqs/q".into(),
            tf: vec!["aws_sqs_queue.q".into(), "aws_sqs_queue_policy.q[\"x\"]".into()],
            notes: vec!["max_message_size: not in Terraform's state".into()],
        }];
        let gaps =
            vec![tag_gap("q", &Tags::from([("cairn:stack".into(), "s".into()), ("Team".into(), "a".into())]), &Tags::from([("Team".into(), "a".into())]))
                .unwrap()];
        let text = render(&ReportInput {
            input: &input,
            out: &out,
            rows: &rows,
            missing: &[],
            tag_gaps: &gaps,
            prop_changes: &[],
            stack_path: "stack.yaml",
            env: "prod",
            dry_run: false,
        });
        insta::assert_snapshot!(text);
    }
}
