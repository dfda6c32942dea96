//! Benchmark: wall time of applying the platform stack (stacks/platform.yaml, env dev) through
//! the fault proxy, clean and with a share of calls throttled, against a moto it starts itself.
//!
//!   cargo bench --bench fault_apply                      3 rounds, 10 % throttles
//!   cargo bench --bench fault_apply -- --rounds 1        one round
//!   cargo test --all-targets (./test.sh, CI)            one round, as part of the test run
//!   CAIRN_BENCH_ROUNDS=5 CAIRN_BENCH_THROTTLE=0.2 cargo bench --bench fault_apply
//!   CAIRN_BENCH_KEEP=1 ...                               keep each run's `cairn` output
//!   CAIRN_BENCH_LATENCY=0|1 ...                          skip or add the latency run (default: on
//!                                                        under `cargo bench`, off under `cargo test`)
//!
//! Each round applies and destroys the stack twice under unique names: once through the proxy
//! with no faults, once with throttles drawn from a fixed seed. It prints the median apply
//! times and their ratio (the goal: throttled at most 1.5x clean). Each apply's critical-path
//! line is printed too. The latency run adds realistic (scaled-down) per-operation latencies to
//! the slow creates (NAT gateway, EKS cluster and node group, RDS) and reports the median wall
//! time over the critical path (the goal: at most 1.1). Every `cairn` run has a time limit, so
//! the benchmark always ends.

// The proxy's own unit tests are compiled here too but never run; their imports go unused.
#[path = "../tests/it/faults.rs"]
#[allow(unused_imports)]
mod faults;
#[path = "../tests/it/moto_vars.rs"]
mod moto_vars;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use faults::{FaultProxy, Faults, Latency};

/// Longest a single `cairn apply` or `destroy` may take before the round counts as failed.
const RUN_LIMIT: Duration = Duration::from_secs(300);
const SEED: u64 = 0x5eed_cafe;
// moto's EKS has no access configuration (every cluster reads as CONFIG_MAP; dev has no access entries).
const VARS: [&str; 10] = moto_vars::PLATFORM_ON_MOTO;

struct Options {
    rounds: usize,
    throttle: f64,
    /// Also apply with realistic latencies and report wall time over the critical path.
    latency: bool,
    /// Run by `cargo test` with a test-name filter: nothing of this benchmark was asked for.
    skip: bool,
}

fn options() -> Result<Options, String> {
    let env_num = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary too, without
    // it, and then one round (the bounded CI mode) is enough to print the figures.
    let benching = std::env::args().any(|a| a == "--bench");
    let default_rounds = if benching { 3 } else { 1 };
    let mut rounds =
        env_num("CAIRN_BENCH_ROUNDS").map(|v| v.parse::<usize>().map_err(|e| format!("CAIRN_BENCH_ROUNDS: {e}"))).transpose()?.unwrap_or(default_rounds);
    let mut skip = false;
    let mut throttle = env_num("CAIRN_BENCH_THROTTLE").map(|v| v.parse::<f64>().map_err(|e| format!("CAIRN_BENCH_THROTTLE: {e}"))).transpose()?.unwrap_or(0.10);
    let latency = env_num("CAIRN_BENCH_LATENCY").map(|v| v != "0").unwrap_or(benching);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => rounds = args.next().ok_or("--rounds needs a number")?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--throttle" => throttle = args.next().ok_or("--throttle needs a fraction")?.parse().map_err(|e| format!("--throttle: {e}"))?,
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => {}
            // Under `cargo test`, other arguments are test filters or harness flags meant for
            // the test binaries: this benchmark was not asked for.
            _ if !benching => skip = true,
            other => return Err(format!("unknown argument {other} (use --rounds N, --throttle P)")),
        }
    }
    if rounds == 0 || !(0.0..1.0).contains(&throttle) {
        return Err("rounds must be at least 1 and the throttle share in [0, 1)".into());
    }
    Ok(Options { rounds, throttle, latency, skip })
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn probe(hostport: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(hostport) else { return false };
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    if s.write_all(format!("GET /moto-api/ HTTP/1.0\r\nHost: {hostport}\r\n\r\n").as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 5];
    matches!(s.read(&mut buf), Ok(5)) && &buf == b"HTTP/"
}

