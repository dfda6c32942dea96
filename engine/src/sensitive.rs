//! Secret values that never enter a plan, a plan file, state or a log: `value_from` names an environment variable or a file, and only a keyed hash of the value (`value_hmac`) is kept.
//!
//! The compiler's `sensitive` pass reads each `value_from` at validate, refuses a missing
//! variable or an unreadable file at the property (naming what to set, never the value), and
//! adds `value_hmac`: HMAC-SHA256 of the value under a key derived from stack, env and address,
//! so one value in two places does not hash alike. Kinds store that hash where their `read`
//! finds it (the [`HMAC_TAG`] tag), so a changed value is an ordinary in-place update of
//! `value_hmac`. At apply the kind reads the value again ([`resolve`]) and refuses it when it no
//! longer matches the plan. The hash key is not secret: a weak value can be guessed offline from
//! its hash, so state must stay protected as before.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::diag::{Diagnostic, Diagnostics};
use crate::expr;
use crate::graph::ResourceNode;
use crate::provider::{Owner, Props};

/// The property naming where the value comes from: `{ env: NAME }` or `{ file: PATH }`.
pub const SOURCE_PROP: &str = "value_from";
/// The property holding the keyed hash of the value, computed by cairn.
pub const HMAC_PROP: &str = "value_hmac";
/// The tag kinds keep the hash in, so `read` can tell whether the value changed.
pub const HMAC_TAG: &str = "cairn:value-hmac";
/// What a plan shows instead of the value.
pub const REDACTED: &str = "(sensitive)";

/// A secret value. It has no `Display`, and its `Debug` shows only that it is hidden.
pub struct SecretValue(String);

impl SecretValue {
    /// The value itself, for the one request that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Where a value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Env(String),
    File(PathBuf),
}

impl Source {
    /// Reads `value_from`'s shape: exactly one of `env` and `file`, a non-empty string.
    pub fn parse(v: &Value) -> Result<Source, String> {
        let map = v.as_object().ok_or("`value_from` must be a mapping: `{ env: NAME }` or `{ file: PATH }`")?;
        let text = |k: &str| map.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        if let Some(k) = map.keys().find(|k| *k != "env" && *k != "file") {
            return Err(format!("`value_from` has no key `{k}`; write `{{ env: NAME }}` or `{{ file: PATH }}`"));
        }
        match (text("env"), text("file")) {
            (Some(name), None) => Ok(Source::Env(name.to_string())),
            (None, Some(path)) => Ok(Source::File(PathBuf::from(path))),
            (Some(_), Some(_)) => Err("`value_from` takes one of `env` and `file`, not both".into()),
            (None, None) => Err("`value_from` needs `env: NAME` or `file: PATH` (a non-empty string)".into()),
        }
    }

    /// Reads the value. Errors say what to set or fix and never contain the value.
    pub fn read(&self) -> Result<SecretValue, String> {
        let value = match self {
            Source::Env(name) => match std::env::var(name) {
                Ok(v) => v,
                Err(std::env::VarError::NotPresent) => return Err(format!("environment variable `{name}` is not set: export it before running cairn")),
                Err(std::env::VarError::NotUnicode(_)) => return Err(format!("environment variable `{name}` is not valid UTF-8")),
            },
            Source::File(path) => match std::fs::read(path) {
                Ok(bytes) => String::from_utf8(bytes).map_err(|_| format!("file `{}` is not valid UTF-8 text", path.display()))?,
                Err(e) => return Err(format!("cannot read file `{}`: {}", path.display(), e.kind())),
            },
        };
        if value.is_empty() {
            return Err(match self {
                Source::Env(name) => format!("environment variable `{name}` is empty: set it to the value"),
                Source::File(path) => format!("file `{}` is empty: write the value into it", path.display()),
            });
        }
        Ok(SecretValue(value))
    }
}

