//! `cairn import terraform`: a Terraform state becomes a cairn stack file and cairn state, with reads only against AWS.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use cairn_engine::provider::{Observed, Registry, ResourceKind};
use cairn_engine::source::SourceFile;
use cairn_engine::state::ResourceRecord;
use cairn_engine::tfimport::{self, report, writer, Mapped};

use crate::cli::ImportTerraformArgs;
use crate::session::{self, HeldLock};

/// How many resources are read from AWS at once while confirming they exist.
const READ_CONCURRENCY: usize = 8;

pub async fn cmd_import_terraform(args: &ImportTerraformArgs) -> Result<u8> {
    let text = std::fs::read_to_string(&args.tfstate).with_context(|| format!("cannot read {}", args.tfstate.display()))?;
    let input = tfimport::tfstate::parse(&text).map_err(|e| anyhow!("{}: {e}", args.tfstate.display()))?;
    let mut out = tfimport::map_all(&input);
    if !args.dry_run && args.out.exists() {
        bail!("{} already exists; choose another --out (import writes a new stack file)", args.out.display());
    }

    let region = args
        .region
        .clone()
        .or_else(|| arn_field(&out.resources, 3))
        .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
        .unwrap_or_else(|| "us-east-1".to_string());
    let state_account = arn_field(&out.resources, 4);
    let ctx = session::aws(&args.aws, &region).await;
    // Refuses credentials for another account than the one the state's ARNs name.
    let account = session::check_account(&ctx, state_account.as_deref(), &args.env).await?;
    let registry = session::registry(&ctx);

    // Confirm every resource exists (reads only) and complete what Terraform did not record.
    let mapped = std::mem::take(&mut out.resources);
    let observed = read_all(&registry, &mapped).await?;
    let mut kept: Vec<Mapped> = vec![];
    let mut seen: Vec<Observed> = vec![];
    let mut missing = vec![];
    for (mut m, o) in mapped.into_iter().zip(observed) {
        let Some(o) = o else {
            missing.push((m.sources.clone(), m.kind.clone(), m.id.clone()));
            continue;
        };
        if let Some(kind) = registry.get(&m.kind) {
            tfimport::report::reconcile(&mut m, &o, kind.schema());
        }
        kept.push(m);
        seen.push(o);
    }

    let stack_name = args.stack_name.clone().unwrap_or_else(|| {
        let stem = args.out.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "imported".into());
        writer::sanitize(&stem)
    });
    let opts = writer::WriteOptions {
        stack: stack_name,
        env: args.env.clone(),
        region: region.clone(),
        account_id: Some(account.clone()),
        source: args.tfstate.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default(),
    };
    let written = writer::write(&input, &kept, &cairn_resources::Schemas, &opts);

    // The written stack must compile; its graph gives each resource's exact tags and dependencies.
    let loaded = cairn_engine::pipeline::load(SourceFile::new(args.out.display().to_string(), written.yaml.clone())).map_err(|d| {
        anyhow!(
            "the generated stack does not parse (a bug in import; please report it):\n{}",
            d.render(&SourceFile::new(args.out.display().to_string(), written.yaml.clone()))
        )
    })?;
    let (graph, _) =
        session::compile(&loaded, &args.env, &[], Some(account.clone())).context("the generated stack does not compile (a bug in import; please report it)")?;
    let by_id: BTreeMap<(&str, &str), &Observed> = kept.iter().zip(&seen).map(|(m, o)| ((m.kind.as_str(), m.id.as_str()), o)).collect();
    let mut records = vec![];
    let mut gaps = vec![];
    let mut prop_changes = vec![];
    for row in &written.rows {
        let node = graph.nodes.get(&row.address).ok_or_else(|| anyhow!("the generated stack has no `{}` (a bug in import; please report it)", row.address))?;
        let o = by_id.get(&(row.kind.as_str(), row.id.as_str())).ok_or_else(|| anyhow!("no reading of {} {}", row.kind, row.id))?;
        if let Some(kind) = registry.get(&row.kind) {
            if kind.schema().taggable {
                gaps.extend(report::tag_gap(&row.address, &node.tags, &o.tags));
            }
            let changed = report::prop_changes(kind.schema(), &node.props, o, &node.lifecycle.ignore_changes);
            if !changed.is_empty() {
                prop_changes.push((row.address.clone(), changed));
            }
        }
        records.push(ResourceRecord {
            address: row.address.clone(),
            kind: row.kind.clone(),
            id: o.id.clone(),
            props: o.props.clone(),
            attrs: o.attrs.clone(),
            tags: o.tags.clone(),
            deps: node.deps.iter().cloned().collect(),
        });
    }
    let stack_path = args.out.display().to_string();
    let text = report::render(&report::ReportInput {
        input: &input,
        out: &out,
        rows: &written.rows,
        missing: &missing,
        tag_gaps: &gaps,
        prop_changes: &prop_changes,
        stack_path: &stack_path,
        env: &args.env,
        dry_run: args.dry_run,
    });

    if args.dry_run {
        println!("{}", written.yaml);
        println!("{text}");
        return Ok(0);
    }

    let backend = session::backend_in(&loaded)?;
    let store = session::open_store(backend.as_ref(), &args.state_dir, &graph.stack, &graph.env, &args.aws, &graph.region).await?;
    let lock = HeldLock::acquire(store.clone(), "import", Duration::from_secs(args.aws.lock_timeout)).await?;
    let result = async {
        let snap = store.snapshot().await.map_err(|e| anyhow!("{e}"))?;
        if let Some(r) = records.iter().find(|r| snap.resources.contains_key(&r.address)) {
            bail!(
                "state for stack `{}` env `{}` already manages `{}`; import into a fresh stack name (--stack-name) or env",
                graph.stack,
                graph.env,
                r.address
            );
        }
        // The stack file first: state that names resources no stack file describes would plan them as deletes.
        std::fs::write(&args.out, &written.yaml).with_context(|| format!("cannot write {}", args.out.display()))?;
        for r in &records {
            store.put_record(r).await.map_err(|e| anyhow!("{e}"))?;
        }
        store.record_history("import terraform").await.map_err(|e| anyhow!("{e}"))?;
        Ok(())
    }
    .await;
    lock.release().await?;
    result?;
    println!("Wrote {stack_path} and recorded {} resources in state (stack `{}`, env `{}`).\n", records.len(), graph.stack, graph.env);
    println!("{text}");
    Ok(0)
}