/// The emulator: `CAIRN_TEST_ENDPOINT` if set, else a moto started here that stops when this
/// process exits (the launcher watches `CAIRN_PARENT_PID`).
fn emulator() -> Result<String, String> {
    if let Ok(e) = std::env::var("CAIRN_TEST_ENDPOINT") {
        if !e.is_empty() {
            return Ok(e);
        }
    }
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| format!("no free port: {e}"))?.port();
    let log_path = std::env::temp_dir().join(format!("cairn-bench-moto-{port}.log"));
    let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    // The launcher exits by itself once this process is gone, so it is not waited on.
    #[allow(clippy::zombie_processes)]
    Command::new("bash")
        .arg(repo_root().join("localstack/moto.sh"))
        .args(["start", &port.to_string()])
        .env("CAIRN_PARENT_PID", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start moto: {e}"))?;
    let hostport = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if probe(&hostport) {
            return Ok(format!("http://{hostport}"));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Err(format!("moto did not start; see {}", log_path.display()))
}

/// The platform stack under a unique name, edited as the platform test edits it for moto.
fn platform_stack(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let text = std::fs::read_to_string(repo_root().join("stacks/platform.yaml")).map_err(|e| format!("stacks/platform.yaml: {e}"))?;
    let text = text
        .replacen("stack: platform", &format!("stack: {name}"), 1)
        .replace("alias/platform-", &format!("alias/{name}-"))
        .replace("platform-${env}", &format!("{name}-${{env}}"))
        // moto's EKS returns no cluster security group; admit no database clients.
        .replace("allowed_security_group_ids: [\"${cluster.cluster_security_group_id}\"]", "allowed_security_group_ids: []");
    let path = dir.join("stack.yaml");
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}

/// Runs `cairn COMMAND --auto-approve` against `endpoint`; its wall time, or why it failed.
fn cairn(dir: &Path, stack: &Path, command: &str, endpoint: &str) -> Result<Duration, String> {
    let out = std::fs::File::create(dir.join(format!("{command}.log"))).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([command, "--auto-approve"])
        .args(VARS)
        .arg("--stack")
        .arg(stack)
        .args(["--env", "dev"])
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("CAIRN_STACK")
        .env_remove("CAIRN_ENV")
        .env_remove("CAIRN_STATE_S3_BUCKET")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot run cairn: {e}"))?;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let took = start.elapsed();
            let log = std::fs::read_to_string(dir.join(format!("{command}.log"))).unwrap_or_default();
            return if status.success() { Ok(took) } else { Err(format!("cairn {command} exited {status}:\n{log}")) };
        }
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("cairn {command} did not finish within {}s", RUN_LIMIT.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Sample {
    apply: Duration,
    /// The apply's `Critical path ...` line, if it printed one.
    critical: Option<String>,
    destroy: Duration,
    requests: u64,
    throttled: u64,
}

/// One apply and destroy of a fresh copy of the platform through a proxy with `faults`.
fn run_once(upstream: &str, name: &str, faults: Faults) -> Result<Sample, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let stack = platform_stack(dir.path(), name)?;
    let proxy = FaultProxy::start(upstream, faults);
    let apply = cairn(dir.path(), &stack, "apply", &proxy.endpoint())?;
    let stats = proxy.stats();
    let log = std::fs::read_to_string(dir.path().join("apply.log")).unwrap_or_default();
    let critical = log.lines().find(|l| l.starts_with("Critical path")).map(str::to_string);
    let destroy = cairn(dir.path(), &stack, "destroy", &proxy.endpoint())?;
    if std::env::var_os("CAIRN_BENCH_KEEP").is_some() {
        println!("  logs kept in {}", dir.keep().display());
    }
    Ok(Sample { apply, critical, destroy, requests: stats.requests, throttled: stats.throttled })
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2
    }
}

fn main() -> ExitCode {
    let opts = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("fault_apply: {e}");
            return ExitCode::from(2);
        }
    };
    if opts.skip {
        println!("fault_apply: skipped (cargo test was given arguments for other tests)");
        return ExitCode::SUCCESS;
    }
    let upstream = match emulator() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("fault_apply: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut clean, mut throttled, mut slow) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..opts.rounds {
        let tag = format!("{}{round}", std::process::id() % 100_000);
        let mut runs = vec![("clean", Faults::none(), &mut clean), ("throttled", Faults::throttle(opts.throttle, SEED + round as u64), &mut throttled)];
        if opts.latency {
            // Minutes on AWS scaled to seconds; every other call 20 ms.
            let latency = Latency::slow_creates(Duration::from_secs(2), Duration::from_millis(20));
            runs.push(("latency", Faults { latency, ..Faults::none() }, &mut slow));
        }
        for (label, faults, samples) in runs {
            match run_once(&upstream, &format!("fb{}{tag}", &label[..1]), faults) {
                Ok(s) => {
                    println!(
                        "round {round} {label:>9}: apply {:>6.2}s  destroy {:>6.2}s  ({} requests, {} throttled)",
                        s.apply.as_secs_f64(),
                        s.destroy.as_secs_f64(),
                        s.requests,
                        s.throttled
                    );
                    if let Some(line) = &s.critical {
                        println!("  {line}");
                    }
                    samples.push(s);
                }
                Err(e) => {
                    eprintln!("fault_apply: round {round} {label}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let apply = |s: &[Sample]| median(s.iter().map(|s| s.apply).collect());
    let destroy = |s: &[Sample]| median(s.iter().map(|s| s.destroy).collect());
    let (c, t) = (apply(&clean), apply(&throttled));
    let ratio = t.as_secs_f64() / c.as_secs_f64().max(f64::EPSILON);
    println!("median apply:   clean {:.2}s, {:.0}% throttled {:.2}s", c.as_secs_f64(), opts.throttle * 100.0, t.as_secs_f64());
    println!("median destroy: clean {:.2}s, throttled {:.2}s", destroy(&clean).as_secs_f64(), destroy(&throttled).as_secs_f64());
    println!("throttled/clean apply ratio: {ratio:.2} (goal: at most 1.50)");
    // `... wall 4.1 s = 1.14×.`: the figure between the last `= ` and `×`.
    let over_critical = |s: &Sample| s.critical.as_deref().and_then(|l| l.rsplit_once("= ")).and_then(|(_, r)| r.split('×').next()?.parse::<f64>().ok());
    let mut ratios: Vec<f64> = slow.iter().filter_map(over_critical).collect();
    ratios.sort_by(f64::total_cmp);
    if let Some(r) = ratios.get(ratios.len() / 2) {
        println!("latency apply: median {:.2}s, wall/critical-path ratio {r:.2} (goal: at most 1.10)", apply(&slow).as_secs_f64());
    }
    ExitCode::SUCCESS
}