/// `value_hmac` for `value` at `owner`: `hmac-sha256:` and 64 hex digits. The key is derived
/// from stack, env and address, so equal values in two places differ.
pub fn hmac(owner: &Owner, value: &SecretValue) -> String {
    let key = Sha256::new()
        .chain_update(b"cairn value-hmac v1\0")
        .chain_update(owner.stack.as_bytes())
        .chain_update(b"\0")
        .chain_update(owner.env.as_bytes())
        .chain_update(b"\0")
        .chain_update(owner.address.as_bytes())
        .finalize();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(value.expose().as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("hmac-sha256:{hex}")
}

/// The value a kind sends at apply: read from `value_from` again and checked against the
/// planned `value_hmac`. `Ok(None)` when the props have no `value_from`.
pub fn resolve(props: &Props, owner: &Owner) -> Result<Option<SecretValue>, String> {
    let Some(from) = props.get(SOURCE_PROP).filter(|v| !v.is_null()) else { return Ok(None) };
    let source = Source::parse(from)?;
    let value = source.read()?;
    let planned = props.get(HMAC_PROP).and_then(Value::as_str);
    let now = hmac(owner, &value);
    if planned != Some(now.as_str()) {
        let what = match &source {
            Source::Env(name) => format!("environment variable `{name}`"),
            Source::File(path) => format!("file `{}`", path.display()),
        };
        return Err(format!("the value in {what} is not the one planned (it changed since the plan was made): plan again"));
    }
    Ok(Some(value))
}

/// The `sensitive` compile pass: reads every `value_from`, refuses what cannot be read at the
/// property, and adds `value_hmac`. A relative `file` is taken from the stack file's directory.
pub fn seal(nodes: &mut BTreeMap<String, ResourceNode>, stack_file: &str, diags: &mut Diagnostics) {
    let base = Path::new(stack_file).parent().filter(|p| !p.as_os_str().is_empty());
    for node in nodes.values_mut() {
        let span = node.prop_spans.get(HMAC_PROP).or_else(|| node.prop_spans.get(SOURCE_PROP)).copied().unwrap_or(node.span);
        if node.props.contains_key(HMAC_PROP) {
            diags.push(
                Diagnostic::error("sensitive", format!("`{}`: `{HMAC_PROP}` is computed by cairn and cannot be set", node.address), span)
                    .help(format!("remove `{HMAC_PROP}`; set `{SOURCE_PROP}: {{ env: NAME }}` or `{{ file: PATH }}`")),
            );
            node.props.remove(HMAC_PROP);
            continue;
        }
        let Some(from) = node.props.get(SOURCE_PROP) else { continue };
        if expr::contains_unknown(from) {
            diags.push(
                Diagnostic::error(
                    "sensitive",
                    format!("`{}`: `{SOURCE_PROP}` must be known at validate, not another resource's attribute", node.address),
                    span,
                )
                .help("name an environment variable or a file directly, or through `${var.…}`"),
            );
            continue;
        }
        let mut source = match Source::parse(from) {
            Ok(s) => s,
            // The schema's check has said what is wrong with the shape.
            Err(_) => continue,
        };
        if let (Source::File(path), Some(base)) = (&mut source, base) {
            if path.is_relative() {
                *path = base.join(&*path);
                node.props.insert(SOURCE_PROP.into(), json!({"file": path.display().to_string()}));
            }
        }
        match source.read() {
            Ok(value) => {
                let h = hmac(&node.owner, &value);
                node.props.insert(HMAC_PROP.into(), Value::String(h));
            }
            Err(msg) => diags.push(
                Diagnostic::error("sensitive", format!("`{}`: {msg}", node.address), span)
                    .help("secret values are read when cairn runs and never written to the stack file, plans or state"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(address: &str) -> Owner {
        Owner { stack: "shop".into(), env: "dev".into(), address: address.into() }
    }

    #[test]
    fn the_hash_depends_on_place_and_value() {
        let v = SecretValue("hunter2".into());
        let a = hmac(&owner("db.password"), &v);
        assert!(a.starts_with("hmac-sha256:") && a.len() == 12 + 64, "{a}");
        assert_eq!(a, hmac(&owner("db.password"), &SecretValue("hunter2".into())));
        assert_ne!(a, hmac(&owner("api.token"), &v));
        assert_ne!(a, hmac(&owner("db.password"), &SecretValue("hunter3".into())));
        assert!(!a.contains("hunter2"));
        assert_eq!(format!("{v:?}"), REDACTED);
    }

    #[test]
    fn sources_take_one_of_env_and_file() {
        assert_eq!(Source::parse(&json!({"env": "X"})), Ok(Source::Env("X".into())));
        assert_eq!(Source::parse(&json!({"file": "a/b"})), Ok(Source::File("a/b".into())));
        assert!(Source::parse(&json!({"env": "X", "file": "y"})).unwrap_err().contains("not both"));
        assert!(Source::parse(&json!({})).is_err());
        assert!(Source::parse(&json!({"env": ""})).is_err());
        assert!(Source::parse(&json!({"vault": "x"})).unwrap_err().contains("no key `vault`"));
        assert!(Source::parse(&json!("X")).is_err());
    }

    #[test]
    fn read_errors_name_what_to_set_and_never_the_value() {
        let missing = Source::Env("CAIRN_TEST_SURELY_UNSET_VARIABLE".into()).read().unwrap_err();
        assert!(missing.contains("CAIRN_TEST_SURELY_UNSET_VARIABLE") && missing.contains("not set"), "{missing}");
        let nofile = Source::File("/nonexistent/cairn/secret".into()).read().unwrap_err();
        assert!(nofile.contains("/nonexistent/cairn/secret"), "{nofile}");

        let dir = std::env::temp_dir().join(format!("cairn-sensitive-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, "s3cr3t-value").unwrap();
        let source = Source::File(file.clone());
        let value = source.read().unwrap();
        assert_eq!(value.expose(), "s3cr3t-value");

        let mut props = Props::new();
        props.insert(SOURCE_PROP.into(), json!({"file": file.display().to_string()}));
        props.insert(HMAC_PROP.into(), json!(hmac(&owner("a"), &value)));
        assert_eq!(resolve(&props, &owner("a")).unwrap().unwrap().expose(), "s3cr3t-value");
        std::fs::write(&file, "another-value").unwrap();
        let changed = resolve(&props, &owner("a")).unwrap_err();
        assert!(changed.contains("plan again") && !changed.contains("another-value") && !changed.contains("s3cr3t"), "{changed}");
        std::fs::write(&file, "").unwrap();
        assert!(source.read().unwrap_err().contains("empty"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(resolve(&Props::new(), &owner("a")).unwrap().map(|v| v.0), None);
    }
}