/// Reads every mapped resource by its id, a few at a time; `None` where AWS has no such resource.
async fn read_all(registry: &Registry, mapped: &[Mapped]) -> Result<Vec<Option<Observed>>> {
    let limit = Arc::new(tokio::sync::Semaphore::new(READ_CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, m) in mapped.iter().enumerate() {
        let kind: Arc<dyn ResourceKind> =
            registry.get(&m.kind).cloned().ok_or_else(|| anyhow!("{}: no cairn kind {} (a bug in import; please report it)", m.sources.join(", "), m.kind))?;
        let (id, what) = (m.id.clone(), format!("{} {} ({})", m.kind, m.id, m.sources.first().cloned().unwrap_or_default()));
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            (i, kind.read(&id).await.map_err(|e| anyhow!("reading {what}: {e}")))
        });
    }
    let mut out: Vec<Option<Observed>> = vec![None; mapped.len()];
    while let Some(joined) = tasks.join_next().await {
        let (i, result) = joined.map_err(|e| anyhow!("{e}"))?;
        out[i] = result?;
    }
    Ok(out)
}

/// The most common value of one `:`-separated field of the mapped resources' ARNs (3 = region, 4 = account).
fn arn_field(mapped: &[Mapped], field: usize) -> Option<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for m in mapped {
        for v in m.attrs.values().filter(|v| v.starts_with("arn:")) {
            if let Some(f) = v.split(':').nth(field).filter(|f| !f.is_empty() && (field != 4 || f.chars().all(|c| c.is_ascii_digit()))) {
                *counts.entry(f.to_string()).or_default() += 1;
            }
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(v, _)| v)
}
