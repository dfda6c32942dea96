//! The `${...}` expression language: parsing, partial evaluation, and the markers for values known only after apply.
//!
//! A string in a stack file may hold `${...}` segments. Evaluation is partial: a
//! scope answers what it knows (vars at compile time, attributes of existing
//! resources at plan time, everything at apply time) and whatever it cannot answer
//! stays as a residual expression. A residual is stored in JSON as
//! `{"$unknown": <expr>}` so plans stay plain, serialisable data.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The key of the JSON object that marks a value not known until apply.
pub const UNKNOWN_KEY: &str = "$unknown";

/// How deeply calls and indexes may nest inside one `${...}`; the parser and evaluator
/// recurse, so this bounds their stack use on hostile input.
pub const MAX_NESTING: usize = 64;

/// The longest string a function or interpolation may produce. Far above any AWS document
/// limit, and it stops nested `replace(...)` calls from multiplying a string into gigabytes.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// One step of a reference path: `a.b[0]["k"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seg {
    Name(String),
    Index(i64),
    Key(String),
}

impl fmt::Display for Seg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seg::Name(n) => write!(f, "{n}"),
            Seg::Index(i) => write!(f, "[{i}]"),
            Seg::Key(k) => write!(f, "[\"{k}\"]"),
        }
    }
}

/// Renders a path as it is written: `a.b[0]`.
pub fn path_text(path: &[Seg]) -> String {
    let mut out = String::new();
    for (i, s) in path.iter().enumerate() {
        if i > 0 && matches!(s, Seg::Name(_)) {
            out.push('.');
        }
        out.push_str(&s.to_string());
    }
    out
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// A value already known.
    Lit(Value),
    Ref(Vec<Seg>),
    Call(String, Vec<Expr>),
    /// String interpolation: the parts are concatenated.
    Concat(Vec<Expr>),
}

/// A parse or evaluation error, with the byte range inside the string it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub message: String,
    pub offset: usize,
    pub len: usize,
    pub code: &'static str,
    pub help: Option<String>,
}

impl ExprError {
    fn new(code: &'static str, message: impl Into<String>, offset: usize, len: usize) -> ExprError {
        ExprError { message: message.into(), offset, len, code, help: None }
    }
}

/// A reference found in a template, with where it sits in the string.
#[derive(Debug, Clone, PartialEq)]
pub struct RefSite {
    pub path: Vec<Seg>,
    pub offset: usize,
    pub len: usize,
}

/// A parsed template string plus the location of every reference in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub expr: Expr,
    pub refs: Vec<RefSite>,
}

/// Parses a string that may contain `${...}`. `$${` is a literal `${`.
/// An error's range always lies inside `src` (at its end for an unexpected end).
pub fn parse_template(src: &str) -> Result<Template, ExprError> {
    // Most strings in a stack are plain text: no need to walk them char by char.
    if !src.contains("${") {
        return Ok(Template { expr: Expr::Lit(Value::String(src.to_string())), refs: vec![] });
    }
    parse_parts(src).map_err(|mut e| {
        e.offset = e.offset.min(src.len());
        e.len = e.len.min(src.len() - e.offset);
        // A one-byte range at a multibyte char widens to the whole char.
        while !src.is_char_boundary(e.offset + e.len) {
            e.len += 1;
        }
        e
    })
}

fn parse_parts(src: &str) -> Result<Template, ExprError> {
    let mut parts: Vec<Expr> = vec![];
    let mut refs = vec![];
    let mut lit = String::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = src.get(i..).unwrap_or("");
        if rest.starts_with("$${") {
            lit.push_str("${");
            i += 3;
        } else if rest.starts_with("${") {
            let start = i;
            let mut p = ExprParser { src, pos: i + 2, refs: &mut refs, depth: 0 };
            p.skip_ws();
            let e = p.expr()?;
            p.skip_ws();
            if !p.eat('}') {
                return Err(ExprError::new("expression", "expected `}` to close `${`", start, p.pos.saturating_sub(start).max(2)));
            }
            if !lit.is_empty() {
                parts.push(Expr::Lit(Value::String(std::mem::take(&mut lit))));
            }
            parts.push(e);
            i = p.pos;
        } else {
            let Some(c) = rest.chars().next() else { break };
            lit.push(c);
            i += c.len_utf8();
        }
    }
    if !lit.is_empty() || parts.is_empty() {
        parts.push(Expr::Lit(Value::String(lit)));
    }
    let expr = if parts.len() == 1 { parts.pop().unwrap_or(Expr::Lit(Value::Null)) } else { Expr::Concat(parts) };
    Ok(Template { expr, refs })
}

