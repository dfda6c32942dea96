//! Wiring for one command run: reads and parses the stack once (`pipeline::load`), builds the AWS context and registry, opens state, holds the lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use cairn_engine::compile::CompileOptions;
use cairn_engine::diag::Diagnostics;
use cairn_engine::graph::ResourceGraph;
use cairn_engine::lease::Lease;
use cairn_engine::pipeline::{self, Loaded};
use cairn_engine::provider::Registry;
use cairn_engine::source::SourceFile;
use cairn_engine::state::{LockInfo, StateError, StateStore};
use cairn_resources::{AwsContext, AwsSettings};
use cairn_state::SqliteStore;

use crate::cli::AwsArgs;

/// A failure whose full text has already been rendered (diagnostics); main prints it as is.
#[derive(Debug)]
pub struct Reported {
    pub text: String,
    pub summary: String,
}

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.summary)
    }
}
impl std::error::Error for Reported {}

pub fn read_source(path: &Path) -> Result<SourceFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read stack file {}", path.display()))?;
    Ok(SourceFile::new(path.display().to_string(), text))
}

pub fn parse_vars(vars: &[String]) -> Result<BTreeMap<String, String>> {
    vars.iter()
        .map(|v| v.split_once('=').map(|(k, v)| (k.trim().to_string(), v.to_string())).ok_or_else(|| anyhow!("--var {v}: expected NAME=VALUE")))
        .collect()
}

/// Reads and parses the stack file: once per command; every later step works from the result.
pub fn load(path: &Path) -> Result<Loaded> {
    let file = read_source(path)?;
    pipeline::load(file.clone()).map_err(|diags| reported(&diags, &file))
}

/// Diagnostics rendered with file:line:column and carets, for main to print as they are.
fn reported(diags: &Diagnostics, file: &SourceFile) -> anyhow::Error {
    Reported { text: diags.render(file), summary: format!("{} error(s) in {}", diags.error_count(), file.name) }.into()
}

/// Compiles a loaded stack for `env`; on errors, returns them rendered.
pub fn compile(loaded: &Loaded, env: &str, vars: &[String], caller_account: Option<String>) -> Result<(ResourceGraph, Diagnostics)> {
    let opts = CompileOptions { env: env.to_string(), var_overrides: parse_vars(vars)?, caller_account };
    loaded.compile(&opts, &cairn_resources::Schemas).map_err(|diags| reported(&diags, &loaded.file))
}

/// Loads and compiles the stack (commands that need no AWS identity).
pub fn load_graph(path: &Path, env: &str, vars: &[String], caller_account: Option<String>) -> Result<(Loaded, ResourceGraph, Diagnostics)> {
    let loaded = load(path)?;
    let (graph, warnings) = compile(&loaded, env, vars, caller_account)?;
    Ok((loaded, graph, warnings))
}

/// Everything a command that talks to AWS needs, from one read of the stack file: the graph
/// (compiled again, not re-read, only when it uses the caller's account), the AWS context with
/// the caller checked against the environment's account, and the state backend.
pub struct Session {
    pub graph: ResourceGraph,
    pub ctx: AwsContext,
    pub backend: Option<S3Backend>,
}

pub async fn connect(stack: &crate::cli::StackArgs, aws_args: &AwsArgs) -> Result<Session> {
    let loaded = load(&stack.stack)?;
    // Compiled first: its errors include those of the `state:` block, all reported together.
    let (mut graph, mut warnings) = compile(&loaded, &stack.env, &stack.vars, None)?;
    let backend = backend_in(&loaded)?;
    let ctx = aws(aws_args, &graph.region).await;
    let account = check_account(&ctx, graph.account_id.as_deref(), &stack.env).await?;
    if graph.account_id.is_none() {
        (graph, warnings) = compile(&loaded, &stack.env, &stack.vars, Some(account))?;
    }
    if !warnings.0.is_empty() {
        eprint!("{}", warnings.render(&loaded.file));
    }
    Ok(Session { graph, ctx, backend })
}

/// What commands that only touch state need from the stack file: its name, region and backend.
pub struct StackHome {
    pub name: String,
    pub region: String,
    pub backend: Option<S3Backend>,
    pub loaded: Loaded,
}

