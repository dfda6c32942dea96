//! Snapshot tests over `tests/fixtures/*.yaml`: rendered diagnostics for stacks that do not compile, graph and plan for those that do.
//!
//! Each fixture starts with header comments: `# env: NAME` (default `dev`) and
//! `# expect: ok|error`. Snapshots live in `tests/snapshots/`; review changes with
//! `INSTA_UPDATE=always` then read the `.snap` diff.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cairn_engine::compile::{compile_source, CompileOptions};
use cairn_engine::graph::ResourceGraph;
use cairn_engine::plan::{plan, PlanInput, PlanMode};
use cairn_engine::source::SourceFile;
use cairn_engine::state::Snapshot;
use cairn_engine::testkit::FakeCloud;
use serde_json::{json, Value};

struct Fixture {
    name: String,
    path: PathBuf,
    env: String,
    expect_ok: bool,
    file: SourceFile,
}

fn header(text: &str, key: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.trim_start_matches('#').trim().strip_prefix(key)?.strip_prefix(':').map(|v| v.trim().to_string()))
}

fn fixtures() -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(&dir).expect("tests/fixtures").map(|e| e.expect("dir entry").path()).filter(|p| p.extension().is_some_and(|e| e == "yaml")).collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("fixture text");
            let name = path.file_stem().and_then(|s| s.to_str()).expect("utf-8 name").to_string();
            let expect = header(&text, "expect").unwrap_or_else(|| panic!("{name}: add a `# expect: ok|error` header"));
            assert!(expect == "ok" || expect == "error", "{name}: expect must be ok or error");
            Fixture {
                env: header(&text, "env").unwrap_or_else(|| "dev".into()),
                expect_ok: expect == "ok",
                file: SourceFile::new(format!("fixtures/{name}.yaml"), text),
                name,
                path,
            }
        })
        .collect()
}

/// The compiled graph in a stable, readable shape.
fn graph_json(g: &ResourceGraph) -> Value {
    let nodes: BTreeMap<&str, Value> = g
        .nodes
        .values()
        .map(|n| {
            (
                n.address.as_str(),
                json!({ "kind": n.kind, "deps": n.deps, "props": n.props, "tags": n.tags, "lifecycle": n.lifecycle, "default_name": n.default_name }),
            )
        })
        .collect();
    json!({ "stack": g.stack, "env": g.env, "region": g.region, "account_id": g.account_id, "vars": g.vars, "nodes": nodes, "outputs": g.outputs })
}

#[test]
fn fixtures_match_their_snapshots() {
    let cloud = FakeCloud::new();
    let registry = cloud.registry();
    let fixtures = fixtures();
    assert!(fixtures.len() >= 12, "expected at least 12 fixtures, found {}", fixtures.len());
    for f in &fixtures {
        let opts = CompileOptions { env: f.env.clone(), ..CompileOptions::default() };
        let snapshot = match compile_source(&f.file, &opts, &registry) {
            Ok((graph, warnings)) => {
                assert!(f.expect_ok, "{}: expected errors, but it compiled", f.name);
                let state = Snapshot { lineage: "fixture".into(), ..Snapshot::default() };
                let input = PlanInput {
                    graph: &graph,
                    snapshot: &state,
                    observed: &BTreeMap::new(),
                    schemas: &registry,
                    mode: PlanMode::Apply,
                    allow_destroy: &BTreeSet::new(),
                };
                let plan = plan(&input).unwrap_or_else(|e| panic!("{}: cannot plan: {e:?}", f.name));
                let doc = json!({ "warnings": warnings.render(&f.file), "graph": graph_json(&graph), "plan": plan.to_shown_json() });
                // Key order must not depend on whether serde_json keeps insertion order
                // (another crate in the workspace turns that feature on).
                serde_json::to_string_pretty(&sorted(&doc)).expect("json")
            }
            Err(diags) => {
                assert!(!f.expect_ok, "{}: expected to compile, got:\n{}", f.name, diags.render(&f.file));
                assert!(diags.has_errors());
                diags.render(&f.file)
            }
        };
        insta::with_settings!({ input_file => &f.path, omit_expression => true }, {
            insta::assert_snapshot!(f.name.as_str(), snapshot);
        });
    }
}

/// The value with every object's keys in sorted order.
fn sorted(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let ordered: std::collections::BTreeMap<&String, serde_json::Value> = m.iter().map(|(k, x)| (k, sorted(x))).collect();
            serde_json::to_value(ordered).expect("a map of JSON values")
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}
