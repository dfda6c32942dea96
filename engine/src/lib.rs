//! cairn's engine: stack language, compiler, planner and applier, independent of any cloud SDK or storage.

pub mod provider;
pub mod state;