/// Loads the stack file for a state-only command; problems outside `state:` do not stop it.
pub fn stack_home(path: &Path) -> Result<StackHome> {
    let loaded = load(path)?;
    let backend = backend_in(&loaded)?;
    Ok(StackHome { name: loaded.spec.stack.value.clone(), region: loaded.spec.region.value.clone(), backend, loaded })
}

pub fn state_path(dir: &Path, stack: &str, env: &str) -> PathBuf {
    dir.join(stack).join(format!("{env}.db"))
}

/// Remote state in S3, from the stack's `state: { s3: {...} }` block or CAIRN_STATE_S3_* variables.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct S3Backend {
    pub bucket: String,
    #[serde(default)]
    pub key_prefix: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub kms_key: Option<String>,
}

/// The backend a loaded stack names in `state:` (located errors if that block is wrong),
/// after the CAIRN_STATE_S3_* variables, which win.
pub fn backend_in(loaded: &Loaded) -> Result<Option<S3Backend>> {
    if let Some(b) = backend_from_env() {
        return Ok(Some(b));
    }
    let state = loaded.state().map_err(|diags| reported(diags, &loaded.file))?;
    Ok(state.and_then(|s| s.s3.as_ref()).map(|s3| S3Backend {
        bucket: s3.bucket.value.clone(),
        key_prefix: s3.key_prefix.as_ref().map_or_else(|| "cairn".into(), |p| p.value.clone()),
        region: s3.region.as_ref().map(|r| r.value.clone()),
        kms_key: s3.kms_key.as_ref().map(|k| k.value.clone()),
    }))
}

fn backend_from_env() -> Option<S3Backend> {
    let bucket = std::env::var("CAIRN_STATE_S3_BUCKET").ok().filter(|b| !b.is_empty())?;
    Some(S3Backend {
        bucket,
        key_prefix: std::env::var("CAIRN_STATE_S3_PREFIX").unwrap_or_else(|_| "cairn".into()),
        region: std::env::var("CAIRN_STATE_S3_REGION").ok(),
        kms_key: std::env::var("CAIRN_STATE_S3_KMS_KEY").ok(),
    })
}

/// Opens the state of (stack, env): S3 when a backend is configured, else the local SQLite file.
pub async fn open_store(backend: Option<&S3Backend>, dir: &Path, stack: &str, env: &str, aws_args: &AwsArgs, region: &str) -> Result<Arc<dyn StateStore>> {
    if let Some(b) = backend {
        let ctx = aws(aws_args, region).await;
        let loc = cairn_state::S3Location { bucket: b.bucket.clone(), key_prefix: b.key_prefix.clone(), region: b.region.clone(), kms_key: b.kms_key.clone() };
        let store = cairn_state::open_s3(&loc, &ctx.config, ctx.s3_force_path_style, stack, env)
            .await
            .map_err(|e| anyhow!("opening state in s3://{}/{}: {e}", b.bucket, b.key_prefix))?;
        return Ok(crate::crash_hook::wrap(Arc::new(store)));
    }
    let path = state_path(dir, stack, env);
    Ok(crate::crash_hook::wrap(Arc::new(SqliteStore::open(&path, stack, env).map_err(|e| anyhow!("opening state {}: {e}", path.display()))?)))
}

/// Opens state that must already exist (read-only commands).
pub async fn open_existing_store(backend: Option<&S3Backend>, dir: &Path, stack: &str, env: &str, region: &str) -> Result<Arc<dyn StateStore>> {
    if let Some(b) = backend {
        let ctx = aws(&AwsArgs::default(), region).await;
        let client = aws_sdk_s3_client(&ctx, b);
        let store = cairn_state::S3Store::open_existing(client, b.bucket.clone(), b.key_prefix.clone(), stack.to_string(), env.to_string(), b.kms_key.clone())
            .await
            .map_err(|e| anyhow!("opening state in s3://{}/{}: {e}", b.bucket, b.key_prefix))?;
        return Ok(Arc::new(store));
    }
    let path = state_path(dir, stack, env);
    if !path.exists() {
        bail!("no state for stack `{stack}` env `{env}` at {} (nothing has been applied yet, or pass --state-dir)", path.display());
    }
    Ok(Arc::new(SqliteStore::open_existing(&path).map_err(|e| anyhow!("opening state {}: {e}", path.display()))?))
}

fn aws_sdk_s3_client(ctx: &AwsContext, b: &S3Backend) -> cairn_state::S3Client {
    cairn_state::s3_client(&ctx.config, ctx.s3_force_path_style, b.region.as_deref())
}

