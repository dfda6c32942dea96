//! cairn's state backends, implementing the engine's `StateStore`.
//!
//! Locally, one SQLite file per (stack, env): it holds the resource records, outputs, the
//! operation journal, the run lock and a history of snapshots. Every write is a short
//! IMMEDIATE transaction with `synchronous=FULL`, so what `StateStore` reports as committed
//! survives a crash.
//!
//! For teams, [`S3Store`] keeps the same state in an S3 bucket, with conditional writes
//! standing in for transactions (see [`s3`]).

mod error;
mod lock;
pub mod s3;
mod schema;
mod store;
mod sys;

pub use aws_sdk_s3::Client as S3Client;
pub use error::Error;
pub use s3::{open_s3, s3_client, S3Location, S3Store};
pub use schema::SCHEMA_VERSION;
pub use store::{default_path, SqliteStore};
pub use sys::local_hostname;

#[cfg(test)]
mod tests;
