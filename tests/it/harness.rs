//! Starts the emulator once per test run and runs the `cairn` binary against it.
//!
//! With `CAIRN_TEST_ENDPOINT` set, tests use that endpoint (for example LocalStack on
//! :4566) and start nothing. Otherwise they start moto from `localstack/moto.sh`, which
//! installs the pinned version into a venv on first use. If the emulator cannot be
//! started the tests fail and say why: they never skip.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static ENDPOINT: OnceLock<String> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The emulator endpoint, starting moto on first use.
pub fn endpoint() -> &'static str {
    ENDPOINT.get_or_init(|| match std::env::var("CAIRN_TEST_ENDPOINT") {
        Ok(e) if !e.is_empty() => {
            wait_ready(&e, Duration::from_secs(30)).unwrap_or_else(|why| panic!("CAIRN_TEST_ENDPOINT={e} is not answering: {why}"));
            e
        }
        _ => start_moto(),
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("no free local port for the emulator")
}

fn start_moto() -> String {
    start_moto_with(&[])
}

/// Starts a separate moto with extra settings (e.g. IAM enforcement); it stops with the test run.
pub fn start_moto_with(env: &[(&str, &str)]) -> String {
    let port = free_port();
    let log_path = std::env::temp_dir().join(format!("cairn-moto-{port}.log"));
    let log = std::fs::File::create(&log_path).expect("cannot create the emulator log file");
    let script = repo_root().join("localstack/moto.sh");
    // The script watches this process and stops moto when it exits, so the child is not waited on.
    #[allow(clippy::zombie_processes)]
    let _child = Command::new("bash")
        .arg(&script)
        .arg("start")
        .arg(port.to_string())
        .env("CAIRN_PARENT_PID", std::process::id().to_string())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let endpoint = format!("http://127.0.0.1:{port}");
    // The first run installs moto into a venv, which takes a while on a new machine.
    if let Err(why) = wait_ready(&endpoint, Duration::from_secs(600)) {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        panic!("the moto emulator did not start ({why}). Its log ({}):\n{log}", log_path.display());
    }
    endpoint
}

fn wait_ready(endpoint: &str, limit: Duration) -> Result<(), String> {
    let hostport = endpoint.trim_start_matches("http://").trim_end_matches('/').to_string();
    let deadline = Instant::now() + limit;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match probe(&hostport) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Err(format!("not ready after {}s: {last}", limit.as_secs()))
}

/// Any HTTP answer means the server is up (moto: /moto-api/, LocalStack: /_localstack/health).
fn probe(hostport: &str) -> Result<(), String> {
    let mut s = TcpStream::connect(hostport).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(format!("GET /moto-api/ HTTP/1.0\r\nHost: {hostport}\r\n\r\n").as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).map_err(|e| e.to_string())?;
    if buf[..n].starts_with(b"HTTP/") {
        Ok(())
    } else {
        Err("not an HTTP answer".into())
    }
}

/// A unique name so tests can share one emulator without colliding.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}{}{n}", std::process::id() % 100_000)
}

/// One test's working directory: a stack file and its own state directory.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub stack_name: String,
    pub env: String,
    /// Another emulator than the shared one (tests that cannot share it).
    pub own_endpoint: Option<String>,
}

impl Workspace {
    /// Copies the quickstart example under a unique stack name.
    pub fn quickstart() -> Workspace {
        let text = std::fs::read_to_string(repo_root().join("examples/quickstart/stack.yaml")).expect("examples/quickstart/stack.yaml");
        let name = unique("qs");
        Workspace::with_stack(&text.replacen("stack: quickstart", &format!("stack: {name}"), 1), &name, "dev")
    }