pub async fn aws(args: &AwsArgs, region: &str) -> AwsContext {
    let ctx = AwsContext::load(&AwsSettings {
        region: Some(region.to_string()),
        endpoint_url: args.endpoint_url.clone(),
        profile: args.profile.clone(),
        max_attempts: 0,
    })
    .await;
    // Every call family starts at AWS's published limit, or the --rate-limit given for it.
    ctx.budgets.set_table(cairn_resources::throttle::RateTable::aws_defaults().with(&args.rate_limits));
    ctx
}

pub fn registry(ctx: &AwsContext) -> Registry {
    cairn_resources::registry(ctx)
}

/// Who we are and whether we may act on this environment's account.
pub async fn check_account(ctx: &AwsContext, graph_account: Option<&str>, env: &str) -> Result<String> {
    let me = cairn_resources::identity::caller_identity(ctx).await.map_err(|e| {
        let text = e.to_string();
        let why = if text.contains("loading credentials") || text.contains("no providers in chain") || text.contains("credentials") && text.contains("dispatch failure") {
            "no AWS credentials were found".to_string()
        } else {
            // The SDK's debug chain is long; the first line says what happened.
            text.lines().next().unwrap_or_default().chars().take(300).collect()
        };
        anyhow!("cannot establish who is calling AWS: {why}\n  cairn uses the standard credential chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, or AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN (GitHub Actions OIDC); RUST_LOG=debug shows the details")
    })?;
    if let Some(want) = graph_account {
        if want != me.account {
            bail!(
                "environment `{env}` belongs to account {want}, but the credentials in use are for account {} ({}); switch credentials or pick the right --env",
                me.account,
                me.arn
            );
        }
    }
    Ok(me.account)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

const LEASE: u64 = 120;

/// A held state lock; its lease is renewed in the background until released.
pub struct HeldLock {
    store: Arc<dyn StateStore>,
    lease: Lease,
}

impl HeldLock {
    pub async fn acquire(store: Arc<dyn StateStore>, operation: &str, wait: Duration) -> Result<HeldLock> {
        let user = std::env::var("USER").or_else(|_| std::env::var("GITHUB_ACTOR")).unwrap_or_else(|_| "unknown".into());
        let host = cairn_state::local_hostname();
        let run = std::env::var("GITHUB_RUN_ID").map(|r| format!(" run {r}")).unwrap_or_default();
        let deadline = std::time::Instant::now() + wait;
        loop {
            let t = now();
            let info = LockInfo {
                owner: format!("{user}{run}"),
                host: host.clone(),
                pid: std::process::id(),
                operation: operation.into(),
                created_at: t,
                lease_expires_at: t + LEASE,
            };
            match store.lock(&info).await {
                Ok(()) => break,
                Err(StateError::Locked(holder)) if std::time::Instant::now() < deadline => {
                    tracing::info!(owner = %holder.owner, "state locked; waiting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(StateError::Locked(holder)) => {
                    let expired = if holder.lease_expires_at < t { " Its lease has expired, so the holder is probably gone." } else { "" };
                    bail!(
                        "the state is locked by {} on {} (pid {}), running {} since {} (unix time).{expired}\n  Wait for it to finish, pass --lock-timeout SECONDS to wait, or if that run is dead: cairn state unlock",
                        holder.owner, holder.host, holder.pid, holder.operation, holder.created_at
                    );
                }
                Err(e) => return Err(anyhow!("taking the state lock: {e}")),
            }
        }
        let lease = Lease::keep(store.clone(), Duration::from_secs(LEASE), Duration::from_secs(LEASE / 4));
        Ok(HeldLock { store, lease })
    }

    /// Becomes true when the lock is lost mid-run; the applier stops starting work.
    pub fn lost(&self) -> tokio::sync::watch::Receiver<bool> {
        self.lease.lost()
    }

    /// Why the lock was lost, if it was.
    pub fn lost_because(&self) -> Option<String> {
        self.lease.why()
    }

    pub async fn release(self) -> Result<()> {
        let lost = self.lease.why();
        drop(self.lease);
        if lost.is_some() {
            // Not ours any more: unlocking could only fail, or remove another run's lock.
            return Ok(());
        }
        self.store.unlock().await.map_err(|e| anyhow!("releasing the state lock: {e}"))
    }
}