/// A recursive-descent parser over `src`; `pos` is a byte offset and always sits on a char boundary.
struct ExprParser<'a, 'r> {
    src: &'a str,
    pos: usize,
    refs: &'r mut Vec<RefSite>,
    depth: usize,
}

impl ExprParser<'_, '_> {
    fn peek(&self) -> Option<char> {
        self.src.get(self.pos..)?.chars().next()
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }
    fn skip_ws(&mut self) {
        // Unicode whitespace such as a non-breaking space is more than one byte.
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }
    fn ident(&mut self) -> Option<String> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            self.pos += 1;
        }
        self.src.get(start..self.pos).filter(|s| !s.is_empty()).map(str::to_string)
    }
    fn err(&self, msg: &str) -> ExprError {
        ExprError::new("expression", msg, self.pos, 1)
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        if self.depth >= MAX_NESTING {
            return Err(self.err(&format!("expression nests more than {MAX_NESTING} levels deep")));
        }
        self.depth += 1;
        let result = self.expr_inner();
        self.depth -= 1;
        result
    }

    fn expr_inner(&mut self) -> Result<Expr, ExprError> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some('"') => self.string(),
            Some(c) if c.is_ascii_digit() || c == '-' => self.number(),
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let name = self.ident().ok_or_else(|| self.err("expected a name"))?;
                self.skip_ws();
                if self.eat('(') {
                    let mut args = vec![];
                    self.skip_ws();
                    if !self.eat(')') {
                        loop {
                            args.push(self.expr()?);
                            self.skip_ws();
                            if self.eat(')') {
                                break;
                            }
                            if !self.eat(',') {
                                return Err(self.err("expected `,` or `)` in the argument list"));
                            }
                        }
                    }
                    return Ok(Expr::Call(name, args));
                }
                self.pos = start + name.len();
                let mut path = vec![Seg::Name(name)];
                loop {
                    if self.eat('.') {
                        let n = self.ident().ok_or_else(|| self.err("expected a name after `.`"))?;
                        path.push(Seg::Name(n));
                    } else if self.eat('[') {
                        self.skip_ws();
                        let seg = match self.expr()? {
                            Expr::Lit(Value::Number(n)) => Seg::Index(n.as_i64().ok_or_else(|| self.err("an index must be a whole number"))?),
                            Expr::Lit(Value::String(s)) => Seg::Key(s),
                            _ => return Err(self.err("an index must be a number or a quoted key")),
                        };
                        self.skip_ws();
                        if !self.eat(']') {
                            return Err(self.err("expected `]`"));
                        }
                        path.push(seg);
                    } else {
                        break;
                    }
                }
                self.refs.push(RefSite { path: path.clone(), offset: start, len: self.pos - start });
                Ok(Expr::Ref(path))
            }
            _ => Err(self.err("expected a reference, a function call, a number or a quoted string")),
        }
    }

    fn string(&mut self) -> Result<Expr, ExprError> {
        let start = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err(ExprError::new("expression", "unterminated string", start, self.pos - start)),
                Some('"') => {
                    self.pos += 1;
                    return Ok(Expr::Lit(Value::String(s)));
                }
                Some('\\') => {
                    self.pos += 1;
                    let c = self.peek().ok_or_else(|| self.err("unterminated escape"))?;
                    s.push(match c {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                    self.pos += c.len_utf8();
                }
                Some(c) => {
                    s.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    fn number(&mut self) -> Result<Expr, ExprError> {
        let start = self.pos;
        self.eat('-');
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.src
            .get(start..self.pos)
            .unwrap_or("")
            .parse::<i64>()
            .map(|n| Expr::Lit(Value::from(n)))
            .map_err(|_| ExprError::new("expression", "invalid number", start, self.pos - start))
    }
}

/// What a scope says about a reference.
pub enum Lookup {
    Known(Value),
    /// Not known yet: leave the reference in place.
    Later,
}

/// Answers references during evaluation.
pub trait Scope {
    fn lookup(&self, path: &[Seg]) -> Result<Lookup, String>;
}

/// Evaluates what can be evaluated; the result is `Expr::Lit` when fully known.
pub fn partial_eval(e: &Expr, scope: &dyn Scope) -> Result<Expr, String> {
    match e {
        Expr::Lit(_) => Ok(e.clone()),
        Expr::Ref(path) => match scope.lookup(path)? {
            Lookup::Known(v) => Ok(Expr::Lit(v)),
            Lookup::Later => Ok(e.clone()),
        },
        Expr::Call(name, args) => {
            let args = args.iter().map(|a| partial_eval(a, scope)).collect::<Result<Vec<_>, _>>()?;
            if args.iter().all(|a| matches!(a, Expr::Lit(_))) {
                let values: Vec<Value> = args.into_iter().map(|a| if let Expr::Lit(v) = a { v } else { Value::Null }).collect();
                call(name, &values).map(Expr::Lit)
            } else {
                check_arity(name, args.len())?;
                Ok(Expr::Call(name.clone(), args))
            }
        }
        Expr::Concat(parts) => {
            let parts = parts.iter().map(|p| partial_eval(p, scope)).collect::<Result<Vec<_>, _>>()?;
            if parts.iter().all(|a| matches!(a, Expr::Lit(_))) {
                let mut s = String::new();
                for p in &parts {
                    if let Expr::Lit(v) = p {
                        s.push_str(&to_text(v)?);
                    }
                    if s.len() > MAX_TEXT_BYTES {
                        return Err(too_long("this string"));
                    }
                }
                Ok(Expr::Lit(Value::String(s)))
            } else {
                Ok(Expr::Concat(parts))
            }
        }
    }
}

/// The text of a scalar when interpolated into a string.
fn to_text(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        Value::Array(_) | Value::Object(_) => Err("a list or map cannot be interpolated into a string; use join() or reference a single element".into()),
    }
}

const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("cidrsubnet", 3, 3),
    ("join", 2, 2),
    ("format", 1, usize::MAX),
    ("lookup", 2, 3),
    ("lower", 1, 1),
    ("upper", 1, 1),
    ("length", 1, 1),
    ("replace", 3, 3),
    ("jsondecode", 1, 1),
    ("jsonencode", 1, 1),
];

fn check_arity(name: &str, n: usize) -> Result<(), String> {
    match FUNCTIONS.iter().find(|(f, _, _)| *f == name) {
        None => Err(format!("unknown function `{name}`; available: {}", FUNCTIONS.iter().map(|f| f.0).collect::<Vec<_>>().join(", "))),
        Some((_, min, max)) if n < *min || n > *max => {
            Err(if min == max { format!("{name}() takes {min} arguments, got {n}") } else { format!("{name}() takes at least {min} arguments, got {n}") })
        }
        Some(_) => Ok(()),
    }
}

fn too_long(what: &str) -> String {
    format!("{what} would be longer than {} MiB; cairn refuses strings that large", MAX_TEXT_BYTES >> 20)
}

/// Calls a function and refuses a result larger than `MAX_TEXT_BYTES`.
fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    let value = call_unbounded(name, args)?;
    match &value {
        Value::String(s) if s.len() > MAX_TEXT_BYTES => Err(too_long(&format!("the result of {name}()"))),
        _ => Ok(value),
    }
}

