//! Reads a Terraform state (format version 4) or `terraform show -json` output into one flat list of instances.

use serde_json::{Map, Value};

use super::{IndexKey, Input, TfInstance};

/// Why a state file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("Terraform state format version {0} is not supported (only version 4, written by Terraform 0.12 and later)")]
    Version(i64),
    #[error("neither a Terraform state file (`version` and `resources`) nor `terraform show -json` output (`values.root_module`)")]
    Shape,
    #[error("{0}")]
    Resource(String),
}

/// Parses either input format.
pub fn parse(text: &str) -> Result<Input, ParseError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| ParseError::Json(e.to_string()))?;
    if let Some(root) = doc.get("values").and_then(|v| v.get("root_module")) {
        let mut input = Input::default();
        show_module(root, &mut input)?;
        return Ok(input);
    }
    if doc.get("format_version").is_some() && doc.get("values").is_none() {
        // `terraform show -json` of an empty state has no `values` at all.
        return Ok(Input::default());
    }
    match doc.get("version").and_then(Value::as_i64) {
        Some(4) => state_v4(&doc),
        Some(v) => Err(ParseError::Version(v)),
        None => Err(ParseError::Shape),
    }
}

/// `count.index` or `for_each` key as Terraform writes it in an address.
pub fn index_suffix(index: &Option<IndexKey>) -> String {
    match index {
        None => String::new(),
        Some(IndexKey::Int(i)) => format!("[{i}]"),
        Some(IndexKey::Str(s)) => format!("[{}]", Value::String(s.clone())),
    }
}

fn index_of(v: Option<&Value>) -> Result<Option<IndexKey>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(|i| Some(IndexKey::Int(i))).ok_or_else(|| format!("index {n} is not an integer")),
        Some(Value::String(s)) => Ok(Some(IndexKey::Str(s.clone()))),
        Some(other) => Err(format!("index {other} is neither a number nor a string")),
    }
}

fn state_v4(doc: &Value) -> Result<Input, ParseError> {
    let mut input = Input::default();
    let resources = doc.get("resources").and_then(Value::as_array).ok_or(ParseError::Shape)?;
    for (i, r) in resources.iter().enumerate() {
        let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let (mode, ty, name, module) = (field("mode"), field("type"), field("name"), field("module"));
        if ty.is_empty() || name.is_empty() {
            return Err(ParseError::Resource(format!("resources[{i}] has no type or name")));
        }
        let prefix = if module.is_empty() { String::new() } else { format!("{module}.") };
        let instances = r.get("instances").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        for inst in instances {
            // A deposed object (create_before_destroy mid-way) is not the resource's current object.
            if inst.get("deposed").and_then(Value::as_str).is_some_and(|d| !d.is_empty()) {
                continue;
            }
            let index = index_of(inst.get("index_key")).map_err(|e| ParseError::Resource(format!("{prefix}{ty}.{name}: {e}")))?;
            let data = if mode == "data" { "data." } else { "" };
            let address = format!("{prefix}{data}{ty}.{name}{}", index_suffix(&index));
            if mode == "data" {
                input.data_sources.push(address);
                continue;
            }
            let attrs = inst.get("attributes").and_then(Value::as_object).cloned().unwrap_or_default();
            input.instances.push(TfInstance { address, module: module.clone(), ty: ty.clone(), name: name.clone(), index, attrs });
        }
    }
    Ok(input)
}

