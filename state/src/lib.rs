//! cairn's local state backend: one SQLite file per (stack, env) implementing the engine's `StateStore`.
//!
//! The file holds the resource records, outputs, the operation journal, the run lock
//! and a history of snapshots. Every write is a short IMMEDIATE transaction with
//! `synchronous=FULL`, so what `StateStore` reports as committed survives a crash.

mod error;
mod lock;
mod schema;
mod store;
mod sys;

pub use error::Error;
pub use schema::SCHEMA_VERSION;
pub use store::{default_path, SqliteStore};
pub use sys::local_hostname;

#[cfg(test)]
mod tests;