fn call_unbounded(name: &str, args: &[Value]) -> Result<Value, String> {
    check_arity(name, args.len())?;
    let str_arg = |i: usize| -> Result<&str, String> { args[i].as_str().ok_or_else(|| format!("{name}(): argument {} must be a string", i + 1)) };
    let int_arg = |i: usize| -> Result<i64, String> {
        match &args[i] {
            Value::Number(n) => n.as_i64().ok_or_else(|| format!("{name}(): argument {} must be a whole number", i + 1)),
            Value::String(s) => s.parse().map_err(|_| format!("{name}(): argument {} must be a whole number, got \"{s}\"", i + 1)),
            _ => Err(format!("{name}(): argument {} must be a whole number", i + 1)),
        }
    };
    match name {
        "cidrsubnet" => cidrsubnet(str_arg(0)?, int_arg(1)?, int_arg(2)?).map(Value::String),
        "join" => {
            let list = args[1].as_array().ok_or("join(): the second argument must be a list")?;
            let items = list.iter().map(to_text).collect::<Result<Vec<_>, _>>()?;
            Ok(Value::String(items.join(str_arg(0)?)))
        }
        "format" => format_fn(str_arg(0)?, &args[1..]).map(Value::String),
        "lookup" => {
            let map = args[0].as_object().ok_or("lookup(): the first argument must be a map")?;
            let key = str_arg(1)?;
            match (map.get(key), args.get(2)) {
                (Some(v), _) => Ok(v.clone()),
                (None, Some(default)) => Ok(default.clone()),
                (None, None) => Err(format!("lookup(): no key \"{key}\" in the map and no default given")),
            }
        }
        "replace" => {
            let (text, from, to) = (str_arg(0)?, str_arg(1)?, str_arg(2)?);
            // Sized before building: an empty `from` inserts `to` between every character.
            let hits = if from.is_empty() { text.chars().count() + 1 } else { text.matches(from).count() };
            let len = (text.len() - hits * from.len()).saturating_add(hits.saturating_mul(to.len()));
            if len > MAX_TEXT_BYTES {
                return Err(too_long("the result of replace()"));
            }
            Ok(Value::String(text.replace(from, to)))
        }
        "jsondecode" => serde_json::from_str(str_arg(0)?).map_err(|e| format!("jsondecode(): not valid JSON: {e}")),
        "jsonencode" => Ok(Value::String(args[0].to_string())),
        "lower" => Ok(Value::String(str_arg(0)?.to_lowercase())),
        "upper" => Ok(Value::String(str_arg(0)?.to_uppercase())),
        "length" => match &args[0] {
            Value::Array(a) => Ok(Value::from(a.len())),
            Value::Object(m) => Ok(Value::from(m.len())),
            Value::String(s) => Ok(Value::from(s.chars().count())),
            _ => Err("length(): argument must be a list, map or string".into()),
        },
        _ => Err(format!("unknown function `{name}`")),
    }
}

