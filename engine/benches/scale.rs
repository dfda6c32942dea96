//! Scale benchmark: YAML parse, load+compile (`cairn validate`) and plan without refresh (empty and full state) on generated stacks of SQS queues, SNS topics and subscriptions.
//!
//! `cargo bench -p cairn-engine --bench scale` runs 1k and 10k resources (and 100k with
//! `CAIRN_SCALE_100K=1`, or the sizes in `CAIRN_SCALE_SIZES=1000,3000`) and prints medians, the growth ratios 10k/1k and 100k/10k, the ratio
//! to the parse floor and the peak resident memory. Under `cargo test` (no `--bench` argument)
//! it runs 1k once, so CI keeps it compiling and working without paying for the full sizes.
//!
//! The last lines are one `scale: ...` line per figure with its goal, for grepping. The peak of
//! a plan is measured in a fresh process (this binary again, with `CAIRN_SCALE_PEAK=N`) that
//! does what `cairn plan` does without refresh: load, compile, plan against empty state. The
//! table's VmHWM column is this process's own high-water mark, which also holds the smaller
//! sizes, the timing rounds and the benchmark's fixtures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use cairn_engine::compile::CompileOptions;
use cairn_engine::graph::ResourceGraph;
use cairn_engine::pipeline;
use cairn_engine::plan::{plan, PlanInput, PlanMode};
use cairn_engine::provider::{PropSpec, PropType, Props, ResourceSchema, SchemaSource};
use cairn_engine::source::SourceFile;
use cairn_engine::state::{ResourceRecord, Snapshot};
use serde_json::Value;

/// The props the generated stacks use, shaped like the AWS kinds' schemas (which live in
/// `cairn-resources`, out of reach of an engine benchmark).
static QUEUE: ResourceSchema = ResourceSchema {
    kind: "aws.sqs.queue",
    doc: "Queue.",
    props: &[
        PropSpec::new("name", PropType::String, "Name.").force_new(),
        PropSpec::new("fifo_queue", PropType::Bool, "FIFO.").force_new().default("false"),
        PropSpec::new("visibility_timeout_seconds", PropType::IntRange(0, 43_200), "Visibility.").default("30"),
        PropSpec::new("message_retention_seconds", PropType::IntRange(60, 1_209_600), "Retention.").default("345600"),
        PropSpec::new(
            "redrive",
            PropType::Struct(&[
                PropSpec::new("dead_letter_queue", PropType::String, "DLQ ARN.").required(),
                PropSpec::new("max_receive_count", PropType::IntRange(1, 1_000), "Receives.").required(),
            ]),
            "Dead-letter queue.",
        ),
        PropSpec::new("policy", PropType::Policy, "Policy."),
    ],
    attrs: &["arn", "url"],
    taggable: true,
    rules: &[],
};

static TOPIC: ResourceSchema = ResourceSchema {
    kind: "aws.sns.topic",
    doc: "Topic.",
    props: &[
        PropSpec::new("name", PropType::String, "Name.").force_new(),
        PropSpec::new("fifo_topic", PropType::Bool, "FIFO.").force_new().default("false"),
        PropSpec::new("display_name", PropType::String, "Display name.").default("\"\""),
    ],
    attrs: &["arn", "name"],
    taggable: true,
    rules: &[],
};

static SUBSCRIPTION: ResourceSchema = ResourceSchema {
    kind: "aws.sns.subscription",
    doc: "Subscription.",
    props: &[
        PropSpec::new("topic", PropType::String, "Topic ARN.").required().force_new(),
        PropSpec::new("protocol", PropType::String, "Protocol.").required().force_new(),
        PropSpec::new("endpoint", PropType::String, "Endpoint.").required().force_new(),
        PropSpec::new("raw_message_delivery", PropType::Bool, "Raw.").default("false"),
    ],
    attrs: &["arn"],
    taggable: false,
    rules: &[],
};

struct Schemas;

impl SchemaSource for Schemas {
    fn schema_of(&self, kind: &str) -> Option<&'static ResourceSchema> {
        [&QUEUE, &TOPIC, &SUBSCRIPTION].into_iter().find(|s| s.kind == kind)
    }
    fn all_schemas(&self) -> Vec<&'static ResourceSchema> {
        vec![&QUEUE, &TOPIC, &SUBSCRIPTION]
    }
}

