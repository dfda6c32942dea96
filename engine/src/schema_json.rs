//! Generates the JSON Schema for stack files from the kinds' schemas, so editors can complete and check them.

use serde_json::{json, Map, Value};

use crate::provider::{PropType, SchemaSource};

fn prop_schema(ty: PropType) -> Value {
    // Any string may instead be an expression, so strings are always allowed.
    match ty {
        PropType::String => json!({"type": ["string", "number", "boolean"]}),
        PropType::Int => json!({"type": ["integer", "string"]}),
        PropType::Bool => json!({"type": ["boolean", "string"]}),
        PropType::StringList => json!({"type": ["array", "string"], "items": {"type": "string"}}),
        PropType::StringMap => json!({"type": ["object", "string"], "additionalProperties": {"type": ["string", "number", "boolean"]}}),
        PropType::Object => json!({"type": ["object", "array", "string"]}),
        PropType::Policy => json!({"type": ["object", "string"], "properties": {"Version": {"type": "string"}, "Statement": {}}}),
        // An expression (`${...}`) is a string too, so each constrained form also admits one.
        PropType::Enum(values) => json!({"anyOf": [{"enum": values}, {"type": "string", "pattern": EXPR}]}),
        PropType::IntRange(lo, hi) => json!({"anyOf": [{"type": "integer", "minimum": lo, "maximum": hi}, {"type": "string", "pattern": EXPR}]}),
        PropType::Text(rule) => {
            let mut text = json!({"type": "string", "minLength": rule.min, "maxLength": rule.max});
            if let Some(extra) = rule.extra {
                let letters = if rule.lowercase { "a-z" } else { "A-Za-z" };
                let escaped: String = extra.chars().map(|c| if matches!(c, '-' | ']' | '\\' | '^') { format!("\\{c}") } else { c.to_string() }).collect();
                text["pattern"] = Value::String(format!("^[{letters}0-9{escaped}]*$"));
            }
            json!({"anyOf": [text, {"type": "string", "pattern": EXPR}]})
        }
        PropType::Struct(fields) => {
            let mut props = Map::new();
            for f in fields {
                props.insert(f.name.to_string(), field_schema(f));
            }
            let required: Vec<&str> = fields.iter().filter(|f| f.required).map(|f| f.name).collect();
            json!({"anyOf": [{"type": "object", "properties": props, "required": required, "additionalProperties": false}, {"type": "string", "pattern": EXPR}]})
        }
        PropType::List(item) => json!({"anyOf": [{"type": "array", "items": prop_schema(*item)}, {"type": "string", "pattern": EXPR}]}),
    }
}

/// A string holding an expression, which may stand for a value of any type.
const EXPR: &str = "\\$\\{";

/// A prop's schema with its description (doc, replacement, default).
fn field_schema(p: &crate::provider::PropSpec) -> Value {
    let mut ps = prop_schema(p.ty);
    let mut doc = p.doc.to_string();
    if p.force_new {
        doc.push_str(" Changing it replaces the resource.");
    }
    if let Some(d) = p.default {
        doc.push_str(&format!(" Default: {d}."));
    }
    ps["description"] = Value::String(doc);
    ps
}

