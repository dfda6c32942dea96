//! Bounded fuzzing of everything that reads user text: the YAML reader, the `${...}` language and
//! the whole compile. Property: no panic, and every failure is a diagnostic that points inside the file.
//!
//! Each target runs `CAIRN_FUZZ_CASES` inputs (default 1000: a few seconds on a debug build); raise it
//! for longer local runs. A failing input is shrunk and saved under `proptest-regressions/`;
//! copy it into `tests/bad_input.rs` as a named test once fixed.

use std::cell::Cell;
use std::collections::BTreeMap;

use cairn_engine::compile::{compile_source, CompileOptions};
use cairn_engine::diag::{Diagnostic, Diagnostics, MAX_MESSAGE_CHARS};
use cairn_engine::expr::{parse_template, partial_eval, resolve, unknown, Lookup, Scope, Seg};
use cairn_engine::source::SourceFile;
use cairn_engine::testkit::FakeCloud;
use cairn_engine::yaml;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use serde_json::{json, Value};

fn config() -> Config {
    let cases = std::env::var("CAIRN_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    // Shrunk failures go to `engine/proptest-regressions/fuzz.txt` (tests run in the crate's
    // directory) and are replayed first on the next run.
    Config { cases, failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/fuzz.txt"))), ..Config::default() }
}

/// Runs one target for the configured number of cases and says how many inputs it executed
/// (shrinking included); shown with `--nocapture`.
fn run<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let mut runner = TestRunner::new(config());
    let executed = Cell::new(0usize);
    let result = runner.run(&strategy, |v| {
        executed.set(executed.get() + 1);
        test(v)
    });
    eprintln!("fuzz {name}: {} inputs executed", executed.get());
    if let Err(e) = result {
        panic!("fuzz {name}: {e}");
    }
}

/// Every diagnostic is located inside the text, and renders.
fn check_diagnostics(text: &str, diags: &[Diagnostic]) -> Result<(), TestCaseError> {
    prop_assert!(!diags.is_empty(), "an error without a diagnostic");
    let file = SourceFile::new("f.yaml", text);
    for d in diags {
        let Some(span) = d.span else { continue };
        prop_assert!(span.start <= span.end && span.end <= text.len(), "{} {:?} outside {} bytes", d.code, span, text.len());
        let line = file.line(span.line);
        prop_assert!(line.is_some(), "{} {:?}: no such line", d.code, span);
        let (line_start, line_text) = line.unwrap_or_default();
        prop_assert!(
            (line_start..=line_start + line_text.len()).contains(&span.start),
            "{} {:?} does not start on line {} ({line_start}..{})",
            d.code,
            span,
            span.line,
            line_start + line_text.len()
        );
        prop_assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end), "{} {:?} splits a char", d.code, span);
    }
    let rendered = Diagnostics(diags.to_vec()).render(&file);
    prop_assert!(rendered.lines().all(|l| l.chars().count() < MAX_MESSAGE_CHARS + 100), "an overlong rendered line");
    Ok(())
}

fn check_yaml(text: &str) -> Result<(), TestCaseError> {
    match yaml::parse(text) {
        Ok(root) => {
            let _ = root.to_json();
            Ok(())
        }
        Err(diags) => {
            for d in &diags {
                prop_assert!(d.span.is_some(), "unlocated YAML error: {}", d.message);
            }
            check_diagnostics(text, &diags)
        }
    }
}

/// Pieces YAML is made of, weighted towards the characters that change its meaning.
fn yaml_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(vec![
            "\n", "\r\n", "\r", "  ", "\t", "- ", ": ", ":", "? ", "{", "}", "[", "]", ", ", "#", "&a ", "&b ", "*a", "*b", "!tag ", "!!str ",
            "|", ">", "|-\n", "'", "\"", "\\", "---\n", "...\n", "%YAML 1.2\n", "${", "}", "$${", "\u{feff}", "\u{a0}", "é", "\u{3000}", "\0",
            "~", "null", "true", "1.5", "-3", "0x1F", ".inf", "<<: *a",
        ])
        .prop_map(str::to_string),
        2 => "[a-z_]{1,8}",
        1 => "[a-z]{1,6}: ",
        1 => "\n {0,10}",
        1 => ".{0,6}",
    ]
}