/// A stack of `n` resources in groups of ten: a dead-letter queue, six queues redriving to it
/// (two of them subscribed to the group's topic, with a policy admitting it), the topic and two
/// subscriptions.
fn stack(n: usize) -> String {
    let mut s = String::from("stack: scale\nregion: us-east-1\nenvironments: { dev: {} }\ntags: { Project: scale, Owner: bench }\nresources:\n");
    for g in 0..n.div_ceil(10) {
        let left = n - g * 10;
        let mut emit = |i: usize, text: String| {
            if i < left {
                s.push_str(&text);
            }
        };
        emit(0, format!("  dlq_{g}:\n    type: aws.sqs.queue\n    tags: {{ Component: c{g} }}\n    props: {{ message_retention_seconds: 1209600 }}\n"));
        for q in 0..6 {
            let policy = if q < 2 {
                format!(
                    "      policy:\n        Version: \"2012-10-17\"\n        Statement:\n          - Effect: Allow\n            Principal: {{ Service: sns.amazonaws.com }}\n            Action: sqs:SendMessage\n            Resource: \"*\"\n            Condition: {{ ArnEquals: {{ \"aws:SourceArn\": \"${{topic_{g}.arn}}\" }} }}\n"
                )
            } else {
                String::new()
            };
            emit(
                1 + q,
                format!(
                    "  q_{g}_{q}:\n    type: aws.sqs.queue\n    tags: {{ Component: c{g}, Queue: q{q} }}\n    props:\n      visibility_timeout_seconds: {}\n      redrive: {{ dead_letter_queue: \"${{dlq_{g}.arn}}\", max_receive_count: 5 }}\n{policy}",
                    30 + q
                ),
            );
        }
        emit(7, format!("  topic_{g}:\n    type: aws.sns.topic\n    tags: {{ Component: c{g} }}\n    props: {{ display_name: events {g} }}\n"));
        for q in 0..2 {
            emit(
                8 + q,
                format!("  sub_{g}_{q}:\n    type: aws.sns.subscription\n    props: {{ topic: \"${{topic_{g}.arn}}\", protocol: sqs, endpoint: \"${{q_{g}_{q}.arn}}\", raw_message_delivery: true }}\n"),
            );
        }
    }
    s
}

fn opts() -> CompileOptions {
    CompileOptions { env: "dev".into(), caller_account: Some("123456789012".into()), ..Default::default() }
}

fn compile(file: &SourceFile) -> ResourceGraph {
    let loaded = pipeline::load(file.clone()).unwrap_or_else(|d| panic!("{}", d.render(file)));
    loaded.compile(&opts(), &Schemas).unwrap_or_else(|d| panic!("{}", d.render(file))).0
}

/// State as if the graph had been applied: every resource recorded with its props and ARN.
fn full_state(graph: &ResourceGraph) -> Snapshot {
    let resources = graph
        .nodes
        .values()
        .map(|n| {
            let mut attrs = Props::new();
            attrs.insert("arn".into(), Value::String(format!("arn:aws:x:us-east-1:123456789012:{}", n.default_name)));
            let record = ResourceRecord {
                address: n.address.clone(),
                kind: n.kind.clone(),
                id: n.default_name.clone(),
                props: n.props.clone(),
                attrs,
                tags: n.tags.clone(),
                deps: n.deps.iter().cloned().collect(),
            };
            (n.address.clone(), record)
        })
        .collect();
    Snapshot {
        lineage: "bench".into(),
        serial: 1,
        resources,
        outputs: BTreeMap::new(),
        region: Some(graph.region.clone()),
        account_id: graph.account_id.clone(),
    }
}

fn plan_against(graph: &ResourceGraph, snapshot: &Snapshot) -> usize {
    let observed = BTreeMap::new();
    let allow = BTreeSet::new();
    let input = PlanInput { graph, snapshot, observed: &observed, schemas: &Schemas, mode: PlanMode::Apply, allow_destroy: &allow };
    plan(&input).unwrap_or_else(|e| panic!("plan failed: {e:?}")).actions.len()
}

