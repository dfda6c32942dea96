//! `plan`, `apply` and `destroy`: the engine's pipeline (reconcile, refresh, plan, apply) under the state lock, with confirmation and progress.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use cairn_engine::apply::{ApplyEvent, ApplyObserver, ApplyOptions, ApplyReport, Outcome, RetryPolicy};
use cairn_engine::graph::ResourceGraph;
use cairn_engine::pipeline::{PlanRequest, Run};
use cairn_engine::plan::{Action, Plan, PlanMode};
use cairn_engine::provider::Registry;
use cairn_engine::refresh::{Reconciled, RefreshStats};
use cairn_engine::state::StateStore;
use cairn_resources::aws::CallCounter;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::cli::{AwsArgs, OutputArgs, OutputFormat, StackArgs};
use crate::render;
use crate::session::{self, HeldLock};
use crate::style::Style;

pub const EXIT_CHANGES: u8 = 2;
pub const EXIT_INTERRUPTED: u8 = 130;

/// Everything produced by planning under the lock.
struct Planned {
    plan: Plan,
    reconciled: Vec<Reconciled>,
    refresh: RefreshStats,
    api_calls: BTreeMap<String, u64>,
    api_calls_by_kind: BTreeMap<String, BTreeMap<String, u64>>,
}

/// The pipeline's reconcile → refresh → plan, under the lock the caller holds.
async fn make_plan(run: &Run<'_>, graph: &ResourceGraph, mode: PlanMode, do_refresh: bool, allow_destroy: &[String]) -> Result<Planned> {
    let req = PlanRequest { mode, refresh: do_refresh, allow_destroy: allow_destroy.iter().cloned().collect() };
    let planned = run.plan(graph, &req).await.map_err(|e| anyhow!("{e}"))?;
    Ok(Planned { plan: planned.plan, reconciled: planned.reconciled, refresh: planned.refresh, api_calls: BTreeMap::new(), api_calls_by_kind: BTreeMap::new() })
}

/// The run over this command's registry and store; the binary's retries wait for real.
fn pipeline_run(registry: &Registry, store: Arc<dyn StateStore>) -> Run<'_> {
    Run { registry, store, retry: RetryPolicy::default() }
}

#[derive(Serialize)]
struct PlanJson<'a> {
    plan: Value,
    reconciled: &'a [Reconciled],
    refresh: &'a RefreshStats,
    /// AWS operations made while reconciling and refreshing, by `Service.Operation`.
    api_calls: &'a BTreeMap<String, u64>,
    /// The same calls by the kind that made them (`-`: not a kind's, e.g. caller identity).
    api_calls_by_kind: &'a BTreeMap<String, BTreeMap<String, u64>>,
    /// Each changed leaf with its path, per action (`render::change_paths`).
    changes: Value,
}

fn print_reconciled(reconciled: &[Reconciled]) {
    for r in reconciled {
        eprintln!("cairn: {} ({:?} interrupted earlier): {}", r.address, r.action, r.result);
    }
}

fn show_plan(p: &Planned, format: OutputFormat, compact: bool, style: &Style) {
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&PlanJson {
                plan: p.plan.to_shown_json(),
                reconciled: &p.reconciled,
                refresh: &p.refresh,
                api_calls: &p.api_calls,
                api_calls_by_kind: &p.api_calls_by_kind,
                changes: render::change_paths(&p.plan),
            })
            .unwrap_or_default()
        ),
        OutputFormat::Markdown => print!("{}", render::plan_markdown(&p.plan, compact)),
        OutputFormat::Text => {
            print_reconciled(&p.reconciled);
            print!("{}", render::plan_text(&p.plan, style, compact));
        }
    }
}

/// What `plan` was asked for beyond the stack, AWS and output flags.
pub struct PlanFlags<'a> {
    pub out: Option<&'a Path>,
    pub detailed: bool,
    pub destroy: bool,
    pub refresh: bool,
    pub allow_destroy: &'a [String],
    /// Group identical changes in text and Markdown.
    pub compact: bool,
}

