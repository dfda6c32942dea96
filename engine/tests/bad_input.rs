//! Hostile or unusual stack files: each one must end in a located diagnostic (or a clean compile),
//! never a panic, a hang or unbounded memory. Inputs found by `tests/fuzz.rs` are added here verbatim.

use cairn_engine::compile::{compile_source, CompileOptions};
use cairn_engine::diag::{Diagnostic, Diagnostics};
use cairn_engine::expr::{parse_template, partial_eval, Lookup, Scope, Seg};
use cairn_engine::source::SourceFile;
use cairn_engine::testkit::FakeCloud;
use cairn_engine::yaml;

/// Compiles `text` as `stack.yaml` for env `dev` against the fake registry.
fn compile(text: &str) -> Result<(), (SourceFile, Diagnostics)> {
    let file = SourceFile::new("stack.yaml", text);
    let registry = FakeCloud::new().registry();
    match compile_source(&file, &CompileOptions { env: "dev".into(), ..CompileOptions::default() }, &registry) {
        Ok(_) => Ok(()),
        Err(d) => Err((file, d)),
    }
}

/// The rendered errors of a stack that must not compile.
fn errors(text: &str) -> String {
    let (file, diags) = compile(text).expect_err("expected errors");
    assert!(diags.has_errors());
    diags.render(&file)
}

fn yaml_error(text: &str) -> Diagnostic {
    let errs = yaml::parse(text).expect_err("expected a YAML error");
    errs.into_iter().last().expect("at least one diagnostic")
}

struct NoVars;
impl Scope for NoVars {
    fn lookup(&self, _: &[Seg]) -> Result<Lookup, String> {
        Ok(Lookup::Later)
    }
}

#[test]
fn non_breaking_space_inside_a_reference() {
    // Used to slice in the middle of the two-byte U+00A0 and panic.
    let t = parse_template("${\u{a0}var.x\u{a0}}").expect("Unicode spaces are spaces");
    assert_eq!(t.refs.len(), 1);
    let e = parse_template("${a\u{a0}.b}").expect_err("a space inside a path");
    assert_eq!(e.message, "expected `}` to close `${`");
    assert_eq!(e.offset, 0);
    let e = parse_template("${\u{a0}\u{3000}é}").expect_err("not a name");
    assert_eq!(e.offset, "${\u{a0}\u{3000}".len());
}

#[test]
fn non_breaking_space_in_a_stack_is_located() {
    let text = "stack: s\nresources:\n  q:\n    type: fake.queue\n    props:\n      name: x-${var\u{a0}.n}\n";
    insta::assert_snapshot!(errors(text));
}

#[test]
fn deeply_nested_expression_is_refused() {
    let src = format!("${{{}1{}}}", "f(".repeat(10_000), ")".repeat(10_000));
    let e = parse_template(&src).expect_err("too deep");
    assert!(e.message.contains("nests more than 64 levels"), "{}", e.message);
    let src = format!("${{a{}}}", "[a".repeat(10_000));
    assert!(parse_template(&src).is_err());
}

#[test]
fn replace_cannot_multiply_a_string_without_bound() {
    let mut inner = "\"ab\"".to_string();
    for _ in 0..12 {
        inner = format!("replace({inner}, \"\", \"0123456789\")");
    }
    let t = parse_template(&format!("${{{inner}}}")).expect("parses");
    let e = partial_eval(&t.expr, &NoVars).expect_err("would be gigabytes");
    assert!(e.contains("longer than 1 MiB"), "{e}");
}