/// `cidrsubnet("10.0.0.0/16", 8, 2)` = `"10.0.2.0/24"`, as in Terraform.
pub fn cidrsubnet(prefix: &str, newbits: i64, netnum: i64) -> Result<String, String> {
    let (addr, len) = prefix.split_once('/').ok_or_else(|| format!("cidrsubnet(): \"{prefix}\" is not a CIDR block"))?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| format!("cidrsubnet(): \"{addr}\" is not an IPv4 address"))?;
    let len: i64 = len.parse().map_err(|_| format!("cidrsubnet(): \"{prefix}\" has an invalid prefix length"))?;
    if !(0..=32).contains(&len) || newbits < 0 || len + newbits > 32 {
        return Err(format!("cidrsubnet(): cannot add {newbits} bits to a /{len} prefix (max /32)"));
    }
    if netnum < 0 || netnum >= (1i64 << newbits) {
        return Err(format!("cidrsubnet(): network number {netnum} does not fit in {newbits} bits"));
    }
    let base = u32::from(addr) as u64;
    let new_len = len + newbits;
    let mask: u64 = if len == 0 { 0 } else { (u32::MAX as u64) << (32 - len) & u32::MAX as u64 };
    let net = (base & mask) | ((netnum as u64) << (32 - new_len));
    Ok(format!("{}/{}", Ipv4Addr::from(net as u32), new_len))
}

fn format_fn(fmt: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('s') | Some('d') | Some('v') => {
                let v = it.next().ok_or("format(): more % verbs than arguments")?;
                out.push_str(&to_text(v)?);
            }
            other => return Err(format!("format(): unsupported verb %{}", other.map(String::from).unwrap_or_default())),
        }
    }
    if it.next().is_some() {
        return Err("format(): more arguments than % verbs".into());
    }
    Ok(out)
}

/// Wraps a residual expression as the JSON marker for "known after apply".
pub fn unknown(e: &Expr) -> Value {
    single(UNKNOWN_KEY, expr_value(e))
}

/// `{key: v}`, sized for its one entry.
fn single(key: &str, v: Value) -> Value {
    let mut m = serde_json::Map::with_capacity(1);
    m.insert(key.to_string(), v);
    Value::Object(m)
}