pub async fn cmd_plan(stack: &StackArgs, aws_args: &AwsArgs, output: &OutputArgs, flags: PlanFlags<'_>, style: &Style) -> Result<u8> {
    let PlanFlags { out, detailed, destroy, refresh: do_refresh, allow_destroy, compact } = flags;
    let session::Session { graph, ctx, backend } = session::connect(stack, aws_args).await?;
    let registry = session::registry(&ctx);
    let store = session::open_store(backend.as_ref(), &stack.state_dir, &graph.stack, &graph.env, aws_args, &graph.region).await?;
    let lock = HeldLock::acquire(store.clone(), "plan", Duration::from_secs(aws_args.lock_timeout)).await?;
    ctx.calls.reset();
    let run = pipeline_run(&registry, store);
    let planned = make_plan(&run, &graph, if destroy { PlanMode::Destroy } else { PlanMode::Apply }, do_refresh, allow_destroy).await;
    lock.release().await?;
    let mut planned = planned?;
    planned.api_calls = ctx.calls.by_operation();
    planned.api_calls_by_kind = ctx.calls.by_kind();
    tracing::info!(calls = ctx.calls.total(), resources = planned.refresh.resources, "refresh API calls");
    planned.plan.backend = backend.map(|b| serde_json::to_value(b).unwrap_or_default());
    show_plan(&planned, output.format(), compact, style);
    if let Some(path) = out {
        write_plan(path, &planned.plan)?;
        if output.format() == OutputFormat::Text {
            println!("\nSaved the plan to {}. To apply exactly this plan: cairn apply {}", path.display(), path.display());
        }
    } else if output.format() == OutputFormat::Text && planned.plan.has_changes() {
        println!("\nNote: this plan was not saved; `cairn apply` will plan again. Use --out FILE to apply exactly this plan.");
    }
    Ok(if detailed && planned.plan.has_changes() { EXIT_CHANGES } else { 0 })
}

fn write_plan(path: &Path, plan: &Plan) -> Result<()> {
    let text = serde_json::to_string_pretty(plan)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing plan file {}", path.display()))
}

fn read_plan(path: &Path) -> Result<Plan> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading plan file {}", path.display()))?;
    let plan: Plan = serde_json::from_str(&text).with_context(|| format!("{} is not a cairn plan file", path.display()))?;
    if plan.format_version != cairn_engine::plan::PLAN_FORMAT {
        bail!(
            "{} was written by a cairn with plan format {}; this cairn reads format {}. Run plan again.",
            path.display(),
            plan.format_version,
            cairn_engine::plan::PLAN_FORMAT
        );
    }
    Ok(plan)
}

/// Arguments shared by `apply` and `destroy`.
pub struct ApplyArgs<'a> {
    pub plan_file: Option<&'a Path>,
    pub stack: Option<StackArgs>,
    pub state_dir: PathBuf,
    pub aws: &'a AwsArgs,
    pub output: &'a OutputArgs,
    pub auto_approve: bool,
    pub parallelism: usize,
    /// `--service-limit` values, on top of the default budgets.
    pub service_limits: &'a [(String, usize)],
    pub allow_destroy: &'a [String],
    pub mode: PlanMode,
}

/// How much of an apply runs at once: all mutations, and per service or kind.
struct Concurrency {
    parallelism: usize,
    service_limits: BTreeMap<String, usize>,
}

impl ApplyArgs<'_> {
    fn concurrency(&self) -> Concurrency {
        Concurrency { parallelism: self.parallelism, service_limits: cairn_engine::apply::service_limits_with(self.service_limits) }
    }
}

pub async fn cmd_apply(args: ApplyArgs<'_>, style: &Style) -> Result<u8> {
    let format = args.output.format();
    if let Some(path) = args.plan_file {
        let plan = read_plan(path)?;
        if plan.mode == PlanMode::Destroy && args.mode == PlanMode::Apply {
            tracing::info!("applying a saved destroy plan");
        }
        let ctx = session::aws(args.aws, &plan.region).await;
        session::check_account(&ctx, plan.account_id.as_deref(), &plan.env).await?;
        let registry = session::registry(&ctx);
        let backend: Option<session::S3Backend> = plan.backend.clone().and_then(|b| serde_json::from_value(b).ok());
        let store = session::open_store(backend.as_ref(), &args.state_dir, &plan.stack, &plan.env, args.aws, &plan.region).await?;
        let lock = HeldLock::acquire(store.clone(), "apply", Duration::from_secs(args.aws.lock_timeout)).await?;
        let run = pipeline_run(&registry, store);
        if let Err(e) = run.check_settled().await {
            lock.release().await?;
            bail!("{e}");
        }
        let result = run_apply(&plan, &run, &lock, &args.concurrency(), format, style, &ctx.calls).await;
        lock.release().await?;
        return result;
    }

    let stack = args.stack.as_ref().ok_or_else(|| anyhow!("give a saved plan file, or --stack FILE and --env ENV"))?;
    let session::Session { graph, ctx, backend } = session::connect(stack, args.aws).await?;
    let registry = session::registry(&ctx);
    let store = session::open_store(backend.as_ref(), &stack.state_dir, &graph.stack, &graph.env, args.aws, &graph.region).await?;
    let op = if args.mode == PlanMode::Destroy { "destroy" } else { "apply" };
    let lock = HeldLock::acquire(store.clone(), op, Duration::from_secs(args.aws.lock_timeout)).await?;
    let run = pipeline_run(&registry, store);
    let result = async {
        let planned = make_plan(&run, &graph, args.mode, true, args.allow_destroy).await?;
        if format != OutputFormat::Json {
            show_plan(&planned, OutputFormat::Text, false, style);
        }
        if !planned.plan.has_changes() {
            if format == OutputFormat::Json {
                show_plan(&planned, OutputFormat::Json, false, style);
            }
            return Ok(0);
        }
        if !args.auto_approve && !confirm(op, &graph)? {
            println!("\n{} cancelled; nothing was changed.", if op == "destroy" { "Destroy" } else { "Apply" });
            return Ok(1);
        }
        run_apply(&planned.plan, &run, &lock, &args.concurrency(), format, style, &ctx.calls).await
    }
    .await;
    lock.release().await?;
    result
}