    pub fn with_stack(text: &str, stack_name: &str, env: &str) -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("stack.yaml"), text).expect("write stack");
        Workspace { dir, stack_name: stack_name.to_string(), env: env.to_string(), own_endpoint: None }
    }

    /// Points every run of this workspace at another emulator.
    pub fn at_endpoint(mut self, endpoint: &str) -> Workspace {
        self.own_endpoint = Some(endpoint.to_string());
        self
    }

    /// The emulator this workspace's runs talk to.
    pub fn endpoint(&self) -> String {
        self.own_endpoint.clone().unwrap_or_else(|| endpoint().to_string())
    }

    pub fn stack_path(&self) -> PathBuf {
        self.dir.path().join("stack.yaml")
    }

    pub fn edit(&self, f: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(self.stack_path()).expect("read stack");
        std::fs::write(self.stack_path(), f(text)).expect("write stack");
    }

    /// Runs `cairn ARGS --stack stack.yaml --env ENV` (stack args appended unless `raw`).
    pub fn cairn(&self, args: &[&str]) -> Run {
        let mut full: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        full.extend(["--stack".into(), self.stack_path().display().to_string(), "--env".into(), self.env.clone()]);
        self.cairn_with_full(&full, &[])
    }

    pub fn cairn_raw(&self, args: &[&str]) -> Run {
        self.cairn_with_full(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &[])
    }

    fn cairn_with_full(&self, args: &[String], env: &[(&str, &str)]) -> Run {
        match &self.own_endpoint {
            Some(ep) => {
                let mut all = vec![("AWS_ENDPOINT_URL", ep.as_str())];
                all.extend(env.iter().copied());
                run_cairn_env(self.dir.path(), args, &all)
            }
            None => run_cairn_env(self.dir.path(), args, env),
        }
    }

    /// Like `cairn`, with extra environment (other credentials, another endpoint).
    pub fn cairn_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut full: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        full.extend(["--stack".into(), self.stack_path().display().to_string(), "--env".into(), self.env.clone()]);
        self.cairn_with_full(&full, env)
    }

    /// The command `cairn` would run, for tests that spawn and kill it themselves.
    pub fn cairn_command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = cairn_at(&self.endpoint());
        c.args(args)
            .args(["--stack".as_ref(), self.stack_path().as_os_str(), "--env".as_ref(), self.env.as_ref()])
            .current_dir(self.dir.path())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// `plan --json`, parsed.
    pub fn plan_json(&self, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["plan", "--json"];
        args.extend(extra);
        let r = self.cairn(&args);
        r.assert_code(0);
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap_or_else(|e| panic!("plan --json is not JSON ({e}):\n{}", r.stdout))["plan"].clone()
    }

    pub fn apply(&self) {
        self.cairn(&["apply", "--auto-approve"]).assert_code(0);
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "cairn exited {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr);
        self
    }
}

/// Runs `cairn ARGS` in a scratch directory (commands that need no stack).
pub fn run_cairn_plain(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    run_cairn(dir.path(), &args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

/// The `cairn` binary set up for `endpoint` with test credentials, and none of the caller's
/// profile, stack, env or remote-state settings leaking in.
fn cairn_at(endpoint: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
    c.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("CAIRN_STACK")
        .env_remove("CAIRN_ENV")
        .env_remove("CAIRN_STATE_S3_BUCKET")
        .env("NO_COLOR", "1");
    c
}

fn run_cairn(cwd: &Path, args: &[String]) -> Run {
    run_cairn_env(cwd, args, &[])
}

fn run_cairn_env(cwd: &Path, args: &[String], extra: &[(&str, &str)]) -> Run {
    let out: Output = cairn_at(endpoint()).args(args).current_dir(cwd).envs(extra.iter().copied()).stdin(Stdio::null()).output().expect("run the cairn binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An SDK configuration pointing at the emulator, for checking what cairn did.
pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_config_at(endpoint(), "test", "test").await
}

pub async fn sdk_config_at(endpoint: &str, key: &str, secret: &str) -> aws_config::SdkConfig {
    let creds = aws_sdk_s3::config::Credentials::new(key, secret, None, None, "cairn-tests");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .load()
        .await
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}
