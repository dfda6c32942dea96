//! Test doubles for the engine: an in-memory state store, a fake cloud with fake resource kinds, and a harness that runs stacks against them.
//!
//! Always compiled (not `cfg(test)`) so integration tests and benchmarks in other
//! crates can use it. Nothing here talks to a real cloud or disk.

mod cloud;
mod harness;
mod kinds;
mod memory_store;

pub use cloud::{Call, Crash, FakeCloud, FakeResource};
pub use harness::{EventLog, Harness, Planned, LINEAGE};
pub use kinds::{GRANT, KEY, QUEUE};
pub use memory_store::{JournalRow, JournalStatus, MemoryStore};