fn confirm(op: &str, graph: &ResourceGraph) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to {op} without confirmation: stdin is not a terminal. Pass --auto-approve, or save a plan with `plan --out FILE` and apply that file");
    }
    print!("\nDo you want to {op} these changes in {}/{}?\n  Only 'yes' will be accepted: ", graph.stack, graph.env);
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// Prints Terraform-style progress lines and, on a terminal, a live bar of what is in flight.
struct Progress {
    bar: Option<ProgressBar>,
    in_flight: Mutex<BTreeMap<String, Instant>>,
    quiet: bool,
}

impl Progress {
    fn new(total: usize, quiet: bool) -> Arc<Progress> {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(total as u64);
            b.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {pos}/{len} done {wide_msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.enable_steady_tick(Duration::from_millis(250));
            b
        });
        let p = Arc::new(Progress { bar, in_flight: Mutex::new(BTreeMap::new()), quiet });
        if p.bar.is_some() {
            let weak = Arc::downgrade(&p);
            tokio::spawn(async move {
                while let Some(p) = weak.upgrade() {
                    p.refresh_message();
                    drop(p);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            });
        }
        p
    }
    fn line(&self, s: String) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.println(s),
            None => println!("{s}"),
        }
    }
    fn refresh_message(&self) {
        if let (Some(b), Ok(m)) = (&self.bar, self.in_flight.lock()) {
            let list: Vec<String> = m.iter().map(|(a, t)| format!("{a} ({}s)", t.elapsed().as_secs())).collect();
            b.set_message(if list.is_empty() { String::new() } else { format!("waiting on: {}", list.join(", ")) });
        }
    }
    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl ApplyObserver for Progress {
    fn event(&self, event: ApplyEvent) {
        match event {
            ApplyEvent::Started { address, action } => {
                if let Ok(mut m) = self.in_flight.lock() {
                    m.insert(address.clone(), Instant::now());
                }
                self.line(format!("{address}: {}", render::progress_words(action).0));
            }
            ApplyEvent::Finished { address, action, elapsed } => {
                if let Ok(mut m) = self.in_flight.lock() {
                    m.remove(&address);
                }
                if let Some(b) = &self.bar {
                    b.inc(1);
                }
                self.line(format!("{address}: {} after {}s", render::progress_words(action).1, elapsed.as_secs()));
            }
            ApplyEvent::Failed { address, action, error } => {
                if let Ok(mut m) = self.in_flight.lock() {
                    m.remove(&address);
                }
                if let Some(b) = &self.bar {
                    b.inc(1);
                }
                self.line(format!("{address}: {:?} failed: {error}", action));
            }
            ApplyEvent::Blocked { address, because } => self.line(format!("{address}: skipped because {because} did not complete")),
            ApplyEvent::Interrupted { in_flight } => {
                self.line(format!("Interrupt received: starting nothing new; waiting for {in_flight} call(s) in flight to finish and be recorded. Press Ctrl-C again to stop at once (state stays consistent; the next run reconciles)."));
            }
            ApplyEvent::LockLost { in_flight } => {
                self.line(format!("The state lock was lost: starting nothing new; waiting for {in_flight} call(s) in flight to finish and be recorded."));
            }
        }
    }
}

/// SIGTERM, which a cancelled CI job sends before it kills.
#[cfg(unix)]
type Term = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Term = ();

fn listen_for_term() -> Term {
    #[cfg(unix)]
    return tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(not(unix))]
    return ();
}

#[cfg(unix)]
async fn terminated(term: &mut Term) -> bool {
    match term {
        Some(t) => t.recv().await.is_some(),
        None => std::future::pending().await,
    }
}
#[cfg(not(unix))]
async fn terminated(_: &mut Term) -> bool {
    std::future::pending().await
}