#[test]
fn alias_bomb_is_refused() {
    // Nine levels of nine aliases each: 9^9 (387 million) nodes if expanded.
    let mut text = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n".to_string();
    for i in 1..=9 {
        let p = i - 1;
        text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    let e = yaml_error(&text);
    assert_eq!(e.code, "yaml");
    assert!(e.message.starts_with("aliases expand to more than 100"), "{}", e.message);
    let span = e.span.expect("located");
    assert!((5..=10).contains(&span.line), "at an alias of a deep level, not line {}", span.line);
    insta::assert_snapshot!(Diagnostics(vec![e]).render(&SourceFile::new("stack.yaml", text)));
}

#[test]
fn nested_anchors_around_a_large_value_are_refused() {
    // No alias multiplies anything, but each anchor level keeps its own copy of the list.
    let list = format!("[{}]", vec!["x"; 20_000].join(", "));
    let text = format!("v: {}{list}{}\n", (0..200).map(|i| format!("&a{i} [")).collect::<String>(), "]".repeat(200));
    let e = yaml_error(&text);
    assert!(e.message.starts_with("aliases expand to more than"), "{}", e.message);
}

#[test]
fn long_string_aliased_many_times_is_refused() {
    let big = "x".repeat(1 << 20);
    let text = format!("a: &a \"{big}\"\nb: [{}]\n", vec!["*a"; 40].join(", "));
    let e = yaml_error(&text);
    assert!(e.message.contains("MiB of text"), "{}", e.message);
}

#[test]
fn modest_aliases_still_work() {
    let root = yaml::parse("base: &t { Team: core, Cost: 12 }\nuse: [*t, *t]\n").expect("aliases are fine");
    assert_eq!(root.get("use").and_then(|u| u.as_seq()).map(<[_]>::len), Some(2));
}

#[test]
fn deep_nesting_is_refused_and_located() {
    let block = format!("stack: s\nx:\n{}1\n", "- ".repeat(5_000));
    let e = yaml_error(&block);
    assert!(e.message.contains("nest more than 256 levels"), "{}", e.message);
    assert_eq!(e.span.expect("located").line, 3);
    // Flow collections hit the scanner's own limit first; still an error, not a stack overflow.
    let flow = format!("x: {}", "[".repeat(5_000));
    assert_eq!(yaml_error(&flow).code, "yaml");
    let mixed = format!("x:\n{}", (0..400).map(|i| format!("{}k{i}: [\n", " ".repeat(i + 1))).collect::<String>());
    assert_eq!(yaml_error(&mixed).code, "yaml");
}

#[test]
fn nesting_at_the_limit_compiles_on_a_test_thread() {
    // Just under the depth limit (root, vars, deep, then 250 lists): everything downstream
    // recurses over it, on a test thread's small stack.
    let text = format!(
        "stack: s\nvars:\n  deep:\n    {}1\nresources:\n  k:\n    type: fake.key\n    props:\n      description: ${{jsonencode(var.deep)}}\n",
        "- ".repeat(250)
    );
    compile(&text).unwrap_or_else(|(f, d)| panic!("{}", d.render(&f)));
}

#[test]
fn overlong_value_is_clipped_in_the_message() {
    // (A key that long is already a YAML error: keys stop at 1024 characters.)
    let value = "k".repeat(200_000);
    let out = errors(&format!("stack: s\nresources:\n  q:\n    type: fake.queue\n    count: {value}\n"));
    assert!(out.len() < 3_000, "{} bytes", out.len());
    assert!(out.contains("kkk…kkk"), "{out}");
}

#[test]
fn twenty_thousand_keys_read_and_duplicates_are_found() {
    let mut text = String::from("stack: s\nvars:\n");
    for i in 0..20_000 {
        text.push_str(&format!("  v{i}: {i}\n"));
    }
    text.push_str("  v19999: again\n");
    let errs = yaml::parse(&text).expect_err("one duplicate");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].message, "duplicate key `v19999`");
    assert_eq!(errs[0].help.as_deref(), Some("`v19999` is already set on line 20002; remove one of them"));
}

#[test]
fn twenty_thousand_duplicates_render() {
    // Rendering looks each line up in an index built once; a scan per diagnostic took minutes here.
    let keys: Vec<String> = (0..20_000).map(|i| format!("  v{i}: {i}\n")).collect();
    let text = format!("stack: s\nvars:\n{}{}", keys.concat(), keys.concat());
    let errs = yaml::parse(&text).expect_err("all duplicated");
    assert_eq!(errs.len(), 20_000);
    let out = Diagnostics(errs).render(&SourceFile::new("stack.yaml", text));
    assert_eq!(out.matches("error[duplicate-key]").count(), 20_000);
    assert!(out.contains(" --> stack.yaml:40002:3\n"), "the last one is located");
}

#[test]
fn error_on_a_long_line_shows_a_window() {
    let name = "n".repeat(200_000);
    let text = format!("stack: s\nresources:\n  q:\n    type: fake.queue\n    props: {{ name: {name}, visiblity: 10 }}\n");
    let out = errors(&text);
    assert!(out.lines().all(|l| l.chars().count() < 200), "every line is short:\n{out}");
    assert!(out.contains(":5:200022"), "the column is still the real one");
    insta::assert_snapshot!(out);
}

#[test]
fn caret_stays_under_the_span_after_multibyte_text() {
    let text = "stack: s\nresources:\n  q:\n    type: fake.key\n    props:\n      description: héllo ünïcode ${nope.arn}\n";
    insta::assert_snapshot!(errors(text));
}

#[test]
fn windows_file_with_bom_and_crlf_compiles() {
    let text = "\u{feff}stack: s\r\nenvironments:\r\n  dev: {}\r\nresources:\r\n  q:\r\n    type: fake.queue\r\n    props:\r\n      visibility: 60\r\n";
    compile(text).unwrap_or_else(|(f, d)| panic!("{}", d.render(&f)));
    let root = yaml::parse(text).expect("reads");
    let stack = root.get("stack").expect("the first key is `stack`, not `\\u{feff}stack`");
    assert_eq!(&text[stack.span.start..stack.span.end], "s");
    assert_eq!((stack.span.line, stack.span.col), (1, 8));
}