fn show_module(module: &Value, input: &mut Input) -> Result<(), ParseError> {
    let module_address = module.get("address").and_then(Value::as_str).unwrap_or_default().to_string();
    for r in module.get("resources").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
        let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let (address, ty, name) = (field("address"), field("type"), field("name"));
        if field("mode") == "data" {
            input.data_sources.push(address);
            continue;
        }
        let index = index_of(r.get("index")).map_err(|e| ParseError::Resource(format!("{address}: {e}")))?;
        let attrs: Map<String, Value> = r.get("values").and_then(Value::as_object).cloned().unwrap_or_default();
        input.instances.push(TfInstance { address, module: module_address.clone(), ty, name, index, attrs });
    }
    for child in module.get("child_modules").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
        show_module(child, input)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_v4_with_modules_count_and_for_each() {
        let state = json!({
            "version": 4, "terraform_version": "1.7.5", "serial": 12, "lineage": "3f0c", "outputs": {},
            "resources": [
                {"mode": "data", "type": "aws_caller_identity", "name": "current", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
                 "instances": [{"schema_version": 0, "attributes": {"account_id": "123456789012"}}]},
                {"mode": "managed", "type": "aws_sqs_queue", "name": "jobs", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
                 "instances": [{"schema_version": 0, "attributes": {"name": "jobs"}}]},
                {"module": "module.network", "mode": "managed", "type": "aws_subnet", "name": "private", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
                 "instances": [{"index_key": "a", "schema_version": 1, "attributes": {"id": "subnet-1"}},
                               {"index_key": "b", "schema_version": 1, "attributes": {"id": "subnet-2"}}]},
                {"mode": "managed", "type": "aws_eip", "name": "nat", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
                 "instances": [{"index_key": 0, "attributes": {"id": "eipalloc-1"}},
                               {"index_key": 1, "deposed": "00000001", "attributes": {"id": "eipalloc-old"}}]}
            ]
        });
        let input = parse(&state.to_string()).unwrap();
        let addrs: Vec<&str> = input.instances.iter().map(|i| i.address.as_str()).collect();
        assert_eq!(addrs, ["aws_sqs_queue.jobs", "module.network.aws_subnet.private[\"a\"]", "module.network.aws_subnet.private[\"b\"]", "aws_eip.nat[0]"]);
        assert_eq!(input.data_sources, ["data.aws_caller_identity.current"]);
        let subnet = &input.instances[1];
        assert_eq!((subnet.module.as_str(), subnet.ty.as_str(), subnet.name.as_str()), ("module.network", "aws_subnet", "private"));
        assert_eq!(subnet.index, Some(IndexKey::Str("a".into())));
        assert_eq!(subnet.str("id"), Some("subnet-1"));
        assert_eq!(input.instances[3].index, Some(IndexKey::Int(0)));
    }

    #[test]
    fn show_json_walks_child_modules() {
        let show = json!({
            "format_version": "1.0", "terraform_version": "1.7.5",
            "values": {"root_module": {
                "resources": [
                    {"address": "aws_kms_key.data", "mode": "managed", "type": "aws_kms_key", "name": "data", "provider_name": "registry.terraform.io/hashicorp/aws", "values": {"key_id": "k-1"}},
                    {"address": "data.aws_region.current", "mode": "data", "type": "aws_region", "name": "current", "values": {}}
                ],
                "child_modules": [{"address": "module.db", "resources": [
                    {"address": "module.db.aws_db_instance.this[0]", "mode": "managed", "type": "aws_db_instance", "name": "this", "index": 0, "values": {"identifier": "db"}}
                ], "child_modules": [{"address": "module.db.module.inner", "resources": [
                    {"address": "module.db.module.inner.aws_s3_bucket.b[\"x\"]", "mode": "managed", "type": "aws_s3_bucket", "name": "b", "index": "x", "values": {"bucket": "b"}}
                ]}]}]
            }}
        });
        let input = parse(&show.to_string()).unwrap();
        let addrs: Vec<&str> = input.instances.iter().map(|i| i.address.as_str()).collect();
        assert_eq!(addrs, ["aws_kms_key.data", "module.db.aws_db_instance.this[0]", "module.db.module.inner.aws_s3_bucket.b[\"x\"]"]);
        assert_eq!(input.instances[2].module, "module.db.module.inner");
        assert_eq!(input.instances[2].index, Some(IndexKey::Str("x".into())));
        assert_eq!(input.data_sources, ["data.aws_region.current"]);
    }

    #[test]
    fn refuses_other_shapes_and_versions() {
        assert_eq!(parse(r#"{"version": 3, "modules": []}"#), Err(ParseError::Version(3)));
        assert_eq!(parse(r#"{"hello": 1}"#), Err(ParseError::Shape));
        assert!(matches!(parse("not json"), Err(ParseError::Json(_))));
        assert_eq!(parse(r#"{"format_version": "1.0"}"#), Ok(Input::default()));
    }
}
