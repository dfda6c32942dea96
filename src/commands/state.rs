//! `state list|show|history|unlock`, `output` and `import`: reading and repairing recorded state.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use cairn_engine::state::{ResourceRecord, StateStore};

use crate::cli::{AwsArgs, StackArgs, StateArgs, StateCommand};
use crate::render;
use crate::session::{self, HeldLock};

pub async fn cmd_state(cmd: &StateCommand) -> Result<u8> {
    match cmd {
        StateCommand::List { stack, json } => {
            let store = open(stack).await?;
            let snap = store.snapshot().await.map_err(|e| anyhow!("{e}"))?;
            if *json {
                let rows: Vec<_> = snap.resources.values().map(|r| serde_json::json!({"address": r.address, "type": r.kind, "id": r.id})).collect();
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({"lineage": snap.lineage, "serial": snap.serial, "resources": rows}))?);
            } else {
                let w = snap.resources.keys().map(String::len).max().unwrap_or(0);
                let kw = snap.resources.values().map(|r| r.kind.len()).max().unwrap_or(0);
                for r in snap.resources.values() {
                    println!("{:<w$}  {:<kw$}  {}", r.address, r.kind, r.id);
                }
                if snap.resources.is_empty() {
                    eprintln!("No resources in state (serial {}).", snap.serial);
                }
            }
        }
        StateCommand::Show { stack, address } => {
            let store = open(stack).await?;
            let snap = store.snapshot().await.map_err(|e| anyhow!("{e}"))?;
            let r = snap.resources.get(address).ok_or_else(|| anyhow!("no resource `{address}` in state; `cairn state list` shows what is recorded"))?;
            println!("{}", serde_json::to_string_pretty(r)?);
        }
        StateCommand::History { stack, json } => {
            let store = open(stack).await?;
            let h = store.history().await.map_err(|e| anyhow!("{e}"))?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&h)?);
            } else {
                println!("{:>6}  {:<20}  {:<9}  resources", "serial", "applied (unix time)", "operation");
                for e in h {
                    println!("{:>6}  {:<20}  {:<9}  {}", e.serial, e.applied_at, e.operation, e.resource_count);
                }
            }
        }
        StateCommand::Unlock { stack } => {
            let store = open(stack).await?;
            match store.force_unlock().await.map_err(|e| anyhow!("{e}"))? {
                Some(l) => println!("Removed the lock held by {} on {} (pid {}, {}).", l.owner, l.host, l.pid, l.operation),
                None => println!("The state was not locked."),
            }
        }
        StateCommand::Migrate { stack, region, account } => {
            if region.is_none() && account.is_none() {
                bail!("give --region REGION and/or --account ACCOUNT_ID: what the state should record from now on");
            }
            let home = session::stack_home(&stack.stack)?;
            let store = open_home(&home, stack).await?;
            let lock = HeldLock::acquire(store.clone(), "migrate", Duration::ZERO).await?;
            let result = async {
                let snap = store.snapshot().await.map_err(|e| anyhow!("{e}"))?;
                let new_region = region.clone().or(snap.region.clone()).unwrap_or_else(|| home.region.clone());
                let new_account = account.clone().or(snap.account_id.clone());
                store.set_location(&new_region, new_account.as_deref()).await.map_err(|e| anyhow!("{e}"))?;
                let show = |r: Option<&str>, a: Option<&str>| format!("region {}, account {}", r.unwrap_or("(none)"), a.unwrap_or("(none)"));
                println!(
                    "State now records {} (was {}). Plan and apply check it against the stack and the credentials in use.",
                    show(Some(&new_region), new_account.as_deref()),
                    show(snap.region.as_deref(), snap.account_id.as_deref())
                );
                Ok::<_, anyhow::Error>(())
            }
            .await;
            lock.release().await?;
            result?;
        }
    }
    Ok(0)
}

async fn open(args: &StateArgs) -> Result<Arc<dyn StateStore>> {
    open_home(&session::stack_home(&args.stack)?, args).await
}

async fn open_home(home: &session::StackHome, args: &StateArgs) -> Result<Arc<dyn StateStore>> {
    session::open_existing_store(home.backend.as_ref(), &args.state_dir, &home.name, &args.env, &home.region).await
}

pub async fn cmd_output(stack: &StackArgs, name: Option<&str>, json: bool) -> Result<u8> {
    let home = session::stack_home(&stack.stack)?;
    let store = session::open_existing_store(home.backend.as_ref(), &stack.state_dir, &home.name, &stack.env, &home.region).await?;
    let snap = store.snapshot().await.map_err(|e| anyhow!("{e}"))?;
    match name {
        Some(n) => {
            let v = snap
                .outputs
                .get(n)
                .ok_or_else(|| anyhow!("no output `{n}`; recorded outputs: {}", snap.outputs.keys().cloned().collect::<Vec<_>>().join(", ")))?;
            match (json, v) {
                (false, serde_json::Value::String(s)) => println!("{s}"),
                _ => println!("{v}"),
            }
        }
        None if json => println!("{}", serde_json::to_string_pretty(&snap.outputs)?),
        None => {
            for (k, v) in &snap.outputs {
                println!("{k} = {}", render::value_text(v, k.len() + 3));
            }
        }
    }
    Ok(0)
}

