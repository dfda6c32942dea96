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
            let store = open(stack)?;
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
            let store = open(stack)?;
            let snap = store.snapshot().await.map_err(|e| anyhow!("{e}"))?;
            let r = snap.resources.get(address).ok_or_else(|| anyhow!("no resource `{address}` in state; `cairn state list` shows what is recorded"))?;
            println!("{}", serde_json::to_string_pretty(r)?);
        }
        StateCommand::History { stack, json } => {
            let store = open(stack)?;
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
            let store = open(stack)?;
            match store.force_unlock().await.map_err(|e| anyhow!("{e}"))? {
                Some(l) => println!("Removed the lock held by {} on {} (pid {}, {}).", l.owner, l.host, l.pid, l.operation),
                None => println!("The state was not locked."),
            }
        }
    }
    Ok(0)
}

fn open(args: &StateArgs) -> Result<Arc<cairn_state::SqliteStore>> {
    let name = session::stack_name(&args.stack)?;
    session::open_existing_store(&args.state_dir, &name, &args.env)
}

pub async fn cmd_output(stack: &StackArgs, name: Option<&str>, json: bool) -> Result<u8> {
    let stack_name = session::stack_name(&stack.stack)?;
    let store = session::open_existing_store(&stack.state_dir, &stack_name, &stack.env)?;
    let snap = store.snapshot().await.map_err(|e| anyhow!("{e}"))?;
    match name {
        Some(n) => {
            let v = snap.outputs.get(n).ok_or_else(|| anyhow!("no output `{n}`; recorded outputs: {}", snap.outputs.keys().cloned().collect::<Vec<_>>().join(", ")))?;
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
    let (_, graph, _) = session::load_graph(&stack.stack, &stack.env, &stack.vars, None)?;
    let node = graph.nodes.get(address).ok_or_else(|| anyhow!("`{address}` is not a resource of this stack; add it to the stack file first, then import"))?;
    let ctx = session::aws(aws_args, &graph.region).await;
    session::check_account(&ctx, graph.account_id.as_deref(), &graph.env).await?;
    let registry = session::registry(&ctx);
    let kind = registry.get(&node.kind).ok_or_else(|| anyhow!("unknown type {}", node.kind))?;
    let store: Arc<dyn StateStore> = session::open_store(&stack.state_dir, &graph.stack, &graph.env)?;
    let lock = HeldLock::acquire(store.clone(), "import", Duration::from_secs(aws_args.lock_timeout)).await?;
    let result = async {
        let snap = store.snapshot().await.map_err(|e| anyhow!("{e}"))?;
        if let Some(r) = snap.resources.get(address) {
            bail!("`{address}` is already managed (id {}); `cairn state show {address}` shows it", r.id);
        }
        let observed = kind.read(id).await.map_err(|e| anyhow!("reading {} {id}: {e}", node.kind))?.ok_or_else(|| anyhow!("no {} with id `{id}` exists in this account and region", node.kind))?;
        let record = ResourceRecord { address: address.to_string(), kind: node.kind.clone(), id: observed.id.clone(), props: observed.props, attrs: observed.attrs, tags: observed.tags, deps: node.deps.iter().cloned().collect() };
        store.put_record(&record).await.map_err(|e| anyhow!("{e}"))?;
        store.record_history("import").await.map_err(|e| anyhow!("{e}"))?;
        println!("Imported {} as {address}. Run `cairn plan` to see how it differs from the stack.", observed.id);
        Ok(0)
    }
    .await;
    lock.release().await?;
    result
}