/// An expression as `serde_json::to_value` writes it (externally tagged, snake case), built
/// directly: going through the serializer grew each mapping key by key and cost a copy to
/// trim, on every reference of every resource.
fn expr_value(e: &Expr) -> Value {
    match e {
        Expr::Lit(v) => single("lit", copy(v)),
        Expr::Ref(path) => single(
            "ref",
            Value::Array(
                path.iter()
                    .map(|s| match s {
                        Seg::Name(n) => single("name", Value::String(n.clone())),
                        Seg::Index(i) => single("index", Value::from(*i)),
                        Seg::Key(k) => single("key", Value::String(k.clone())),
                    })
                    .collect(),
            ),
        ),
        Expr::Call(name, args) => single("call", Value::Array(vec![Value::String(name.clone()), Value::Array(args.iter().map(expr_value).collect())])),
        Expr::Concat(parts) => single("concat", Value::Array(parts.iter().map(expr_value).collect())),
    }
}

/// A deep copy of a value whose mappings hold room for exactly their entries.
///
/// `Value::clone` keeps the spare room of every mapping it copies; with serde_json's
/// `preserve_order` (which the workspace turns on) a mapping of one key keeps room for three,
/// and an unknown marker is four such mappings. Plans copy every property at least twice (the
/// desired value and the change), so at 10k resources the spare room was tens of megabytes.
pub fn copy(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::with_capacity(m.len());
            for (k, x) in m {
                out.insert(k.clone(), copy(x));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(copy).collect()),
        other => other.clone(),
    }
}

/// A value rebuilt with mappings that hold room for exactly their entries (see [`copy`]):
/// for values that serde built key by key, which leaves room to grow.
pub fn compact(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::with_capacity(m.len());
            for (k, x) in m {
                out.insert(k, compact(x));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(compact).collect()),
        other => other,
    }
}

/// The residual expression inside an unknown marker.
pub fn as_unknown(v: &Value) -> Option<Expr> {
    let m = v.as_object()?;
    if m.len() != 1 {
        return None;
    }
    // Read from the value in place: cloning the marker first cost a copy per look.
    Expr::deserialize(m.get(UNKNOWN_KEY)?).ok()
}

/// Whether a value contains an unknown anywhere inside it.
pub fn contains_unknown(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.contains_key(UNKNOWN_KEY) || m.values().any(contains_unknown),
        Value::Array(a) => a.iter().any(contains_unknown),
        _ => false,
    }
}

