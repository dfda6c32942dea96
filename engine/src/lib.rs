//! cairn's engine: stack language, compiler, planner and applier, independent of any cloud SDK or storage.

pub mod apply;
pub mod compile;
pub mod component;
pub mod diag;
pub mod diff;
pub mod expr;
pub mod grants;
pub mod graph;
pub mod iam_policy;
pub mod lease;
pub mod names;
pub mod pipeline;
pub mod plan;
pub mod policy_lint;
pub mod provider;
pub mod refresh;
pub mod schema_json;
pub mod source;
pub mod spec;
pub mod state;
pub mod structdiff;
pub mod testkit;
pub mod tfimport;
pub mod typecheck;
pub mod wiring;
pub mod yaml;