/// A strategy for text made of YAML fragments.
fn yaml_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(yaml_fragment(), 0..80).prop_map(|parts| parts.concat())
}

/// A YAML value, rendered either as an indented block or in flow style.
#[derive(Debug, Clone)]
enum Y {
    Scalar(String),
    Seq(Vec<Y>),
    Map(Vec<(String, Y)>),
    Anchor(String, Box<Y>),
    Alias(String),
}

fn y_tree() -> impl Strategy<Value = Y> {
    let leaf = prop_oneof![
        3 => yaml_fragment().prop_map(Y::Scalar),
        2 => "[a-z0-9 ]{0,10}".prop_map(Y::Scalar),
        1 => "\\$\\{[a-z._\\[\\]0-9\"() ,]{0,16}\\}".prop_map(Y::Scalar),
        1 => select(vec!["a", "b", "c"]).prop_map(|a| Y::Alias(a.to_string())),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Y::Seq),
            prop::collection::vec(("[a-z]{1,6}|[a-z]{1,3}", inner.clone()), 0..6).prop_map(Y::Map),
            (select(vec!["a", "b", "c"]), inner).prop_map(|(a, y)| Y::Anchor(a.to_string(), Box::new(y))),
        ]
    })
}

fn render_y(y: &Y, indent: usize, flow: bool, out: &mut String) {
    let pad = " ".repeat(indent);
    match y {
        Y::Scalar(s) => out.push_str(s),
        Y::Alias(a) => {
            out.push('*');
            out.push_str(a);
        }
        Y::Anchor(a, inner) => {
            out.push_str(&format!("&{a} "));
            render_y(inner, indent, flow, out);
        }
        Y::Seq(items) if flow || items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_y(item, indent, true, out);
            }
            out.push(']');
        }
        Y::Map(entries) if flow || entries.is_empty() => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push_str(": ");
                render_y(v, indent, true, out);
            }
            out.push('}');
        }
        Y::Seq(items) => {
            for item in items {
                out.push('\n');
                out.push_str(&pad);
                out.push_str("- ");
                render_y(item, indent + 2, indent % 3 == 1, out);
            }
        }
        Y::Map(entries) => {
            for (k, v) in entries {
                out.push('\n');
                out.push_str(&pad);
                out.push_str(k);
                out.push_str(": ");
                render_y(v, indent + 2, k.len() == 2, out);
            }
        }
    }
}

/// Applies small edits to text: the fuzzer's way of reaching the near-misses users type.
fn mutate(text: String, edits: Vec<(usize, u8, String)>) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (at, op, piece) in edits {
        let at = if chars.is_empty() { 0 } else { at % (chars.len() + 1) };
        match op % 3 {
            0 => chars.splice(at..at, piece.chars()).for_each(drop),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ => chars.truncate(chars.len().min(at.max(1))),
        }
    }
    chars.into_iter().collect()
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, String)>> {
    prop::collection::vec((any::<usize>(), 0u8..8, yaml_fragment()), 0..4)
}

/// Answers `var.*` from a fixed table, fails on `fail.*` and leaves everything else for later.
struct FuzzScope;

impl Scope for FuzzScope {
    fn lookup(&self, path: &[Seg]) -> Result<Lookup, String> {
        match path {
            [Seg::Name(v), Seg::Name(n), ..] if v == "var" => Ok(Lookup::Known(match n.as_str() {
                "s" => json!("10.0.0.0/16"),
                "n" => json!(3),
                "l" => json!(["a", "b", "${x}"]),
                "m" => json!({"k": "v", "n": 1}),
                "big" => json!("x".repeat(4096)),
                _ => Value::Null,
            })),
            [Seg::Name(v), ..] if v == "fail" => Err("no such thing".into()),
            _ => Ok(Lookup::Later),
        }
    }
}