/// The JSON Schema (draft 2020-12) of a stack file.
pub fn stack_schema(schemas: &dyn SchemaSource) -> Value {
    let mut kinds = vec![];
    let all: Vec<&'static crate::provider::ResourceSchema> = schemas.all_schemas().into_iter().chain(crate::component::schemas().iter()).collect();
    for s in all.iter().copied() {
        let mut props = Map::new();
        for p in s.props {
            props.insert(p.name.to_string(), field_schema(p));
        }
        let required: Vec<&str> = s.props.iter().filter(|p| p.required).map(|p| p.name).collect();
        let mut resource = json!({
            "if": {"properties": {"type": {"const": s.kind}}, "required": ["type"]},
            "then": {"properties": {"props": {"type": "object", "description": s.doc, "properties": props, "additionalProperties": false}}}
        });
        if !required.is_empty() {
            resource["then"]["required"] = json!(["props"]);
            resource["then"]["properties"]["props"]["required"] = json!(required);
        }
        kinds.push(resource);
    }
    let kind_names: Vec<&str> = all.iter().map(|s| s.kind).collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://cairn.dev/schema/stack.json",
        "title": "cairn stack",
        "type": "object",
        "required": ["stack", "resources"],
        "additionalProperties": false,
        "properties": {
            "stack": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$", "description": "Stack name; state is kept per (stack, env)."},
            "region": {"type": "string", "description": "AWS region (default us-east-1)."},
            "environments": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": false,
                "properties": {
                    "account_id": {"type": "string", "pattern": "^[0-9]{12}$", "description": "apply refuses to run against any other account"},
                    "region": {"type": "string"},
                    "protect": {"type": "boolean", "description": "deleting or replacing stateful resources needs --allow-destroy"},
                    "vars": {"type": "object"}
                }
            }},
            "vars": {"type": "object", "additionalProperties": {}},
            "tags": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
            "policy": {"type": "object", "additionalProperties": false, "properties": {
                "required_tags": {"type": "array", "items": {"type": "string"}},
                "permissions_boundary": {"type": "string", "description": "ARN of the managed policy every role of the stack gets as its permissions boundary"},
                "exceptions": {"type": "array", "items": {"type": "object", "required": ["rule", "address", "reason"], "properties": {"rule": {"type": "string"}, "address": {"type": "string"}, "reason": {"type": "string", "minLength": 1}}}}
            }},
            "resources": {"type": "object", "additionalProperties": {"$ref": "#/$defs/resource"}},
            "outputs": {"type": "object"},
            "moved": {"type": "array", "items": {"type": "object", "required": ["from", "to"], "properties": {"from": {"type": "string"}, "to": {"type": "string"}}}},
            "state": {"type": "object"}
        },
        "$defs": {
            "resource": {
                "type": "object",
                "required": ["type"],
                "additionalProperties": false,
                "properties": {
                    "type": {"enum": kind_names},
                    "props": {"type": "object"},
                    "tags": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
                    "depends_on": {"type": "array", "items": {"type": "string"}},
                    "count": {"type": ["integer", "string"]},
                    "for_each": {"type": ["array", "object", "string"]},
                    "lifecycle": {"type": "object", "additionalProperties": false, "properties": {
                        "protect": {"type": "boolean"},
                        "create_before_destroy": {"type": "boolean"},
                        "ignore_changes": {"type": "array", "items": {"type": "string"}}
                    }}
                },
                "allOf": kinds
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::provider::{PropSpec, ResourceSchema, TextRule};

    static BOX: ResourceSchema = ResourceSchema {
        kind: "test.box",
        doc: "",
        props: &[
            PropSpec::new("size", PropType::IntRange(0, 10), "Size."),
            PropSpec::new(
                "inner",
                PropType::Struct(&[
                    PropSpec::new("mode", PropType::Enum(&["a", "b"]), "Mode.").required(),
                    PropSpec::new("label", PropType::Text(TextRule::len(1, 8).chars("-_")), "Label."),
                ]),
                "Inner.",
            ),
            PropSpec::new("items", PropType::List(&PropType::Int), "Items."),
        ],
        attrs: &[],
        taggable: false,
        rules: &[],
    };

    struct Schemas;
    impl SchemaSource for Schemas {
        fn schema_of(&self, kind: &str) -> Option<&'static crate::provider::ResourceSchema> {
            (kind == BOX.kind).then_some(&BOX)
        }
        fn all_schemas(&self) -> Vec<&'static crate::provider::ResourceSchema> {
            vec![&BOX]
        }
    }

    #[test]
    fn nested_shapes_enums_ranges_and_text_rules_are_published() {
        let schema = stack_schema(&Schemas);
        let kinds = schema["$defs"]["resource"]["allOf"].as_array().unwrap();
        let props = &kinds.iter().find(|k| k["if"]["properties"]["type"]["const"] == "test.box").unwrap()["then"]["properties"]["props"]["properties"];
        assert_eq!(props["size"]["anyOf"][0], json!({"type": "integer", "minimum": 0, "maximum": 10}));
        let inner = &props["inner"]["anyOf"][0];
        assert_eq!(inner["required"], json!(["mode"]));
        assert_eq!(inner["additionalProperties"], json!(false));
        assert_eq!(inner["properties"]["mode"]["anyOf"][0], json!({"enum": ["a", "b"]}));
        assert_eq!(inner["properties"]["label"]["anyOf"][0], json!({"type": "string", "minLength": 1, "maxLength": 8, "pattern": "^[A-Za-z0-9\\-_]*$"}));
        assert_eq!(props["items"]["anyOf"][0]["items"], json!({"type": ["integer", "string"]}));
        // An expression stands for any value.
        assert_eq!(props["size"]["anyOf"][1], json!({"type": "string", "pattern": "\\$\\{"}));
    }
}
