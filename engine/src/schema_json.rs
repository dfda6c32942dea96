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
    }
}

/// The JSON Schema (draft 2020-12) of a stack file.
pub fn stack_schema(schemas: &dyn SchemaSource) -> Value {
    let mut kinds = vec![];
    let all: Vec<&'static crate::provider::ResourceSchema> = schemas.all_schemas().into_iter().chain(crate::component::schemas().iter()).collect();
    for s in all.iter().copied() {
        let mut props = Map::new();
        for p in s.props {
            let mut ps = prop_schema(p.ty);
            let mut doc = p.doc.to_string();
            if p.force_new {
                doc.push_str(" Changing it replaces the resource.");
            }
            if let Some(d) = p.default {
                doc.push_str(&format!(" Default: {d}."));
            }
            ps["description"] = Value::String(doc);
            props.insert(p.name.to_string(), ps);
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