#[test]
fn windows_file_errors_are_located() {
    let text = "\u{feff}stack: s\r\nresources:\r\n  q:\r\n    type: fake.queue\r\n    props: { visiblity: 60 }\r\n";
    insta::assert_snapshot!(errors(text));
    let first = "\u{feff}stak: s\r\nresources: {}\r\n";
    insta::assert_snapshot!("windows_first_line", errors(first));
    // Exactly what the same file saved with Unix conventions reports.
    for text in [text, first] {
        assert_eq!(errors(text), errors(&text.trim_start_matches('\u{feff}').replace("\r\n", "\n")));
    }
}

#[test]
fn unquoted_reference_in_a_flow_mapping_says_to_quote_it() {
    let text = "stack: s\nresources:\n  k:\n    type: fake.key\n  q:\n    type: fake.queue\n    props: { name: ${k.arn} }\n";
    let out = errors(text);
    assert!(out.contains("`name: \"${k.arn}\"`"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn unquoted_reference_in_a_flow_sequence_says_to_quote_it() {
    let e = yaml_error("stack: s\nx: [a, ${k.arn}, b]\n");
    let help = e.help.expect("help");
    assert!(help.contains("must be quoted"), "{help}");
    // A quoted reference in the same place is fine; an unrelated syntax error keeps the generic advice.
    assert!(yaml::parse("stack: s\nx: [a, \"${k.arn}\", b]\n").is_ok());
    let e = yaml_error("stack: s\nx: [a, 'it''s ${x}' b]\n");
    assert_eq!(e.help.as_deref(), Some("check indentation and quoting around this point"));
}

#[test]
fn empty_and_garbage_input() {
    for text in ["", "\u{feff}", "\r\n", "\0", "\u{feff}\u{feff}", "---\n---\n", "*x", "&a", "? [a]\n: 1\n", "\t", "a: |\n\t\n"] {
        match compile(text) {
            Ok(()) => {}
            Err((file, diags)) => {
                assert!(diags.has_errors(), "{text:?}");
                let _ = diags.render(&file);
            }
        }
    }
}

// Inputs found by `tests/fuzz.rs`, shrunk, kept verbatim.

#[test]
fn fuzz_error_at_the_end_of_an_unterminated_last_line() {
    // The scanner reported line 4 of a 3-line file; lines now come from the char index.
    for text in ["\n:\n\u{1}", "\n:\r\u{1}"] {
        let e = yaml_error(text);
        let span = e.span.expect("located");
        assert_eq!((span.line, span.start), (3, 4), "{text:?}");
        assert!(SourceFile::new("f", text).line(span.line).is_some());
    }
}

#[test]
fn fuzz_lone_carriage_returns_are_line_breaks() {
    let text = "stack: shop\rvars:\r  n: 1\r  n: 2\r";
    let errs = yaml::parse(text).expect_err("duplicate");
    let span = errs[0].span.expect("located");
    assert_eq!((span.line, span.col), (4, 3));
    assert_eq!(SourceFile::new("f", text).line_text(4), "  n: 2");
}

#[test]
fn fuzz_file_holding_only_a_byte_order_mark() {
    let e = yaml_error("\u{feff}");
    assert_eq!(e.message, "the stack file is empty");
    assert_eq!(e.span.map(|s| s.start), Some(3));
}

#[test]
fn fuzz_expression_error_ranges_stay_inside_the_text() {
    let e = parse_template("x-${").expect_err("unexpected end");
    assert!(e.offset + e.len <= 4, "{}+{}", e.offset, e.len);
    let e = parse_template("${a.¡}").expect_err("not a name");
    assert_eq!((e.offset, e.len), (4, 2), "the whole two-byte char");
    let out = errors("stack: shop\noutputs:\n  o: x-${\n");
    assert!(out.contains("stack.yaml:3:"), "{out}");
}

#[test]
fn fuzz_reference_in_a_plain_scalar_folded_over_two_lines() {
    // The scalar's value is `x- ${each.value}`, but its text spans a line break, so the
    // reference cannot be pointed at by offset; the whole scalar is, on its first line.
    let text = "stack: shop\noutputs:\n  o: x-\n    ${each.value}\n";
    let (file, diags) = compile(text).expect_err("`each` outside for_each");
    let out = diags.render(&file);
    let d = diags.iter().find(|d| d.message.contains("each")).unwrap_or_else(|| panic!("{out}"));
    let span = d.span.expect("located");
    assert_eq!((span.line, span.start), (3, text.find("x-").unwrap_or(0)), "{out}");
}

#[test]
fn fuzz_error_between_cr_and_lf() {
    // The scanner pointed at the `\n` of a CRLF, past the end of line 3's text.
    let text = "|\n    \t\u{a0}\u{10000}\na: {\r\n";
    let e = yaml_error(text);
    let span = e.span.expect("located");
    let file = SourceFile::new("f", text);
    let (start, line) = file.line(span.line).expect("a line");
    assert!((start..=start + line.len()).contains(&span.start), "{span:?} on {line:?}");
}
