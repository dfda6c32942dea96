//! Test fixtures for the passes: a small stack compiled for `dev` over the fake kinds, up to and including a named pass.

use super::{Compilation, CompileOptions, PASSES};
use crate::diag::Diagnostics;
use crate::source::SourceFile;
use crate::spec;

/// Runs `PASSES` up to and including `last` over `yaml`, then hands what they made to `check`.
pub(super) fn after<R>(yaml: &str, last: &str, check: impl FnOnce(&Compilation<'_>) -> R) -> R {
    let file = SourceFile::new("stack.yaml", yaml);
    let root = crate::yaml::parse(&file.text).expect("fixture is YAML");
    let mut diags = Diagnostics::default();
    let spec = spec::read_stack(&root, &mut diags).expect("fixture names its stack");
    assert!(!diags.has_errors(), "fixture does not read: {diags:?}");
    let registry = crate::testkit::FakeCloud::new().registry();
    let opts = CompileOptions { env: "dev".into(), ..CompileOptions::default() };
    let mut c = Compilation::new(&spec, &file, &opts, &registry, &mut diags);
    let last = PASSES.iter().position(|p| p.name == last).unwrap_or_else(|| panic!("no pass named `{last}`"));
    for pass in &PASSES[..=last] {
        (pass.run)(&mut c);
    }
    check(&c)
}

/// The diagnostics so far as `line:col code: message`, sorted as compile reports them.
pub(super) fn diagnostics(c: &Compilation<'_>) -> Vec<String> {
    c.diags.clone().sorted().0.iter().map(|d| format!("{}:{} {}: {}", d.span.map_or(0, |s| s.line), d.span.map_or(0, |s| s.col), d.code, d.message)).collect()
}
