//! One module per group of CLI commands.

pub mod import_tf;
pub mod offline;
pub mod run;
pub mod state;