fn check_expr(src: &str) -> Result<(), TestCaseError> {
    match parse_template(src) {
        Ok(t) => {
            for r in &t.refs {
                prop_assert!(src.get(r.offset..r.offset + r.len).is_some(), "reference site {}+{} not in {src:?}", r.offset, r.len);
            }
            if let Ok(e) = partial_eval(&t.expr, &FuzzScope) {
                let marker = unknown(&e);
                let _ = resolve(&marker, &FuzzScope);
            }
        }
        Err(e) => prop_assert!(e.offset <= src.len() && src.is_char_boundary(e.offset), "error offset {} in {src:?}", e.offset),
    }
    Ok(())
}

/// Expression text that is mostly well formed: references, literals and calls of real functions.
fn expr_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        select(vec!["var.s", "var.n", "var.l", "var.m", "var.big", "var.none", "fail.x", "r.arn", "r[0].url", "r[\"k\"].arn", "each.key", "count.index"])
            .prop_map(str::to_string),
        any::<i64>().prop_map(|n| n.to_string()),
        "\"[a-z%${}\\\\ \u{a0}é]{0,8}\"",
        select(vec!["\"\"", "\"%s-%d\"", "\"%\"", "\"[1,{\\\"a\\\":2}]\"", "\"10.1.0.0/16\"", "-0", "9999999999999999999999"]).prop_map(str::to_string),
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        (
            select(vec!["cidrsubnet", "join", "format", "lookup", "lower", "upper", "length", "replace", "jsondecode", "jsonencode", "nope"]),
            prop::collection::vec(inner, 0..5),
            select(vec![", ", ",", " , ", ",\u{a0}"]),
        )
            .prop_map(|(f, args, sep)| format!("{f}({})", args.join(sep)))
    })
}

/// A value in a generated stack: JSON (which is YAML) or an unquoted template.
fn stack_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => expr_text().prop_map(|e| format!("\"${{{}}}\"", e.replace('\\', "\\\\").replace('"', "\\\""))),
        2 => select(vec!["${var.n}", "${r0.arn}", "${r1[0].arn}", "${r2[\"a\"].url}", "x-${each.value}", "${count.index}", "${stack}-${env}", "${r0.nope}"])
            .prop_map(str::to_string),
        2 => any::<i32>().prop_map(|n| n.to_string()),
        1 => "[a-zA-Z0-9 ._-]{0,12}",
        1 => Just("[1, \"a\", {k: v}]".to_string()),
        1 => Just("{ kms_key: ${r0.arn} }".to_string()),
    ]
}

/// One resource block: `(name, yaml)`.
fn resource() -> impl Strategy<Value = String> {
    (
        select(vec!["fake.queue", "fake.key", "fake.grant", "fake.nope", "cairn.queue", "cairn.network", "cairn.bucket"]),
        prop::collection::vec(
            (select(vec!["name", "visibility", "dlq", "description", "spec", "key", "queue", "actions", "cidr", "bogus"]), stack_value()),
            0..4,
        ),
        prop_oneof![
            3 => Just(String::new()),
            1 => (0i64..4).prop_map(|n| format!("    count: {n}\n")),
            1 => select(vec!["${var.l}", "${var.m}", "[a, b]", "${var.n}", "-1"]).prop_map(|f| format!("    for_each: {f}\n")),
            1 => select(vec!["2000", "\"${var.n}\"", "x"]).prop_map(|c| format!("    count: {c}\n")),
        ],
        prop_oneof![3 => Just(String::new()), 1 => select(vec!["[r0]", "[r1, r0]", "[nope]", "r0"]).prop_map(|d| format!("    depends_on: {d}\n"))],
        prop_oneof![3 => Just(String::new()), 1 => stack_value().prop_map(|v| format!("    tags: {{ Team: {v} }}\n"))],
    )
        .prop_map(|(kind, props, expand, deps, tags)| {
            let mut out = format!("    type: {kind}\n{expand}{deps}{tags}");
            if !props.is_empty() {
                out.push_str("    props:\n");
                let mut seen = BTreeMap::new();
                for (k, v) in props {
                    seen.insert(k, v);
                }
                for (k, v) in seen {
                    out.push_str(&format!("      {k}: {v}\n"));
                }
            }
            out
        })
}

