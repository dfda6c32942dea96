//! One module per group of CLI commands.

pub mod offline;
pub mod run;
pub mod state;