/// Re-evaluates every unknown marker inside a value against a scope.
/// Markers the scope still cannot answer stay markers.
pub fn resolve(v: &Value, scope: &dyn Scope) -> Result<Value, String> {
    // A value without markers is itself: one copy instead of rebuilding it node by node.
    if !contains_unknown(v) {
        return Ok(copy(v));
    }
    if let Some(e) = as_unknown(v) {
        return Ok(match partial_eval(&e, scope)? {
            Expr::Lit(v) => v,
            residual => unknown(&residual),
        });
    }
    Ok(match v {
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve(x, scope)).collect::<Result<_, _>>()?),
        Value::Object(m) => {
            let mut out = serde_json::Map::with_capacity(m.len());
            for (k, x) in m {
                out.insert(k.clone(), resolve(x, scope)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Every reference path inside the markers of a value (used to find dependencies).
pub fn refs_in(v: &Value, out: &mut Vec<Vec<Seg>>) {
    if let Some(e) = as_unknown(v) {
        expr_refs(&e, out);
        return;
    }
    match v {
        Value::Array(a) => a.iter().for_each(|x| refs_in(x, out)),
        Value::Object(m) => m.values().for_each(|x| refs_in(x, out)),
        _ => {}
    }
}

fn expr_refs(e: &Expr, out: &mut Vec<Vec<Seg>>) {
    match e {
        Expr::Lit(_) => {}
        Expr::Ref(p) => out.push(p.clone()),
        Expr::Call(_, args) | Expr::Concat(args) => args.iter().for_each(|a| expr_refs(a, out)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Vars(HashMap<&'static str, Value>);
    impl Scope for Vars {
        fn lookup(&self, path: &[Seg]) -> Result<Lookup, String> {
            match path {
                [Seg::Name(v), Seg::Name(n)] if v == "var" => self.0.get(n.as_str()).cloned().map(Lookup::Known).ok_or(format!("no var {n}")),
                _ => Ok(Lookup::Later),
            }
        }
    }

    fn eval(src: &str) -> Result<Expr, String> {
        let vars = Vars(HashMap::from([("cidr", Value::from("10.0.0.0/16")), ("n", Value::from(3)), ("azs", serde_json::json!(["a", "b"]))]));
        partial_eval(&parse_template(src).map_err(|e| e.message)?.expr, &vars)
    }

    #[test]
    fn plain_strings_are_literals() {
        assert_eq!(eval("hello").unwrap(), Expr::Lit(Value::from("hello")));
        assert_eq!(eval("cost $${x}").unwrap(), Expr::Lit(Value::from("cost ${x}")));
    }

    #[test]
    fn whole_expression_keeps_its_type() {
        assert_eq!(eval("${var.n}").unwrap(), Expr::Lit(Value::from(3)));
        assert_eq!(eval("${var.azs}").unwrap(), Expr::Lit(serde_json::json!(["a", "b"])));
        assert_eq!(eval("n=${var.n}").unwrap(), Expr::Lit(Value::from("n=3")));
    }

    #[test]
    fn functions() {
        assert_eq!(eval("${cidrsubnet(var.cidr, 8, 2)}").unwrap(), Expr::Lit(Value::from("10.0.2.0/24")));
        assert_eq!(eval("${join(\"-\", var.azs)}").unwrap(), Expr::Lit(Value::from("a-b")));
        assert_eq!(eval("${format(\"%s-%d\", \"x\", var.n)}").unwrap(), Expr::Lit(Value::from("x-3")));
        assert!(eval("${nope(1)}").unwrap_err().contains("unknown function"));
        assert!(eval("${cidrsubnet(var.cidr, 8, 300)}").unwrap_err().contains("does not fit"));
    }

    #[test]
    fn cidrsubnet_matches_terraform() {
        assert_eq!(cidrsubnet("10.1.0.0/16", 4, 15).unwrap(), "10.1.240.0/20");
        assert_eq!(cidrsubnet("172.16.0.0/12", 4, 2).unwrap(), "172.18.0.0/16");
        assert_eq!(cidrsubnet("10.0.0.0/8", 0, 0).unwrap(), "10.0.0.0/8");
    }

    #[test]
    fn unknown_references_stay_residual_and_resolve_later() {
        let e = eval("${queue.arn}/x").unwrap();
        assert!(matches!(e, Expr::Concat(_)));
        let marker = unknown(&e);
        assert!(contains_unknown(&marker));
        struct Later;
        impl Scope for Later {
            fn lookup(&self, _: &[Seg]) -> Result<Lookup, String> {
                Ok(Lookup::Known(Value::from("arn:q")))
            }
        }
        assert_eq!(resolve(&marker, &Later).unwrap(), Value::from("arn:q/x"));
    }

    #[test]
    fn markers_are_built_as_serde_writes_them() {
        let exprs = [
            Expr::Lit(serde_json::json!({ "a": [1, "x", null, { "b": true }], "c": 2.5 })),
            Expr::Ref(vec![Seg::Name("q".into()), Seg::Index(3), Seg::Key("k".into()), Seg::Name("arn".into())]),
            Expr::Call("format".into(), vec![Expr::Lit(Value::from("%s-%s")), Expr::Ref(vec![Seg::Name("var".into()), Seg::Name("n".into())])]),
            Expr::Concat(vec![Expr::Lit(Value::from("arn:")), Expr::Call("upper".into(), vec![]), Expr::Ref(vec![Seg::Name("account_id".into())])]),
        ];
        for e in exprs {
            let via_serde = serde_json::json!({ UNKNOWN_KEY: serde_json::to_value(&e).expect("serializes") });
            assert_eq!(unknown(&e), via_serde, "{e:?}");
            assert_eq!(serde_json::to_string(&unknown(&e)).ok(), serde_json::to_string(&via_serde).ok());
            assert_eq!(as_unknown(&unknown(&e)), Some(e));
        }
    }

    #[test]
    fn parse_errors_have_offsets() {
        let e = parse_template("abc ${foo").unwrap_err();
        assert_eq!(e.offset, 4);
        let e = parse_template("${a.}").unwrap_err();
        assert!(e.message.contains("after `.`"));
    }

    #[test]
    fn reference_sites_are_recorded() {
        let t = parse_template("x ${a.b[0].arn} ${c.d}").unwrap();
        assert_eq!(t.refs.len(), 2);
        assert_eq!(t.refs[0].offset, 4);
        assert_eq!(path_text(&t.refs[0].path), "a.b[0].arn");
    }
}