pub async fn cmd_import(stack: &StackArgs, aws_args: &AwsArgs, address: &str, id: &str) -> Result<u8> {
    let (loaded, graph, _) = session::load_graph(&stack.stack, &stack.env, &stack.vars, None)?;
    let node = graph.nodes.get(address).ok_or_else(|| anyhow!("`{address}` is not a resource of this stack; add it to the stack file first, then import"))?;
    let ctx = session::aws(aws_args, &graph.region).await;
    session::check_account(&ctx, graph.account_id.as_deref(), &graph.env).await?;
    let registry = session::registry(&ctx);
    let kind = registry.get(&node.kind).ok_or_else(|| anyhow!("unknown type {}", node.kind))?;
    let backend = session::backend_in(&loaded)?;
    let store = session::open_store(backend.as_ref(), &stack.state_dir, &graph.stack, &graph.env, aws_args, &graph.region).await?;
    let lock = HeldLock::acquire(store.clone(), "import", Duration::from_secs(aws_args.lock_timeout)).await?;
    let result = async {
        let snap = store.snapshot().await.map_err(|e| anyhow!("{e}"))?;
        if let Some(r) = snap.resources.get(address) {
            bail!("`{address}` is already managed (id {}); `cairn state show {address}` shows it", r.id);
        }
        let observed = kind
            .read(id)
            .await
            .map_err(|e| anyhow!("reading {} {id}: {e}", node.kind))?
            .ok_or_else(|| anyhow!("no {} with id `{id}` exists in this account and region", node.kind))?;
        let record = ResourceRecord {
            address: address.to_string(),
            kind: node.kind.clone(),
            id: observed.id.clone(),
            props: observed.props,
            attrs: observed.attrs,
            tags: observed.tags,
            deps: node.deps.iter().cloned().collect(),
        };
        store.put_record(&record).await.map_err(|e| anyhow!("{e}"))?;
        store.record_history("import").await.map_err(|e| anyhow!("{e}"))?;
        println!("Imported {} as {address}. Run `cairn plan` to see how it differs from the stack.", observed.id);
        Ok(0)
    }
    .await;
    lock.release().await?;
    result
}

/// Tag coverage: how many taggable resources carry every required tag.
pub async fn cmd_tags(stack: &StackArgs, aws_args: &AwsArgs, live: bool, json: bool) -> Result<u8> {
    let home = session::stack_home(&stack.stack)?;
    let required: Vec<String> = home.loaded.spec.policy.required_tags.iter().map(|t| t.value.clone()).collect();
    let store = session::open_existing_store(home.backend.as_ref(), &stack.state_dir, &home.name, &stack.env, &home.region).await?;
    let snap = store.snapshot().await.map_err(|e| anyhow!("{e}"))?;
    let schemas = cairn_resources::Schemas;
    use cairn_engine::provider::SchemaSource;
    let mut tags_by_address: std::collections::BTreeMap<String, cairn_engine::provider::Tags> = std::collections::BTreeMap::new();
    if live {
        let ctx = session::aws(aws_args, &home.region).await;
        let registry = session::registry(&ctx);
        let (observed, _) = cairn_engine::refresh::refresh(&snap, &registry).await.map_err(|e| anyhow!("{e}"))?;
        for (a, o) in observed {
            tags_by_address.insert(a, o.map(|o| o.tags).unwrap_or_default());
        }
    } else {
        for r in snap.resources.values() {
            tags_by_address.insert(r.address.clone(), r.tags.clone());
        }
    }
    let mut rows = vec![];
    let (mut taggable, mut covered) = (0, 0);
    for r in snap.resources.values() {
        if !schemas.schema_of(&r.kind).is_some_and(|s| s.taggable) {
            continue;
        }
        taggable += 1;
        let tags = tags_by_address.get(&r.address).cloned().unwrap_or_default();
        let missing: Vec<&String> = required.iter().filter(|k| tags.get(*k).is_none_or(|v| v.is_empty())).collect();
        if missing.is_empty() {
            covered += 1;
        }
        rows.push(serde_json::json!({ "address": r.address, "type": r.kind, "missing": missing }));
    }
    let pct = if taggable == 0 { 100.0 } else { covered as f64 * 100.0 / taggable as f64 };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "required_tags": required, "source": if live { "aws" } else { "state" }, "taggable": taggable, "covered": covered, "coverage_percent": pct, "resources": rows })
            )?
        );
    } else {
        println!(
            "Tag coverage ({}): {covered}/{taggable} taggable resources carry every required tag ({pct:.1}%). Required: {}",
            if live { "live from AWS" } else { "from state" },
            required.join(", ")
        );
        for row in rows.iter().filter(|r| r["missing"].as_array().is_some_and(|m| !m.is_empty())) {
            println!("  {} ({}) lacks {}", row["address"].as_str().unwrap_or(""), row["type"].as_str().unwrap_or(""), row["missing"]);
        }
    }
    Ok(if covered == taggable { 0 } else { 2 })
}