fn stack_text() -> impl Strategy<Value = String> {
    (prop::collection::vec(resource(), 0..5), prop::collection::vec(("[a-z]{1,4}", stack_value()), 0..4), prop::option::of(stack_value()), any::<bool>())
        .prop_map(|(resources, vars, output, with_env)| {
            let mut out = String::from("stack: shop\n");
            if with_env {
                out.push_str("environments:\n  dev: { vars: { n: 2 } }\n  prod: { protect: true }\n");
            }
            out.push_str("vars:\n  n: 1\n  l: [a, b]\n  m: { a: 1, b: 2 }\n");
            for (k, v) in vars.into_iter().map(|(k, v)| (format!("v{k}"), v)).collect::<BTreeMap<_, _>>() {
                out.push_str(&format!("  {k}: {v}\n"));
            }
            out.push_str("resources:\n");
            for (i, r) in resources.iter().enumerate() {
                out.push_str(&format!("  r{i}:\n{r}"));
            }
            if let Some(o) = output {
                out.push_str(&format!("outputs:\n  o: {o}\n"));
            }
            out
        })
}

/// Returns whether the stack compiled, so the run can show the generator reaches past the reader.
fn check_compile(text: &str) -> Result<bool, TestCaseError> {
    let file = SourceFile::new("stack.yaml", text);
    let registry = FakeCloud::new().registry();
    let opts = CompileOptions { env: "dev".into(), ..CompileOptions::default() };
    match compile_source(&file, &opts, &registry) {
        Ok((_, warnings)) => {
            let _ = warnings.render(&file);
            Ok(true)
        }
        Err(diags) => {
            prop_assert!(diags.has_errors(), "compile failed without an error");
            // Only command-line problems are unlocated, and the options here are valid.
            for d in diags.iter() {
                prop_assert!(d.span.is_some(), "unlocated error: {}", d.message);
            }
            check_diagnostics(text, &diags.0)?;
            Ok(false)
        }
    }
}

#[test]
fn yaml_reader_survives_arbitrary_bytes() {
    run("yaml_bytes", prop::collection::vec(any::<u8>(), 0..512), |bytes| check_yaml(&String::from_utf8_lossy(&bytes)));
}

#[test]
fn yaml_reader_survives_yaml_shaped_text() {
    run("yaml_shaped", (yaml_soup(), y_tree(), edits(), 0u8..3), |(soup, tree, edits, pick)| {
        let mut rendered = String::new();
        render_y(&tree, 0, false, &mut rendered);
        let text = match pick {
            0 => soup,
            1 => rendered,
            _ => mutate(rendered, edits),
        };
        check_yaml(&text)
    });
}

#[test]
fn expressions_survive_arbitrary_text() {
    run("expr_text", (any::<String>(), "[a-z_.\\[\\]()\", 0-9$%{}\\\\\u{a0}\u{3000}é-]{0,40}"), |(inner, tokens)| {
        check_expr(&format!("${{{inner}}}"))?;
        check_expr(&format!("a ${{{tokens}}} b ${{{tokens}"))?;
        check_expr(&inner)
    });
}

#[test]
fn expressions_evaluate_or_fail_cleanly() {
    run("expr_shaped", (expr_text(), edits()), |(e, edits)| {
        let src = format!("${{{e}}}");
        check_expr(&src)?;
        check_expr(&mutate(src, edits))
    });
}

#[test]
fn whole_compile_survives_generated_stacks() {
    let compiled = Cell::new(0usize);
    run("stacks", (stack_text(), edits(), any::<bool>()), |(text, edits, mutated)| {
        let text = if mutated { mutate(text, edits) } else { text };
        compiled.set(compiled.get() + usize::from(check_compile(&text)?));
        Ok(())
    });
    eprintln!("fuzz stacks: {} of them compiled", compiled.get());
}