/// Counts live heap bytes and their high-water mark, so that each step's peak is measured on
/// its own (VmHWM only ever grows, and counts what earlier steps left behind). It counts only
/// while [`heap_of`] measures: an atomic read-modify-write on every allocation would otherwise
/// slow down the timed rounds, which the binary does not pay.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() && COUNTING.load(Ordering::Relaxed) {
            let size = layout.size() as isize;
            let now = LIVE.fetch_add(size, Ordering::Relaxed) + size;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` once and returns the heap it needed at its peak beyond what was live before it, in
/// MB. Memory freed during `f` that was allocated before it lowers the count, so the figure is
/// `f`'s own need.
fn heap_of<T>(f: impl FnOnce() -> T) -> f64 {
    LIVE.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    std::hint::black_box(f());
    COUNTING.store(false, Ordering::Relaxed);
    PEAK.load(Ordering::Relaxed).max(0) as f64 / (1024.0 * 1024.0)
}

/// The process's peak resident set so far (VmHWM), in MB; `None` where /proc is absent.
fn peak_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The time this thread has spent on a CPU (`/proc/thread-self/schedstat`), which, unlike the
/// wall clock, does not count the time other processes had the CPU; `None` where it is absent.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(stat.split_whitespace().next()?.parse().ok()?))
}

/// Medians of the wall-clock time and of the CPU time of some rounds of one step.
#[derive(Clone, Copy)]
struct Times {
    wall: Duration,
    cpu: Option<Duration>,
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time<T>(rounds: usize, mut f: impl FnMut() -> T) -> Times {
    let (walls, cpus): (Vec<Duration>, Vec<Option<Duration>>) = (0..rounds)
        .map(|_| {
            let (start, cpu) = (Instant::now(), cpu_time());
            std::hint::black_box(f());
            (start.elapsed(), cpu.zip(cpu_time()).map(|(a, b)| b.saturating_sub(a)))
        })
        .unzip();
    let cpu = cpus.into_iter().collect::<Option<Vec<Duration>>>().map(median);
    Times { wall: median(walls), cpu }
}

/// One of a row's timed steps.
type Step = fn(&Row) -> Times;

/// Medians of one size: parse, validate, plan on empty state, plan on full state.
struct Row {
    n: usize,
    parse: Times,
    validate: Times,
    plan_empty: Times,
    plan_full: Times,
    /// Heap peaks (MB) of parsing, validate and the plan on empty state, beyond their inputs.
    heap_parse: f64,
    heap_validate: f64,
    heap_plan: f64,
    peak: Option<f64>,
}

fn measure(n: usize, rounds: usize) -> Row {
    let file = SourceFile::new("stack.yaml", stack(n));
    let parse = time(rounds, || cairn_engine::yaml::parse(&file.text).map(|_| ()).expect("parses"));
    let validate = time(rounds, || compile(&file).nodes.len());
    let graph = compile(&file);
    assert_eq!(graph.nodes.len(), n, "the generated stack has {n} resources");
    let empty = Snapshot { lineage: "bench".into(), ..Default::default() };
    let plan_empty = time(rounds, || plan_against(&graph, &empty));
    let full = full_state(&graph);
    let plan_full = time(rounds, || plan_against(&graph, &full));
    let heap_parse = heap_of(|| cairn_engine::yaml::parse(&file.text));
    let heap_validate = heap_of(|| compile(&file));
    let heap_plan = heap_of(|| plan_against(&graph, &empty));
    Row { n, parse, validate, plan_empty, plan_full, heap_parse, heap_validate, heap_plan, peak: peak_mb() }
}

fn secs(t: Times) -> f64 {
    t.wall.as_secs_f64()
}

fn cpu_secs(t: Times) -> Option<f64> {
    t.cpu.map(|c| c.as_secs_f64())
}

/// ` (cpu 4.1x)`: the same ratio on CPU time, which a busy machine disturbs less.
fn cpu_ratio(a: Option<f64>, b: Option<f64>) -> String {
    a.zip(b).map_or(String::new(), |(a, b)| format!(" (cpu {:.1}x)", a / b.max(1e-9)))
}

/// `CAIRN_SCALE_PEAK=N`: load, compile and plan `N` resources against empty state once, as
/// `cairn plan` does, and print the process's peak resident memory (with `full` after a comma,
/// against the state an apply would leave).
fn peak_child(arg: &str) {
    let (n, full) = match arg.split_once(',') {
        Some((n, _)) => (n, true),
        None => (arg, false),
    };
    let n: usize = n.trim().parse().expect("CAIRN_SCALE_PEAK=N");
    let file = SourceFile::new("stack.yaml", stack(n));
    let loaded = pipeline::load(file.clone()).unwrap_or_else(|d| panic!("{}", d.render(&file)));
    let graph = loaded.compile(&opts(), &Schemas).unwrap_or_else(|d| panic!("{}", d.render(&file))).0;
    let snapshot = if full { full_state(&graph) } else { Snapshot { lineage: "bench".into(), ..Default::default() } };
    let observed = BTreeMap::new();
    let allow = BTreeSet::new();
    let input = PlanInput { graph: &graph, snapshot: &snapshot, observed: &observed, schemas: &Schemas, mode: PlanMode::Apply, allow_destroy: &allow };
    let planned = plan(&input).unwrap_or_else(|e| panic!("plan failed: {e:?}"));
    std::hint::black_box(&planned);
    println!("{}", peak_mb().map_or("-".into(), |p| format!("{p:.0}")));
}

/// The peak resident memory (MB) of planning `n` resources in a process of its own.
fn peak_of_plan(n: usize, full: bool) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let arg = if full { format!("{n},full") } else { n.to_string() };
    let out = std::process::Command::new(exe).env("CAIRN_SCALE_PEAK", arg).env_remove("CAIRN_SCALE_SIZES").output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// `1000` → `1k`.
fn size(n: usize) -> String {
    if n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn main() {
    if let Ok(arg) = std::env::var("CAIRN_SCALE_PEAK") {
        return peak_child(&arg);
    }
    // `cargo bench` passes `--bench`; `cargo test` does not: then one quick round at 1k.
    let bench = std::env::args().any(|a| a == "--bench");
    let mut sizes = if bench { vec![1_000, 10_000] } else { vec![1_000] };
    if bench && std::env::var_os("CAIRN_SCALE_100K").is_some() {
        sizes.push(100_000);
    }
    // `CAIRN_SCALE_SIZES=1000,3000`: other sizes, for finding where time starts to grow.
    if let Some(list) = std::env::var("CAIRN_SCALE_SIZES").ok().filter(|_| bench) {
        sizes = list.split(',').filter_map(|n| n.trim().parse().ok()).collect();
    }
    let rounds = if bench { 5 } else { 1 };
    println!(
        "{:>7}  {:>9}  {:>9}  {:>10}  {:>9}  {:>11}  {:>10}  {:>10}  {:>10}  {:>9}",
        "N", "parse s", "validate", "plan/empty", "plan/full", "plan÷parse", "heap parse", "heap val", "heap plan", "VmHWM MB"
    );
    let mut rows: Vec<Row> = vec![];
    for n in sizes {
        // Fewer rounds at the largest sizes keep a full run to minutes.
        let rounds = match n {
            100_000.. => 1,
            10_000.. => rounds.min(3),
            _ => rounds,
        };
        let row = measure(n, rounds);
        let plan_total = secs(row.validate) + secs(row.plan_empty);
        println!(
            "{:>7}  {:>9.4}  {:>9.4}  {:>10.4}  {:>9.4}  {:>10.1}x  {:>10.1}  {:>10.1}  {:>10.1}  {:>9}",
            row.n,
            secs(row.parse),
            secs(row.validate),
            secs(row.plan_empty),
            secs(row.plan_full),
            plan_total / secs(row.parse).max(1e-9),
            row.heap_parse,
            row.heap_validate,
            row.heap_plan,
            row.peak.map_or("-".into(), |p| format!("{p:.0}")),
        );
        rows.push(row);
    }
    for w in rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let r = |f: Step| secs(f(b)) / secs(f(a)).max(1e-9);
        println!(
            "{}/{}: parse {:.1}x  validate {:.1}x  plan/empty {:.1}x  plan/full {:.1}x",
            b.n,
            a.n,
            r(|x| x.parse),
            r(|x| x.validate),
            r(|x| x.plan_empty),
            r(|x| x.plan_full)
        );
    }
    // One line per figure, with its goal: growth per tenfold, the 10k plan against its parse
    // floor, and the 10k plan's peak memory in a process of its own. Wall-clock medians, and
    // the same on CPU time in brackets.
    for w in rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if b.n != a.n * 10 {
            continue;
        }
        let figures: [(&str, Step); 3] = [("validate", |x| x.validate), ("plan-empty", |x| x.plan_empty), ("plan-full", |x| x.plan_full)];
        for (name, f) in figures {
            let ratio = secs(f(b)) / secs(f(a)).max(1e-9);
            println!("scale: {name} {}/{} = {ratio:.1}x (goal <= 12x){}", size(b.n), size(a.n), cpu_ratio(cpu_secs(f(b)), cpu_secs(f(a))));
        }
    }
    for row in rows.iter().filter(|r| r.n >= 10_000) {
        let n = size(row.n);
        let parse = secs(row.parse).max(1e-9);
        let cpu_sum = |a: Times, b: Times| cpu_secs(a).zip(cpu_secs(b)).map(|(a, b)| a + b);
        for (name, plan, goal) in [("plan-empty", row.plan_empty, " (goal <= 5x)"), ("plan-full", row.plan_full, "")] {
            println!(
                "scale: validate+{name} {n} = {:.1}x parse{goal}{}",
                (secs(row.validate) + secs(plan)) / parse,
                cpu_ratio(cpu_sum(row.validate, plan), cpu_secs(row.parse))
            );
        }
        let mb = |p: Option<f64>| p.map_or("-".to_string(), |p| format!("{p:.0}"));
        let goal = if row.n == 10_000 { " (goal < 200 MB)" } else { "" };
        println!("scale: peak {n} = {} MB{goal}", mb(peak_of_plan(row.n, false)));
        println!("scale: peak-full-state {n} = {} MB", mb(peak_of_plan(row.n, true)));
    }
}
