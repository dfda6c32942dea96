//! The apply-time run of a kind's schema checks: values known only at apply (`${...}`) were not checked at validate.

use cairn_engine::provider::{Props, ProviderError, ResourceSchema};
use cairn_engine::typecheck::{self, Seg};

/// Checks `props` against `schema` (required props included) before a request is built, so a
/// value the schema refuses never reaches AWS, whatever it became at apply.
pub fn check(schema: &ResourceSchema, props: &Props) -> Result<(), ProviderError> {
    check_only(schema, props, None)
}

/// Like `check`, limited to the top-level props in `only` when given (an update that sends
/// just the changed ones); required props are then not demanded.
pub fn check_only(schema: &ResourceSchema, props: &Props, only: Option<&[&str]>) -> Result<(), ProviderError> {
    let problems: Vec<String> = typecheck::check_props(schema, props, only.is_none())
        .into_iter()
        .filter(|v| match (only, v.path.first()) {
            (Some(names), Some(Seg::Key(k))) if !v.whole => names.contains(&k.as_str()),
            _ => true,
        })
        .map(|v| if v.whole { v.message } else { format!("`{}` {}", typecheck::path_text(&v.path), v.message) })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ProviderError::Invalid(format!("{}: {}", schema.kind, problems.join("; "))))
    }
}

/// Whether the schema accepts `props` (the test half of each kind's agreement test).
#[cfg(test)]
pub fn accepts(schema: &ResourceSchema, props: &Props) -> bool {
    typecheck::check_props(schema, props, true).is_empty()
}

/// Whether `props` pass the schema's rules across props (agreement tests generate values
/// prop by prop, then keep the combinations these rules allow).
#[cfg(test)]
pub fn rules_pass(schema: &ResourceSchema, props: &Props) -> bool {
    schema.rules.iter().all(|r| (r.check)(props).is_empty())
}
