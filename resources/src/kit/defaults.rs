//! Prop values with the schema's defaults: a kind reads a prop here and never writes its default a second time.

use cairn_engine::provider::{Desired, ProviderError, ResourceSchema};
use serde_json::Value;

pub use crate::adopt::wanted;

/// The default the schema declares for `name`, if any.
pub fn default_of(schema: &ResourceSchema, name: &str) -> Option<Value> {
    schema.prop(name)?.default.and_then(|d| serde_json::from_str(d).ok()).filter(|v: &Value| !v.is_null())
}

fn missing(schema: &ResourceSchema, name: &str, what: &str) -> ProviderError {
    ProviderError::Invalid(format!("{}: `{name}` must be {what}", schema.kind))
}

/// An integer prop, else its schema default.
pub fn int(schema: &ResourceSchema, desired: &Desired, name: &str) -> Result<i64, ProviderError> {
    wanted(schema, desired, name).and_then(|v| v.as_i64()).ok_or_else(|| missing(schema, name, "an integer"))
}

/// A string prop, else its schema default.
pub fn text(schema: &ResourceSchema, desired: &Desired, name: &str) -> Result<String, ProviderError> {
    wanted(schema, desired, name).and_then(|v| v.as_str().map(str::to_string)).ok_or_else(|| missing(schema, name, "a string"))
}

/// A boolean prop, else its schema default.
pub fn flag(schema: &ResourceSchema, desired: &Desired, name: &str) -> Result<bool, ProviderError> {
    wanted(schema, desired, name).and_then(|v| v.as_bool()).ok_or_else(|| missing(schema, name, "true or false"))
}

/// An optional string prop (no default, or set): `None` when unset.
pub fn opt_text(schema: &ResourceSchema, desired: &Desired, name: &str) -> Option<String> {
    wanted(schema, desired, name).and_then(|v| v.as_str().map(str::to_string))
}

/// The schema default of an integer prop: what AWS's absent value means when read back.
pub fn default_int(schema: &ResourceSchema, name: &str) -> i64 {
    default_of(schema, name).and_then(|v| v.as_i64()).unwrap_or_default()
}

/// The schema default of a string prop: what AWS's absent value means when read back.
pub fn default_text(schema: &ResourceSchema, name: &str) -> String {
    default_of(schema, name).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// The schema default of a boolean prop: what AWS's absent value means when read back.
pub fn default_flag(schema: &ResourceSchema, name: &str) -> bool {
    default_of(schema, name).and_then(|v| v.as_bool()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adopt::testing::desired;
    use cairn_engine::provider::{PropSpec, PropType};
    use serde_json::json;

    static SCHEMA: ResourceSchema = ResourceSchema {
        kind: "test.thing",
        doc: "",
        props: &[
            PropSpec::new("days", PropType::Int, "").default("30"),
            PropSpec::new("class", PropType::String, "").default("\"STANDARD\""),
            PropSpec::new("on", PropType::Bool, "").default("true"),
            PropSpec::new("key", PropType::String, ""),
        ],
        attrs: &[],
        taggable: false,
        rules: &[],
    };

    #[test]
    fn a_set_value_wins_and_an_unset_one_is_the_schema_default() {
        let unset = desired(json!({}));
        assert_eq!(
            (int(&SCHEMA, &unset, "days").unwrap(), text(&SCHEMA, &unset, "class").unwrap(), flag(&SCHEMA, &unset, "on").unwrap()),
            (30, "STANDARD".into(), true)
        );
        let set = desired(json!({"days": 7, "class": "COLD", "on": false, "key": "k"}));
        assert_eq!((int(&SCHEMA, &set, "days").unwrap(), text(&SCHEMA, &set, "class").unwrap(), flag(&SCHEMA, &set, "on").unwrap()), (7, "COLD".into(), false));
        assert_eq!(opt_text(&SCHEMA, &set, "key").as_deref(), Some("k"));
        assert_eq!(opt_text(&SCHEMA, &unset, "key"), None);
        assert!(matches!(text(&SCHEMA, &unset, "key"), Err(ProviderError::Invalid(m)) if m.contains("`key`")));
        assert_eq!((default_int(&SCHEMA, "days"), default_text(&SCHEMA, "class"), default_flag(&SCHEMA, "on")), (30, "STANDARD".into(), true));
    }
}