/// Waits for Ctrl-C or SIGTERM; false if neither can be awaited.
async fn interrupt(term: &mut Term) -> bool {
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.is_ok(),
        r = terminated(term) => r,
    }
}

async fn run_apply(
    plan: &Plan,
    run: &Run<'_>,
    lock: &HeldLock,
    concurrency: &Concurrency,
    format: OutputFormat,
    style: &Style,
    calls: &CallCounter,
) -> Result<u8> {
    // The JSON result reports the apply's own calls, not the refresh before it.
    calls.reset();
    let (tx, rx) = watch::channel(false);
    // Installed before the first action, so a SIGTERM at any point of the apply stops it gracefully instead of killing it.
    let mut term = listen_for_term();
    let signals = tokio::spawn(async move {
        if interrupt(&mut term).await {
            let _ = tx.send(true);
            if interrupt(&mut term).await {
                eprintln!("\nSecond interrupt: exiting now. Every finished call is in state; unfinished ones are reconciled by the next plan or apply.");
                std::process::exit(EXIT_INTERRUPTED as i32);
            }
        }
    });
    let total = plan.actions.iter().filter(|a| a.action != Action::NoOp).count();
    let progress = Progress::new(total, format == OutputFormat::Json);
    let started = Instant::now();
    let opts = ApplyOptions { lock_lost: lock.lost(), service_limits: concurrency.service_limits.clone(), ..ApplyOptions::new(concurrency.parallelism, rx) };
    let result = run.apply(plan, opts, progress.as_ref()).await;
    progress.finish();
    signals.abort();
    let report = result.map_err(|e| anyhow!("{e}"))?;
    if format == OutputFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "plan": plan.to_shown_json(), "result": report, "api_calls_by_kind": calls.by_kind() }))?
        );
    } else {
        print_report(plan, &report, started.elapsed(), style);
    }
    if report.lock_lost {
        let why = lock.lost_because().unwrap_or_else(|| "the lease could not be renewed".into());
        bail!(
            "the state lock was lost during the apply ({why}); cairn stopped starting new work. Every call that finished is recorded in state. Check `cairn state history` and whether another run is applying now; when none is, run plan and apply again."
        );
    }
    Ok(if report.interrupted {
        EXIT_INTERRUPTED
    } else if report.succeeded() {
        0
    } else {
        1
    })
}

fn print_report(plan: &Plan, report: &ApplyReport, elapsed: Duration, style: &Style) {
    let by_action =
        |act: Action| plan.actions.iter().filter(|a| a.action == act && matches!(report.outcomes.get(&a.address), Some(Outcome::Done { .. }))).count();
    let (added, changed, destroyed, replaced) = (by_action(Action::Create), by_action(Action::Update), by_action(Action::Delete), by_action(Action::Replace));
    let failed: Vec<(&String, &Outcome)> = report.outcomes.iter().filter(|(_, o)| !matches!(o, Outcome::Done { .. })).collect();
    println!();
    if report.interrupted {
        println!("{}", style.red("Apply interrupted."));
    } else if failed.is_empty() {
        println!("{}", style.green(&format!("{} complete!", if plan.mode == PlanMode::Destroy { "Destroy" } else { "Apply" })));
    } else {
        println!("{}", style.red("Apply finished with errors."));
    }
    println!("Resources: {} added, {} changed, {} destroyed (in {:.1}s).", added + replaced, changed, destroyed + replaced, elapsed.as_secs_f64());
    // How far the run was from the fastest possible: its longest chain by measured durations.
    if let Some(cp) = &report.critical_path {
        let a = &cp.addresses;
        let chain = if a.len() <= 6 { a.join(" → ") } else { format!("{} → … → {}", a[..4].join(" → "), a[a.len() - 1]) };
        let ratio = cp.ratio().map(|r| format!(" = {r:.2}×")).unwrap_or_default();
        println!("Critical path {:.1} s ({chain}); wall {:.1} s{ratio}.", cp.critical_ms as f64 / 1000.0, cp.wall_ms as f64 / 1000.0);
    }
    for (addr, o) in &failed {
        match o {
            Outcome::Failed { error } => println!("  {} {addr}: {error}", style.red("✗")),
            Outcome::Blocked { because } => println!("  - {addr}: not attempted ({because} did not complete)"),
            Outcome::NotStarted => println!("  - {addr}: not started (interrupted)"),
            Outcome::Done { .. } => {}
        }
    }
    if !failed.is_empty() {
        println!("\nEverything that was created is recorded in state. Fix the cause above and run apply again; it continues from here.");
    }
    if !report.outputs.is_empty() {
        println!("\nOutputs:\n");
        for (k, v) in &report.outputs {
            println!("{k} = {}", render::value_text(v, k.len() + 3));
        }
    }
}
