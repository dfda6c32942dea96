//! Commands that need no AWS access: `validate`, `schema`, `graph`, `iam-actions`.

use std::path::Path;

use anyhow::Result;
use cairn_engine::compile::CompileOptions;
use cairn_engine::pipeline;
use cairn_engine::provider::{Operation, SchemaSource};

use crate::cli::{GraphFormat, PolicyPurpose, StackArgs};
use crate::session::{self, Reported};
use crate::style::Style;

pub fn cmd_validate(path: &Path, env: Option<&str>, vars: &[String], json: bool, style: &Style) -> Result<u8> {
    let file = session::read_source(path)?;
    let overrides = session::parse_vars(vars)?;
    // Parsed once; compiled once per environment.
    let loaded = pipeline::load(file.clone());
    // Without --env, every environment the stack declares is checked.
    let envs: Vec<String> = match (env, &loaded) {
        (Some(e), _) => vec![e.to_string()],
        (None, Ok(l)) if !l.environment_names().is_empty() => l.environment_names(),
        (None, _) => vec!["default".to_string()],
    };
    let mut all = cairn_engine::diag::Diagnostics::default();
    let mut resources = 0;
    match &loaded {
        Err(d) => all.extend(d.clone()),
        Ok(loaded) => {
            for e in &envs {
                let opts = CompileOptions { env: e.clone(), var_overrides: overrides.clone(), caller_account: None };
                match loaded.compile(&opts, &cairn_resources::Schemas) {
                    Ok((graph, warnings)) => {
                        resources = resources.max(graph.nodes.len());
                        all.extend(warnings);
                    }
                    Err(d) => all.extend(d),
                }
            }
        }
    }
    let all = all.sorted();
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "valid": !all.has_errors(), "environments": envs, "diagnostics": all }))?);
        return Ok(if all.has_errors() { 1 } else { 0 });
    }
    if all.has_errors() {
        return Err(Reported { text: all.render(&file), summary: format!("{} error(s) in {}", all.error_count(), file.name) }.into());
    }
    eprint!("{}", all.render(&file));
    println!("{} {} is valid for {} ({} resources).", style.green("Success!"), file.name, envs.join(", "), resources);
    Ok(0)
}

pub fn cmd_schema() -> Result<u8> {
    println!("{}", serde_json::to_string_pretty(&cairn_engine::schema_json::stack_schema(&cairn_resources::Schemas))?);
    Ok(0)
}

pub fn cmd_graph(stack: &StackArgs, format: GraphFormat) -> Result<u8> {
    let (_, graph, _) = session::load_graph(&stack.stack, &stack.env, &stack.vars, None)?;
    print!("{}", if format == GraphFormat::Dot { graph.to_dot() } else { graph.to_mermaid() });
    Ok(0)
}

pub fn cmd_iam_actions(json: bool) -> Result<u8> {
    let registry = cairn_resources::offline_registry();
    let mut table = serde_json::Map::new();
    for schema in registry.all_schemas() {
        let kind = registry.get(schema.kind).expect("registered kind");
        let ops: serde_json::Map<String, serde_json::Value> =
            Operation::ALL.iter().map(|op| (format!("{op:?}").to_lowercase(), serde_json::json!(kind.iam_actions(*op)))).collect();
        table.insert(schema.kind.to_string(), serde_json::Value::Object(ops));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&table)?);
    } else {
        for (kind, ops) in &table {
            println!("{kind}");
            for (op, actions) in ops.as_object().into_iter().flatten() {
                let list: Vec<&str> = actions.as_array().into_iter().flatten().filter_map(|a| a.as_str()).collect();
                println!("  {op:<7} {}", list.join(", "));
            }
        }
    }
    Ok(0)
}

pub async fn cmd_iam_policy(stack: &StackArgs, purpose: PolicyPurpose, account: Option<&str>) -> Result<u8> {
    // A given account id also resolves `${account_id}` in the stack (the permissions boundary's ARN).
    let (loaded, graph, _) = session::load_graph(&stack.stack, &stack.env, &stack.vars, account.map(str::to_string))?;
    let account = account.map(str::to_string).or_else(|| graph.account_id.clone()).unwrap_or_else(|| "*".into());
    // Destroy must also cover whatever state holds that the stack no longer declares.
    let mut extra = std::collections::BTreeSet::new();
    let backend = session::backend_in(&loaded)?;
    if let Ok(store) = session::open_existing_store(backend.as_ref(), &stack.state_dir, &graph.stack, &graph.env, &graph.region).await {
        if let Ok(snap) = store.snapshot().await {
            extra.extend(snap.resources.values().map(|r| r.kind.clone()));
        }
    }
    let purpose = match purpose {
        PolicyPurpose::Plan => cairn_engine::iam_policy::Purpose::Plan,
        PolicyPurpose::Apply => cairn_engine::iam_policy::Purpose::Apply,
        PolicyPurpose::Destroy => cairn_engine::iam_policy::Purpose::Destroy,
    };
    // The state backend's objects and key are part of what every run needs.
    let state = backend.map(|b| cairn_engine::iam_policy::StateBackend { bucket: b.bucket, key_prefix: b.key_prefix, region: b.region, kms_key: b.kms_key });
    let request = cairn_engine::iam_policy::Request { purpose, account: &account, extra_kinds: &extra, state: state.as_ref() };
    let policy = cairn_engine::iam_policy::generate(&graph, &cairn_resources::offline_registry(), &request)?;
    println!("{}", serde_json::to_string_pretty(&policy)?);
    Ok(0)
}
